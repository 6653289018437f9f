"""Pixels and depth to 3D points, the scene's bounds from exact depth, and nerfstudio's frame.

One definition of the camera model the whole project uses (OpenGL axes: the camera looks down -Z with +Y
up, pixel (col, row) has its centre at (col + 0.5, row + 0.5), depth is z along -Z), shared by the
engine (bounds of a scene, rendering any camera) and the exports (back-projecting renders).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .types import CameraSpec

DEPTH_AGREEMENT = 0.03
"""Two views see the same surface point when their z-depths of it differ by at most this share."""
MOVED_DEPTH = 2 * DEPTH_AGREEMENT
"""A surface within this share of a pixel's captured depth is the captured surface; farther, the edit moved it
(the depth loss's release, engine/moved_surface.py, and the exports' snap to captured depth alike)."""
BOUNDS_KEY = "in2n_bounds"
BOUNDS_MARGIN = 0.05
"""The box around the true surfaces grows by this share of its diagonal on every side."""


def camera_points(camera: CameraSpec, depth: np.ndarray) -> np.ndarray:
    """Camera-space points [H, W, 3] (OpenGL axes) of every pixel centre at its z-depth."""
    height, width = depth.shape
    u = (np.arange(width, dtype=np.float64) + 0.5 - camera.cx) / camera.fx  # [W]
    v = (np.arange(height, dtype=np.float64) + 0.5 - camera.cy) / camera.fy  # [H]
    d = depth.astype(np.float64)
    return np.stack([u[None, :] * d, -v[:, None] * d, -d], axis=-1)  # y up, looking down -Z


def world_points(camera: CameraSpec, depth: np.ndarray) -> np.ndarray:
    """World-frame points [H, W, 3] of every pixel centre at its z-depth."""
    c2w = np.asarray(camera.camera_to_world, dtype=np.float64)[:3, :4]
    return camera_points(camera, depth) @ c2w[:, :3].T + c2w[:, 3]


def project(camera: CameraSpec, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World points [..., 3] into `camera`: continuous pixel coordinates (col, row) and z-depth along -Z
    (pixel (c, r) covers [c, c + 1) x [r, r + 1)); z <= 0 is behind the camera."""
    c2w = np.asarray(camera.camera_to_world, dtype=np.float64)[:3, :4]
    local = (np.asarray(points, np.float64) - c2w[:, 3]) @ c2w[:, :3]  # world -> camera (OpenGL axes)
    z = -local[..., 2]
    safe_z = np.where(z > 1e-9, z, 1.0)
    return local[..., 0] / safe_z * camera.fx + camera.cx, -local[..., 1] / safe_z * camera.fy + camera.cy, z


def pixels_in_view(
    u: np.ndarray, v: np.ndarray, z: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pixel each projected point (`project`'s u, v, z) falls in, for a `width` x `height` image: (col,
    row, inside), with col and row 0 where the point is behind the camera or outside the image."""
    col, row = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    inside = (z > 1e-9) & (col >= 0) & (col < width) & (row >= 0) & (row < height)
    return np.where(inside, col, 0), np.where(inside, row, 0), inside


def nearest_views(
    camera_to_worlds: np.ndarray, index: int, candidates: Iterable[int], count: int
) -> list[int]:
    """Up to `count` candidate cameras (never `index`) that look most like camera `index` ([N, 3 or 4, 4]
    poses), most alike first: smallest angle between viewing directions plus distance between centres
    (relative to the cameras' spread)."""
    others = np.asarray([c for c in candidates if c != index], dtype=np.int64)
    if not len(others):
        return []
    poses = np.asarray(camera_to_worlds, np.float64)[:, :3, :4]
    forward, centres = -poses[:, :, 2], poses[:, :, 3]  # viewing direction: the camera's -Z axis
    spread = float(np.linalg.norm(centres - centres.mean(0), axis=-1).mean()) or 1.0
    angle = 1.0 - (forward[others] * forward[index]).sum(-1)
    distance = np.linalg.norm(centres[others] - centres[index], axis=-1) / spread
    return [int(v) for v in others[np.argsort(angle + distance, kind="stable")[:count]]]


def ray_lengths(camera: CameraSpec) -> np.ndarray:
    """[H, W]: the distance along each pixel centre's ray per unit of z-depth (1 on the optical axis)."""
    cols, rows = np.meshgrid(np.arange(camera.width) + 0.5, np.arange(camera.height) + 0.5)
    return np.sqrt(((cols - camera.cx) / camera.fx) ** 2 + ((rows - camera.cy) / camera.fy) ** 2 + 1.0)


def z_depth(camera: CameraSpec, ray_distance: np.ndarray) -> np.ndarray:
    """Distances along the pixels' rays [H, W] (what a NeRF renders as depth) -> z-depths along -Z."""
    return ray_distance / ray_lengths(camera)


@dataclass(frozen=True)
class NerfFrame:
    """nerfstudio's normalised frame as its dataparser made it from the scene's: the poses re-oriented and
    centred by `transform` ([3, 4]: rotation, translation), then scaled by `scale`."""

    transform: np.ndarray
    scale: float

    def pose(self, camera_to_world: np.ndarray) -> np.ndarray:
        """A scene-frame camera-to-world pose -> the same camera's pose [3, 4] in this frame."""
        c2w = np.asarray(camera_to_world, dtype=np.float64)[:3, :4]
        rotation = self.transform[:, :3] @ c2w[:, :3]
        position = (self.transform[:, :3] @ c2w[:, 3] + self.transform[:, 3]) * self.scale
        return np.concatenate([rotation, position[:, None]], axis=1)

    def to_scene_length(self, length: np.ndarray) -> np.ndarray:
        """Lengths (depths, distances) in this frame's units -> the scene's units."""
        return length / self.scale


def bounds_from_depths(views: Iterable[tuple[CameraSpec, np.ndarray]]) -> dict[str, list[float]] | None:
    """The axis-aligned box of every surface the depth maps saw, with a margin; None when none hit."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for camera, depth in views:
        hit = depth > 0
        if not hit.any():
            continue
        points = world_points(camera, depth)[hit]
        lo, hi = np.minimum(lo, points.min(axis=0)), np.maximum(hi, points.max(axis=0))
    if not np.isfinite(lo).all():
        return None
    margin = BOUNDS_MARGIN * float(np.linalg.norm(hi - lo)) + 1e-6
    return {"min": (lo - margin).tolist(), "max": (hi + margin).tolist()}


def check_bounds(value: Any, field: str = BOUNDS_KEY) -> dict[str, list[float]]:
    """A `{"min": [x, y, z], "max": [x, y, z]}` box with min < max on every axis, or ValueError."""
    if not isinstance(value, Mapping) or set(value) != {"min", "max"}:
        raise ValueError(f"{field}: expected an object {{'min': [x, y, z], 'max': [x, y, z]}}")
    corners = []
    for key in ("min", "max"):
        corner = value[key]
        if (
            not isinstance(corner, list | tuple)
            or len(corner) != 3
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in corner)
            or not np.isfinite(np.asarray(corner, dtype=np.float64)).all()
        ):
            raise ValueError(f"{field}.{key}: expected three finite numbers")
        corners.append([float(c) for c in corner])
    if not all(a < b for a, b in zip(*corners, strict=True)):
        raise ValueError(f"{field}: min must be below max on every axis")
    return {"min": corners[0], "max": corners[1]}
