"""Geometry against ground truth: precision and completeness of exported points, depth error.

precision(τ): share of exported points within τ of a true surface sample;
completeness(τ): share of true surface samples within τ of an exported point (the usual definitions of
multi-view stereo benchmarks, e.g. Tanks and Temples). τ is given as a share of the true surface's
bounding-box diagonal, so scenes of any scale compare.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

TAUS = (0.01, 0.02)


def diagonal(surface: np.ndarray) -> float:
    return float(np.linalg.norm(surface.max(axis=0) - surface.min(axis=0)))


def precision_completeness(points: np.ndarray, surface: np.ndarray) -> dict[str, float]:
    """{precision@1%, completeness@1%, precision@2%, completeness@2%} of `points` against `surface`."""
    scale = diagonal(surface)
    if len(points) == 0:
        return {f"{kind}@{round(t * 100)}%": 0.0 for t in TAUS for kind in ("precision", "completeness")}
    to_surface = cKDTree(surface).query(points)[0]
    to_points = cKDTree(points).query(surface)[0]
    scores = {}
    for tau in TAUS:
        scores[f"precision@{round(tau * 100)}%"] = float(np.mean(to_surface <= tau * scale))
        scores[f"completeness@{round(tau * 100)}%"] = float(np.mean(to_points <= tau * scale))
    return scores


def median_relative_depth_error(predicted: list[np.ndarray], true: list[np.ndarray]) -> float:
    """Median of |predicted - true| / true over the pixels where the true depth saw a surface."""
    errors = [np.abs(p[t > 0] - t[t > 0]) / t[t > 0] for p, t in zip(predicted, true, strict=True)]
    return float(np.median(np.concatenate(errors)))
