"""Point cloud export: depth renders at the training cameras, back-projected with their colours."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .backproject import (
    SurfaceView,
    scaled_cameras,
    session_held_depths,
    session_masks,
    session_region,
    surface_views,
)
from .coverage import coverage_views
from .errors import NO_SURFACE_YET, NothingToExportError


def point_cloud(
    session: Any, num_points: int, seed: int = 0, crop: bool = True, masked_only: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """About `num_points` opaque surface points [N, 3] and colours [N, 3] in the scene frame.

    Only opaque points that other views see at the same depth are kept (`multi_view_agreement`); with
    `crop`, only those inside the scene's bounds (or, when unknown, the camera rig's sphere); with
    `masked_only`, only those the views' masks cover (the edited objects).
    """
    return points_from_views(sized_surface_views(session, num_points, crop, masked_only), num_points, seed)


def points_from_views(
    views: list[SurfaceView], num_points: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """At most `num_points` of the views' kept pixels, as world points and their colours."""
    points = np.concatenate([view.world[view.keep].astype(np.float32) for view in views])
    colors = np.concatenate([np.clip(view_colours(view)[view.keep], 0.0, 1.0) for view in views])
    keep = subsample(len(points), num_points, seed)
    return points[keep], colors[keep]


def sized_surface_views(
    session: Any, num_points: int, crop: bool = True, masked_only: bool = False
) -> list[SurfaceView]:
    """The training cameras' surface views, rendered so that a little over `num_points` pixels are kept.

    The first size assumes most pixels are opaque; when far fewer come out, the views are rendered once
    more, larger. Without masks, the cameras turned up and down add the surface the training views
    barely see (`coverage_views`). Shared by the point cloud and the splats, so both sample the surface
    the same way. NothingToExportError when no pixel is kept.
    """
    cameras = session.training_cameras
    region = session_region(session, crop)
    masks = session_masks(session, len(cameras)) if masked_only else None
    pixels = sum(camera.width * camera.height for camera in cameras)
    scale = float(np.clip(math.sqrt(1.5 * num_points / max(pixels, 1)), 1 / 8, 8.0))
    held = session_held_depths(session, len(cameras))
    views = surface_views(session, scaled_cameras(cameras, scale), region, masks=masks, held=held)
    kept = kept_count(views)
    if 0 < kept < 0.75 * num_points and scale < 8.0:  # far fewer opaque pixels: once larger
        scale = float(min(8.0, scale * math.sqrt(1.5 * num_points / kept)))
        views = surface_views(session, scaled_cameras(cameras, scale), region, masks=masks, held=held)
    if kept_count(views) == 0:
        raise NothingToExportError(NO_SURFACE_YET)
    if masks is None:  # masks exist for the training views only: a masked export keeps to them
        views += coverage_views(session, views, region)
    return views


def kept_count(views: list[SurfaceView]) -> int:
    return int(sum(np.count_nonzero(view.keep) for view in views))


def view_colours(view: SurfaceView) -> np.ndarray:
    """The view's rendered colour [H, W, 3] (straight colour for transparent scenes)."""
    return np.asarray(view.render.rgb, dtype=np.float32).reshape(*view.keep.shape, 3)


def subsample(count: int, num_points: int, seed: int = 0) -> np.ndarray:
    """Indices of at most `num_points` of `count` items, drawn without replacement (all when fewer)."""
    if count <= num_points:
        return np.arange(count)
    return np.random.default_rng(seed).choice(count, size=num_points, replace=False)
