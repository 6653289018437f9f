"""One schedule run with several seeds, merged into one result with its spread.

A single run's final PSNR moves by about 0.7 dB with the seed (the reference editor's draws, the view order,
the NeRF's ray samples), as much as most gaps between schedules. The merged result has the shape of one
run's (so the report and the plot read it unchanged) with the mean curve, and `seeds` keeps every run's
final PSNR and their standard deviation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SEED_KEY = "seeds"


def merge_seeds(runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """The mean of `runs` (one per seed, same steps measured) and their spread; renders from the first."""
    if len(runs) != len(seeds) or not runs:
        raise ValueError(f"expected one run per seed, got {len(runs)} runs for seeds {seeds}")
    steps = [[point["step"] for point in run["curve"]] for run in runs]
    if any(s != steps[0] for s in steps):
        raise ValueError("the runs of one schedule must be measured at the same steps")
    curve = [_mean_point(points) for points in zip(*(run["curve"] for run in runs), strict=True)]
    finals = [run["final"]["psnr"] for run in runs]
    merged = dict(runs[0])
    merged.update(
        curve=curve,
        final=curve[-1],
        wall_s=float(np.mean([run["wall_s"] for run in runs])),
        editor_index_mismatches=sum(run["editor_index_mismatches"] for run in runs),
    )
    for key in ("editor_calls", "views_edited", "unet_passes"):
        merged[key] = curve[-1][key]
    merged[SEED_KEY] = {
        "seeds": list(seeds),
        "final_psnr": finals,
        "final_psnr_std": float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
    }
    return merged


def _mean_point(points: tuple[dict[str, float], ...]) -> dict[str, float]:
    return {key: _mean([point[key] for point in points]) for key in points[0]}


def _mean(values: list[float]) -> float:
    mean = float(np.mean(values))
    return int(mean) if all(isinstance(v, int) for v in values) and mean.is_integer() else mean


def difference_vs(result: dict[str, Any], reference: dict[str, Any]) -> tuple[float, float]:
    """Mean final-PSNR difference of `result` over `reference` and its standard error (0 with one seed)."""
    a, b = result.get(SEED_KEY), reference.get(SEED_KEY)
    delta = result["final"]["psnr"] - reference["final"]["psnr"]
    if not a or not b:
        return delta, 0.0
    error = math.sqrt(
        a["final_psnr_std"] ** 2 / len(a["final_psnr"]) + b["final_psnr_std"] ** 2 / len(b["final_psnr"])
    )
    return delta, error
