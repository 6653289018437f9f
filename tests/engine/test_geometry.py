"""The frame maths of rendering any camera (engine/geometry.py): nerfstudio's frame and z-depth."""

from __future__ import annotations

import numpy as np

from in2n_server.engine.geometry import (
    NerfFrame,
    camera_points,
    pixels_in_view,
    project,
    ray_lengths,
    world_points,
    z_depth,
)
from in2n_server.engine.types import CameraSpec


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _camera(camera_to_world: np.ndarray, width: int = 8, height: int = 6) -> CameraSpec:
    return CameraSpec(
        fx=7.0, fy=9.0, cx=3.7, cy=3.2, width=width, height=height, camera_to_world=camera_to_world
    )


def _scene_camera() -> CameraSpec:
    c2w = np.eye(4)
    c2w[:3, :3] = _rotation(np.array([0.3, 1.0, -0.2]), 0.7)
    c2w[:3, 3] = [1.5, -0.4, 2.0]
    return _camera(c2w)


FRAME = NerfFrame(
    transform=np.concatenate([_rotation(np.array([1.0, -0.5, 0.2]), 1.1), [[0.3], [-1.2], [0.4]]], axis=1),
    scale=0.25,
)


def test_a_camera_in_nerfstudios_frame_sees_every_point_where_it_did_at_scale_times_the_depth() -> None:
    camera = _scene_camera()
    nerf_camera = _camera(FRAME.pose(camera.camera_to_world))
    points = np.random.default_rng(0).normal(size=(50, 3)) * 2.0
    nerf_points = (points @ FRAME.transform[:, :3].T + FRAME.transform[:, 3]) * FRAME.scale
    cols, rows, depth = project(camera, points)
    nerf_cols, nerf_rows, nerf_depth = project(nerf_camera, nerf_points)
    np.testing.assert_allclose(nerf_depth, depth * FRAME.scale, atol=1e-9)
    seen = depth > 1e-3  # in front of the camera
    assert seen.sum() >= 10
    np.testing.assert_allclose(nerf_cols[seen], cols[seen], atol=1e-9)
    np.testing.assert_allclose(nerf_rows[seen], rows[seen], atol=1e-9)
    rotation = FRAME.pose(camera.camera_to_world)[:, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)  # a pose, not scaled


def test_a_nerfs_ray_distances_become_the_scenes_z_depths() -> None:
    """A wall at z-depth 2 (scene units), rendered as distances along the rays in nerfstudio's units."""
    camera = _scene_camera()
    wall = np.full((camera.height, camera.width), 2.0)
    along_rays = np.linalg.norm(camera_points(camera, wall), axis=-1) * FRAME.scale
    depth = z_depth(camera, FRAME.to_scene_length(along_rays))
    np.testing.assert_allclose(depth, wall, atol=1e-12)
    np.testing.assert_allclose(world_points(camera, depth), world_points(camera, wall), atol=1e-12)
    assert (depth < along_rays / FRAME.scale).any()  # off-axis rays are longer than the z-depth


def test_a_ray_on_the_optical_axis_has_unit_length() -> None:
    camera = CameraSpec(fx=5.0, fy=5.0, cx=2.5, cy=1.5, width=5, height=3, camera_to_world=np.eye(4))
    lengths = ray_lengths(camera)
    assert lengths.shape == (3, 5)
    assert lengths[1, 2] == 1.0 and lengths.min() == 1.0
    assert np.isclose(lengths[0, 0], np.sqrt((2 / 5) ** 2 + (1 / 5) ** 2 + 1))


def test_pixels_in_view_floor_to_the_pixel_and_zero_what_falls_outside() -> None:
    u = np.array([0.0, 3.99, 4.0, -0.01, 1.5])
    v = np.array([0.0, 2.5, 1.0, 1.0, 1.5])
    z = np.array([1.0, 1.0, 1.0, 1.0, -1.0])  # the last is behind the camera
    col, row, inside = pixels_in_view(u, v, z, width=4, height=3)
    assert inside.tolist() == [True, True, False, False, False]
    assert col.tolist() == [0, 3, 0, 0, 0] and row.tolist() == [0, 2, 0, 0, 0]
