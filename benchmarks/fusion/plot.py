"""The benchmark's PNG: held-out PSNR per schedule over NeRF steps, view edits, UNet passes, wall time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from .schedules import SCHEDULE_NAMES  # noqa: E402
from .seeds import SEED_KEY  # noqa: E402

AXES = (
    ("step", "NeRF steps (edit phase)"),
    ("views_edited", "view edits"),
    ("unet_passes", "UNet passes"),
    ("wall_s", "wall time (s, this CPU)"),
)
PALETTE = [f"tab:{name}" for name in ("blue", "orange", "green", "red", "purple", "brown", "pink", "olive")]
PALETTE += ["tab:cyan", "tab:gray", "gold", "navy", "lime", "teal"]
COLORS = dict(zip(SCHEDULE_NAMES, PALETTE, strict=False)) | {"ceiling": "black"}
"""A colour per schedule, distinct, in the schedules' order (the ceiling black)."""


def plot_fusion(results: dict[str, Any], path: Path) -> Path:
    """One row per scene, one column per x axis; dashed lines mark the start (no edit) and the target;
    curves are means over seeds, with the final PSNR's standard deviation as an error bar."""
    scenes = results["scenes"]
    figure, axes = plt.subplots(
        len(scenes), len(AXES), figsize=(4.2 * len(AXES), 3.0 * len(scenes)), squeeze=False
    )
    for row, (scene_name, scene) in enumerate(scenes.items()):
        for col, (key, label) in enumerate(AXES):
            ax = axes[row][col]
            for name, result in scene["schedules"].items():
                xs = [point.get(key, 0) for point in result["curve"]]
                ys = [point["psnr"] for point in result["curve"]]
                ax.plot(xs, ys, marker=".", label=name, color=COLORS.get(name))
                spread = result.get(SEED_KEY)
                if spread and len(spread["seeds"]) > 1:  # the final PSNR's spread over seeds
                    ax.errorbar(
                        xs[-1], ys[-1], yerr=spread["final_psnr_std"], color=COLORS.get(name), capsize=3
                    )
            ax.axhline(
                scene["base"]["vs_edited"]["psnr"], color="grey", linestyle=":", linewidth=1, label="start"
            )
            if "target_psnr" in scene:
                ax.axhline(scene["target_psnr"], color="black", linestyle="--", linewidth=1, label="target")
            ax.set_xlabel(label)
            if col == 0:
                ax.set_ylabel(f"{scene_name}: held-out PSNR (dB)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle(f"Edit fusion with the reference editor ({results['meta']['date']})")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def views_montage(
    results: dict[str, Any], renders: dict[str, dict[str, list[np.ndarray]]], path: Path
) -> Path:
    """Held-out views side by side: per scene one row each for the original and edited references, the base
    NeRF and every schedule's final render (labels are in the docs; row order as listed there)."""
    rows = []
    for scene_name in results["scenes"]:
        for images in renders[scene_name].values():
            rows.append(np.concatenate(images, axis=1))
    grid = np.concatenate(rows, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(grid, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)
    return path
