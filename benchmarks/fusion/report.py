"""Quality targets, what it took to reach them, and the results table (Markdown) from the runner's figures.

The target of a scene, unless given in dB: in2n-rolling's final held-out PSNR (the issue's bar: the same
quality for less work); without a rolling run, start + 0.9 x (best - start), where start is the base NeRF's
PSNR against the edited scene and best the highest final PSNR of the run. "Reached" is the first measurement
from which the PSNR stays at or above the target to the end of the run (a schedule that touches the target
once and falls back has not reached it); its resolution is `eval_every` steps.

The GPU estimate charges each schedule's counted work at per-unit costs: a UNet pass of InstructPix2Pix at
512² from the issue's figure (one 20-step edit, batch 3, 0.5-1 s on an H100: 37.5 ms a pass), a batched
pass in proportion to its rows once it fills the device (`GPU_FREE_ROWS`, an assumption: no GPU was
measured here), a VAE encode + decode per view and a NeRF step of the in2n tier.
"""

from __future__ import annotations

import math
import os
import platform
from typing import Any

from .seeds import SEED_KEY, difference_vs

TARGET_FRACTION = 0.9
REFERENCE_SCHEDULE = "rolling"
GPU_UNET_PASS_S = 0.0375
"""One UNet pass, batch 3 (one view's guidance rows), 512², H100 fp16: 0.75 s / 20 steps (a figure given
with the schedules benchmark's requirement, not measured here)."""
GPU_FREE_ROWS = 6
"""Rows a UNet pass takes at the cost of 3 (assumed: batch 3 leaves about half the device idle)."""
GPU_VAE_PER_VIEW_S = 0.03
"""Encode render and original, decode the edit, per view at 512² (assumed)."""
GPU_NERF_STEP_S = 0.02
"""One NeRF step of the in2n tier (nerfacto-sized, 4096 rays; assumed)."""


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
    if REFERENCE_SCHEDULE in scene["schedules"]:
        return scene["schedules"][REFERENCE_SCHEDULE]["final"]["psnr"]
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
            keys = ("wall_s", "step", "editor_calls", "views_edited", "unet_passes")
            result["to_target"] = None if point is None else {key: point.get(key) for key in keys}
            result["gpu_estimate_s"] = gpu_estimate(result)


def gpu_estimate(result: dict[str, Any]) -> float:
    """Seconds the counted work of a run would take on a GPU (see above)."""
    point = result["final"]
    calls = max(1, point.get("editor_calls", 0))
    rows = 3 * point.get("views_edited", 0) / calls
    pass_s = GPU_UNET_PASS_S * max(1.0, rows / GPU_FREE_ROWS)
    return (
        point.get("unet_passes", 0) * pass_s
        + point.get("views_edited", 0) * GPU_VAE_PER_VIEW_S
        + point["step"] * GPU_NERF_STEP_S
    )


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def markdown_table(results: dict[str, Any]) -> str:
    """One row per scene and schedule: final held-out quality (mean ± std over seeds), its difference from
    rolling's (± standard error), what it spent, and what it took to reach the target (rolling's final
    PSNR); "UNet passes vs rolling" is its passes to target over rolling's in total."""
    lines = [
        "| scene | schedule | final PSNR | vs rolling (dB) | final SSIM | target | NeRF steps to target "
        "| editor calls / views / UNet passes to target | UNet passes vs rolling "
        "| editor calls / views / UNet passes (total) | CPU wall (s) | GPU estimate (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scene_name, scene in results["scenes"].items():
        reference = scene["schedules"].get(REFERENCE_SCHEDULE)
        for name, result in scene["schedules"].items():
            reached, final = result.get("to_target"), result["final"]
            ratio = "—"
            if reached and reference and reference["final"].get("unet_passes"):
                ratio = f"{reached['unet_passes'] / reference['final']['unet_passes']:.2f}"
            cells = [
                scene_name,
                name,
                _psnr_cell(result),
                _difference_cell(result, reference) if reference and name != REFERENCE_SCHEDULE else "—",
                _fmt(final["ssim"], 3),
                _fmt(scene["target_psnr"], 2),
                _fmt(reached["step"]) if reached else "not reached",
                _counts(reached) if reached else "—",
                ratio,
                _counts(final),
                _fmt(result["wall_s"]),
                _fmt(result.get("gpu_estimate_s")),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _psnr_cell(result: dict[str, Any]) -> str:
    spread = result.get(SEED_KEY)
    cell = _fmt(result["final"]["psnr"], 2)
    return f"{cell} ± {spread['final_psnr_std']:.2f}" if spread and len(spread["seeds"]) > 1 else cell


def _difference_cell(result: dict[str, Any], reference: dict[str, Any]) -> str:
    delta, error = difference_vs(result, reference)
    return f"{delta:+.2f} ± {error:.2f}" if error else f"{delta:+.2f}"


def _counts(point: dict[str, Any]) -> str:
    return " / ".join(_count(point.get(key)) for key in ("editor_calls", "views_edited", "unet_passes"))


def _count(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
