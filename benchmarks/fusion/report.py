"""Quality targets, time-to-target and the results table (Markdown) from the runner's figures.

The target of a scene, unless given in dB: start + 0.9 x (best - start), where start is the held-out PSNR of
the base NeRF against the edited scene (before any edit) and best the highest final PSNR any schedule reached
on that scene in this run. "Reached" is the first measurement from which the PSNR stays at or above the
target to the end of the run (a schedule that touches the target once and falls back has not reached it);
its resolution is `eval_every` steps.
"""

from __future__ import annotations

import math
import os
import platform
from typing import Any

TARGET_FRACTION = 0.9


def machine_description() -> str:
    """CPU model and core count, e.g. "Intel(R) Xeon(R) ... (2 cores), Linux x86_64"."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} cores), {platform.system()} {platform.machine()}, no GPU used"


def scene_target(scene: dict[str, Any], target_psnr: float | None = None) -> float:
    if target_psnr is not None:
        return target_psnr
    start = scene["base"]["vs_edited"]["psnr"]
    best = max(result["final"]["psnr"] for result in scene["schedules"].values())
    return start + TARGET_FRACTION * (best - start)


def first_reaching(curve: list[dict[str, float]], target: float) -> dict[str, float] | None:
    """The first measured point after which the PSNR never drops below `target` (None if never)."""
    reached = None
    for point in reversed(curve):
        if point["psnr"] < target:
            break
        reached = point
    return reached


def add_targets(results: dict[str, Any], target_psnr: float | None = None) -> None:
    """Fill in each scene's `target_psnr` and each schedule's `to_target` (in place)."""
    for scene in results["scenes"].values():
        target = scene_target(scene, target_psnr)
        scene["target_psnr"] = target
        for result in scene["schedules"].values():
            point = first_reaching(result["curve"], target)
            result["to_target"] = (
                None if point is None else {key: point[key] for key in ("wall_s", "step", "editor_calls")}
            )


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def markdown_table(results: dict[str, Any]) -> str:
    """One row per scene and schedule: final held-out quality, and what it took to reach the target."""
    lines = [
        "| scene | schedule | start PSNR | final PSNR | final SSIM | target | time to target (s) "
        "| steps to target | editor calls to target | editor calls (total) | wall (s, total) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scene_name, scene in results["scenes"].items():
        start = scene["base"]["vs_edited"]["psnr"]
        for name, result in scene["schedules"].items():
            reached = result.get("to_target")
            lines.append(
                "| "
                + " | ".join(
                    [
                        scene_name,
                        name,
                        _fmt(start, 2),
                        _fmt(result["final"]["psnr"], 2),
                        _fmt(result["final"]["ssim"], 3),
                        _fmt(scene["target_psnr"], 2),
                        _fmt(reached and reached["wall_s"]) if reached else "not reached",
                        _fmt(reached and reached["step"]) if reached else "—",
                        _fmt(reached and reached["editor_calls"]) if reached else "—",
                        str(result["editor_calls"]),
                        _fmt(result["wall_s"]),
                    ]
                )
                + " |"
            )
    return "\n".join(lines)
