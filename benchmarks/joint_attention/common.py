"""What the joint-attention benchmark measures: the demo editor's strength and structure, and whether edited
views agree where they see the same surface.

- Strength and structure: the demo editor's own measures (tools/demo_editor/metrics.py, docs/demo-editor.md):
  the share of pixels of the instruction's hue ("make it blue": 225°, ±30°, saturation ≥ 0.15) and the Pearson
  correlation of the edited view's edge map with the input's.
- Agreement: each edited view is warped into every other view of its call through Blender's exact depth,
  with the occlusion test of engine/warp.py (`warp_into`), and compared with that view's own edit on the
  pixels both see (co-visible): the mean absolute colour difference over those pixels and channels, pooled
  over pairs. The same measure on the unedited views is the floor (view-dependent shading and resampling);
  the edits' disagreement is also given relative to how much the edit changed those pixels, so that
  agreement bought with a weaker edit shows.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from in2n_server.engine.types import CameraSpec
from in2n_server.engine.warp import warp_into

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # tools/ is not installed
    sys.path.insert(0, str(REPO))

from tools.demo_editor.metrics import edge_correlation, hue_share  # noqa: E402

BLUE_HUE = 225.0
INSTRUCTION = "make it blue"
RESULTS = REPO / "benchmarks" / "results"
__all__ = ["BLUE_HUE", "INSTRUCTION", "RESULTS", "Agreement", "agreement", "edge_correlation", "hue_share"]


@dataclass(frozen=True)
class Agreement:
    """Pooled over the ordered pairs of a set of views: co-visible pixels and their colour differences."""

    pixels: int
    disagreement: float  # mean |warped edit of i - edit of j| over co-visible pixels and channels
    change: float  # mean |edit - original| of the target view over the same pixels

    @property
    def relative(self) -> float:
        """Disagreement per unit of edit: lower means the views agree more on an edit of this size."""
        return self.disagreement / self.change if self.change > 0 else float("nan")


def _pair_differences(
    images: list[np.ndarray], originals: list[np.ndarray], depths: list[np.ndarray], cameras: list[CameraSpec]
) -> tuple[int, float, float]:
    """(co-visible pixels, summed |difference|, summed |change|) over every ordered pair of the views."""
    pixels, difference, change = 0, 0.0, 0.0
    for i, source in enumerate(images):
        for j, target in enumerate(images):
            if i == j:
                continue
            warped, valid = warp_into(torch.from_numpy(source), depths[i], cameras[i], depths[j], cameras[j])
            mask = valid[..., 0].numpy() > 0.5
            if not mask.any():
                continue
            pixels += int(mask.sum())
            difference += float(np.abs(warped.numpy()[mask] - target[mask]).mean(-1).sum())
            change += float(np.abs(target[mask] - originals[j][mask]).mean(-1).sum())
    return pixels, difference, change


def agreement(
    images: list[np.ndarray], originals: list[np.ndarray], depths: list[np.ndarray], cameras: list[CameraSpec]
) -> Agreement:
    """How much the views `images` ([H, W, 3] in [0, 1], over white) agree where they see the same surface."""
    pixels, difference, change = _pair_differences(images, originals, depths, cameras)
    if pixels == 0:
        return Agreement(0, float("nan"), float("nan"))
    return Agreement(pixels, difference / pixels, change / pixels)


def pooled(parts: list[Agreement]) -> Agreement:
    """Several sets' agreement as one pool of pixels."""
    pixels = sum(p.pixels for p in parts if p.pixels)
    if pixels == 0:
        return Agreement(0, float("nan"), float("nan"))
    difference = sum(p.disagreement * p.pixels for p in parts if p.pixels)
    change = sum(p.change * p.pixels for p in parts if p.pixels)
    return Agreement(pixels, difference / pixels, change / pixels)


def mean_and_error(values: list[float]) -> tuple[float, float]:
    """Mean and its standard error (0 for a single value)."""
    array = np.asarray(values, np.float64)
    error = float(array.std(ddof=1) / np.sqrt(len(array))) if len(array) > 1 else 0.0
    return float(array.mean()), error
