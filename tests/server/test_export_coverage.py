"""Coverage views: a room's ceiling, seen only at the top edges of level training views, is exported (as
points and in the TSDF mesh).

The renderer is an exact ray caster of a box seen from inside (what `EditSession.render` gives an
export), so every exported point can be checked against the true walls, floor and ceiling.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from in2n_server.engine.geometry import camera_points
from in2n_server.engine.types import CameraSpec, RenderResult
from in2n_server.export import mesh, pointcloud
from in2n_server.export.coverage import turned_cameras
from in2n_server.export.mesh import tsdf_mesh
from in2n_server.export.pointcloud import point_cloud

LOW = np.array([-3.0, -3.0, 0.0])
HIGH = np.array([3.0, 3.0, 3.0])
HALF_FOV_DEGREES = 35.0


def level_pose(eye: np.ndarray, heading: float) -> np.ndarray:
    """Camera-to-world (OpenGL axes) of a camera at `eye` looking level along `heading`, +z up."""
    forward = np.array([math.cos(heading), math.sin(heading), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    right = np.cross(forward, up)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, -forward, eye
    return pose


class BoxRoom:
    """Level cameras inside a box room (HALF_FOV_DEGREES): the ceiling, 1.5 above the eyes,
    shows only in the top corners of a few frames, where fewer than two other views confirm it."""

    scene_bounds = {"min": (LOW - 0.2).tolist(), "max": (HIGH + 0.2).tolist()}

    def __init__(self, views: int = 24, size: int = 32) -> None:
        focal = size / 2 / math.tan(math.radians(HALF_FOV_DEGREES))
        self.training_cameras = [
            CameraSpec(
                focal, focal, size / 2, size / 2, size, size,
                level_pose(np.array([0.4 * math.cos(i), 0.4 * math.sin(i), 1.5]), 2 * math.pi * i / views),
            )
            for i in range(views)
        ]  # fmt: skip

    def render(self, camera: CameraSpec) -> RenderResult:
        local = camera_points(camera, np.ones((camera.height, camera.width))).reshape(-1, 3)
        c2w = np.asarray(camera.camera_to_world)
        directions = local @ c2w[:3, :3].T  # z-depth 1 along the camera's axis
        origin = c2w[:3, 3]
        with np.errstate(divide="ignore", invalid="ignore"):
            exits = np.where(directions > 0, (HIGH - origin) / directions, (LOW - origin) / directions)
        exits = np.where(np.abs(directions) < 1e-12, np.inf, exits)
        depth = exits.min(axis=1)  # the z-depth of the wall the ray leaves the box through
        face = exits.argmin(axis=1) * 2 + (
            np.take_along_axis(directions, exits.argmin(1)[:, None], 1)[:, 0] > 0
        )
        colour = np.stack([face / 6, 1 - face / 6, np.full_like(depth, 0.5)], axis=1)
        shape = (camera.height, camera.width)
        return RenderResult(
            colour.reshape(*shape, 3).astype(np.float32),
            depth.reshape(shape).astype(np.float32),
            np.ones(shape, np.float32),
        )

    def view_mask(self, index: int) -> np.ndarray | None:
        return None

    def held_depth(self, index: int) -> np.ndarray | None:
        return None


def distance_to_box(points: np.ndarray) -> np.ndarray:
    """How far each point inside the box is from its nearest face."""
    return np.minimum(points - LOW, HIGH - points).min(axis=1)


def ceiling_completeness(points: np.ndarray, cell: float = 0.25) -> float:
    """The share of the ceiling's cells (`cell` wide) with an exported point on them."""
    on_ceiling = points[np.abs(points[:, 2] - HIGH[2]) < 1e-3]
    cells = np.floor((on_ceiling[:, :2] - LOW[:2]) / cell).astype(int)
    side = int(round((HIGH[0] - LOW[0]) / cell))
    return len({tuple(c) for c in np.clip(cells, 0, side - 1)}) / side**2


def test_turned_cameras_look_up_and_down_by_the_share_of_the_field_of_view() -> None:
    camera = BoxRoom().training_cameras[0]
    up, down = turned_cameras([camera], share=0.5)
    half_fov = math.atan2(camera.height / 2, camera.fy)
    for turned, sign in ((up, 1), (down, -1)):
        forward = -np.asarray(turned.camera_to_world)[:3, 2]
        assert math.asin(forward[2]) == pytest.approx(sign * half_fov, abs=1e-9)  # 0.5 of 2 half fovs
        assert np.allclose(np.asarray(turned.camera_to_world)[:3, 3], camera.camera_to_world[:3, 3])
        assert (turned.width, turned.height, turned.fx) == (camera.width, camera.height, camera.fx)


def test_the_ceiling_the_level_views_barely_see_is_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    room = BoxRoom()
    with_coverage, _ = point_cloud(room, 40000)
    monkeypatch.setattr(pointcloud, "coverage_views", lambda *args: [])
    level_only, _ = point_cloud(room, 40000)

    assert distance_to_box(with_coverage).max() < 1e-3  # every added point is on a true surface
    assert ceiling_completeness(level_only) < 0.7  # 0.62: a ring along the walls
    assert ceiling_completeness(with_coverage) > 0.97  # 1.0


def test_the_tsdf_mesh_closes_the_ceiling_too(monkeypatch: pytest.MonkeyPatch) -> None:
    room = BoxRoom()
    with_coverage, _, _ = tsdf_mesh(room, resolution=48)
    monkeypatch.setattr(mesh, "coverage_views", lambda *args: [])
    level_only, _, _ = tsdf_mesh(room, resolution=48)

    voxel = (HIGH - LOW).max() * 1.1 / 48
    assert np.quantile(distance_to_box(with_coverage), 0.99) < voxel  # on the true walls, within a voxel
    assert ceiling_completeness(on_ceiling(level_only, voxel)) < 0.7  # 0.56: a ring along the walls
    assert ceiling_completeness(on_ceiling(with_coverage, voxel)) > 0.95  # 0.98


def on_ceiling(vertices: np.ndarray, tolerance: float) -> np.ndarray:
    """The vertices within `tolerance` below the ceiling, moved onto it."""
    near = vertices[vertices[:, 2] > HIGH[2] - tolerance]
    return np.concatenate([near[:, :2], np.full((len(near), 1), HIGH[2])], axis=1)
