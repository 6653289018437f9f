"""Depth renders back to 3D points in the scene's own frame (where `EditSession.render` works).

A render's depth is z-depth along the camera's -Z axis in scene units, and the camera is given in the
scene frame, so a pixel's point is the camera-to-world matrix applied to its camera-space point: no
nerfstudio normalisation has to be undone here (the engine already undid it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.geometry import world_points
from ..engine.types import CameraSpec, RenderResult


@dataclass(frozen=True)
class Crop:
    """A sphere that geometry must lie in; `None` radius keeps everything."""

    centre: np.ndarray
    radius: float | None

    @classmethod
    def around_cameras(cls, cameras: list[CameraSpec]) -> Crop:
        """The sphere around the cameras' centroid that reaches the farthest camera.

        What the cameras surround is the subject; beyond the rig a NeRF puts background (sky, distant
        walls) at arbitrary depths. nerfstudio's own export crops to the same region (its unit box).
        """
        centres = np.array([np.asarray(c.camera_to_world, dtype=np.float64)[:3, 3] for c in cameras])
        centre = centres.mean(axis=0)
        radius = float(np.linalg.norm(centres - centre, axis=1).max()) if len(centres) > 1 else None
        return cls(centre, radius if radius and radius > 0 else None)

    def inside(self, points: np.ndarray) -> np.ndarray:
        if self.radius is None:
            return np.ones(points.shape[:-1], dtype=bool)
        return np.linalg.norm(points - self.centre, axis=-1) <= self.radius


NO_CROP = Crop(np.zeros(3), None)


def surface_pixels(
    render: RenderResult, camera: CameraSpec, min_accumulation: float = 0.5, crop: Crop = NO_CROP
) -> tuple[np.ndarray, np.ndarray]:
    """World points [H, W, 3] of every pixel and the mask [H, W] of opaque pixels inside `crop`."""
    depth = np.asarray(render.depth, dtype=np.float32).reshape(camera.height, camera.width)
    accumulation = np.asarray(render.accumulation, dtype=np.float32).reshape(depth.shape)
    finite = np.isfinite(depth)
    world = world_points(camera, np.where(finite, depth, 0.0))  # [H, W, 3]
    keep = (accumulation >= min_accumulation) & finite & (depth > 0) & crop.inside(world)
    return world, keep


def backproject(
    render: RenderResult, camera: CameraSpec, min_accumulation: float = 0.5, crop: Crop = NO_CROP
) -> tuple[np.ndarray, np.ndarray]:
    """World points [N, 3] and colours [N, 3] (0..1) of the opaque pixels of one render."""
    world, keep = surface_pixels(render, camera, min_accumulation, crop)
    rgb = np.asarray(render.rgb, dtype=np.float32).reshape(*keep.shape, 3)
    return world[keep].astype(np.float32), np.clip(rgb[keep], 0.0, 1.0)


def scaled_cameras(cameras: list[CameraSpec], scale: float, max_side: int = 1024) -> list[CameraSpec]:
    """The cameras rendered `scale` times larger (or smaller), at most `max_side` per side."""
    out = []
    for camera in cameras:
        factor = min(scale, max_side / max(camera.width, camera.height))
        width = max(8, round(camera.width * factor))
        height = max(8, round(camera.height * factor))
        out.append(camera.resized(width, height))
    return out
