"""Where an edit moved surfaces in 3D: the hull of the pixels whose surface the edited views saw move.

A converged NeRF paints an edit's new shape onto the old one (a colour per view fits every training view)
rather than carving the old shape away, so a sparsity prior pushes empty what no view needs (engine/model.py).
Everywhere in the box, that prior also thins what the edit never moved (the walls of an enclosed room, the
surface of a recoloured object; measured: docs/benchmarks.md, *Shape edits*), so it acts only inside this
hull: points that views see on pixels where the surface moved inside an unchanged silhouette
(engine/moved_surface.py: a sphere shrunk in front of a board shows the board where the sphere was). Where
an edit removes surface against empty space the changed alpha already empties it (nerfstudio's random
background supervises opacity), so alpha changes are not needed here, and at low resolutions the release
around them (edit_alpha.reshaped) covers most of a small object even when only its colour changed.

A point is in when at least MIN_VIEWS views see it on a moved pixel and they are at least HULL_SHARE of the
views that see it at all (a view not edited yet counts against). A share rather than every view: the
detector finds about half of what moved (untextured surfaces cannot be judged). On the `tabletop` pair's
views (the reference editor's edits, offline) this hull holds 70% of the old surface points that moved, and
5% of those that did not; on `object` (a recolour) 0.3%. Occlusion is ignored, as in a visual hull.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .geometry import pixels_in_view, project
from .types import CameraSpec

MIN_VIEWS = 2
"""Views that must see a point on a moved pixel before it is in the hull."""
HULL_SHARE = 0.25
"""Share of the views that see a point that must see it on a moved pixel (0.3 keeps 38% of `tabletop`'s
moved old surface, 0.5 none)."""
CANDIDATES = 65_536
"""Random points of the scene box tested per update (the hull's resolution)."""


def in_hull(
    points: np.ndarray, cameras: Sequence[CameraSpec], marked: Mapping[int, np.ndarray]
) -> np.ndarray:
    """[M] bool for `points` ([M, 3], the cameras' frame): seen on a marked pixel by at least MIN_VIEWS of
    the views in `marked` (view index -> [H, W] bool), and by at least HULL_SHARE of every camera that sees
    it (a camera missing from `marked` marks nothing)."""
    votes = np.zeros(len(points), dtype=np.int64)
    seen_by = np.zeros(len(points), dtype=np.int64)
    for index, camera in enumerate(cameras):
        col, row, seen = pixels_in_view(*project(camera, points), camera.width, camera.height)
        seen_by += seen
        mask = marked.get(index)
        if mask is not None:
            votes += seen & mask[row, col]
    return (votes >= MIN_VIEWS) & (votes >= HULL_SHARE * seen_by)


def hull_samples(
    box: np.ndarray,
    cameras: Sequence[CameraSpec],
    marked: Mapping[int, np.ndarray],
    generator: np.random.Generator,
    candidates: int = CANDIDATES,
) -> tuple[np.ndarray, float]:
    """Random points of `box` ([2, 3]: min, max) inside the hull, and the share of the box's candidates
    that were (the hull's volume as a share of the box's)."""
    low, high = np.asarray(box, np.float64)
    points = low + generator.random((candidates, 3)) * (high - low)
    inside = in_hull(points, cameras, marked)
    return points[inside], float(inside.mean())
