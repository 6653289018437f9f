"""Point cloud export: depth renders at the training cameras, back-projected with their colours."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .backproject import Region, scaled_cameras, session_masks, session_region, surface_views
from .errors import NothingToExportError


def point_cloud(
    session: Any, num_points: int, seed: int = 0, crop: bool = True, masked_only: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """About `num_points` opaque surface points [N, 3] and colours [N, 3] in the scene frame.

    The training cameras are rendered at a size whose pixel count is a little over `num_points`
    (not every pixel is opaque; rendered once more, larger, when far fewer came out), then the points
    are subsampled to `num_points` at most.
    Only opaque points that other views see at the same depth are kept (`multi_view_agreement`); with
    `crop`, only those inside the scene's bounds (or, when unknown, the camera rig's sphere); with
    `masked_only`, only those the views' masks cover (the edited objects).
    """
    cameras = session.training_cameras
    region = session_region(session, crop)
    masks = session_masks(session, len(cameras)) if masked_only else None
    pixels = sum(camera.width * camera.height for camera in cameras)
    scale = float(np.clip(math.sqrt(1.5 * num_points / max(pixels, 1)), 1 / 8, 8.0))
    all_points, all_colors = _render_points(session, cameras, scale, region, masks)
    if 0 < len(all_points) < 0.75 * num_points and scale < 8.0:  # far fewer opaque pixels: once larger
        scale = float(min(8.0, scale * math.sqrt(1.5 * num_points / len(all_points))))
        all_points, all_colors = _render_points(session, cameras, scale, region, masks)
    if len(all_points) == 0:
        raise NothingToExportError(
            "the reconstruction has no opaque surface to export yet; let it train longer"
        )
    if len(all_points) > num_points:
        keep = np.random.default_rng(seed).choice(len(all_points), size=num_points, replace=False)
        all_points, all_colors = all_points[keep], all_colors[keep]
    return all_points, all_colors


def _render_points(
    session: Any, cameras: list[Any], scale: float, region: Region, masks: list[np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    points, colors = [], []
    for view in surface_views(session, scaled_cameras(cameras, scale), region, masks=masks):
        rgb = np.asarray(view.render.rgb, dtype=np.float32).reshape(*view.keep.shape, 3)
        points.append(view.world[view.keep].astype(np.float32))
        colors.append(np.clip(rgb[view.keep], 0.0, 1.0))
    if not points:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32)
    return np.concatenate(points), np.concatenate(colors)
