"""Depth renders back to 3D points in the scene's own frame (where `EditSession.render` works).

A render's depth is z-depth along the camera's -Z axis in scene units, and the camera is given in the
scene frame, so a pixel's point is the camera-to-world matrix applied to its camera-space point: no
nerfstudio normalisation has to be undone here (the engine already undid it).
"""

from __future__ import annotations

import numpy as np

from ..engine.types import CameraSpec, RenderResult


def camera_points(camera: CameraSpec, depth: np.ndarray) -> np.ndarray:
    """Camera-space points [H, W, 3] (OpenGL axes) of every pixel centre at its z-depth."""
    height, width = depth.shape
    u = (np.arange(width, dtype=np.float64) + 0.5 - camera.cx) / camera.fx  # [W]
    v = (np.arange(height, dtype=np.float64) + 0.5 - camera.cy) / camera.fy  # [H]
    d = depth.astype(np.float64)
    return np.stack([u[None, :] * d, -v[:, None] * d, -d], axis=-1)  # y up, looking down -Z


def backproject(
    render: RenderResult, camera: CameraSpec, min_accumulation: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """World points [N, 3] and colours [N, 3] (0..1) of the opaque pixels of one render."""
    depth = np.asarray(render.depth, dtype=np.float32).reshape(camera.height, camera.width)
    accumulation = np.asarray(render.accumulation, dtype=np.float32).reshape(depth.shape)
    rgb = np.asarray(render.rgb, dtype=np.float32).reshape(*depth.shape, 3)
    keep = (accumulation >= min_accumulation) & np.isfinite(depth) & (depth > 0)
    local = camera_points(camera, depth)[keep]  # [N, 3]
    c2w = np.asarray(camera.camera_to_world, dtype=np.float64)[:3, :4]
    world = local @ c2w[:, :3].T + c2w[:, 3]
    return world.astype(np.float32), np.clip(rgb[keep], 0.0, 1.0)


def scaled_cameras(cameras: list[CameraSpec], scale: float, max_side: int = 1024) -> list[CameraSpec]:
    """The cameras rendered `scale` times larger (or smaller), at most `max_side` per side."""
    out = []
    for camera in cameras:
        factor = min(scale, max_side / max(camera.width, camera.height))
        width = max(8, round(camera.width * factor))
        height = max(8, round(camera.height * factor))
        out.append(camera.resized(width, height))
    return out
