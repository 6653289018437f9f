"""Camera export matches Blender's own projection (bpy) and the pure-Python parts behave."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from bpy_helpers import run_bpy_script

from blender_in2n import camera_math

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier


def test_intrinsics_match_world_to_camera_view_over_the_grid(blender_home: Path) -> None:
    result = run_bpy_script("intrinsics_grid.py", home=blender_home)
    assert result["cases"] == 3 * 3 * 3 * 3 * 3 * 2
    assert result["worst_projection_px"] <= 0.01
    assert result["worst_projection_matrix_px"] <= 0.01
    assert result["worst_roundtrip_px"] <= 1e-6
    assert result["pose_error"] < 1e-5
    assert result["pose_det"] == pytest.approx(1.0, abs=1e-6)


def test_vertical_fit_portrait_uses_sensor_height_on_the_height() -> None:
    intr = camera_math.intrinsics(
        lens=50.0, sensor_width=36.0, sensor_height=24.0, sensor_fit="VERTICAL", width=300, height=600
    )
    assert intr.fl_y == pytest.approx(50.0 * 600 / 24.0)
    assert intr.fl_x == pytest.approx(intr.fl_y)
    assert (intr.cx, intr.cy) == (150.0, 300.0)


def test_auto_fit_portrait_fits_the_sensor_width_to_the_height() -> None:
    intr = camera_math.intrinsics(
        lens=36.0, sensor_width=36.0, sensor_height=24.0, sensor_fit="AUTO", width=480, height=640
    )
    # AUTO fits the sensor width to the longer side, here the height.
    assert intr.fl_y == pytest.approx(640.0)


def test_render_size_rounds_like_blender() -> None:
    assert camera_math.render_size(64, 48, 37) == (23, 17)


def test_pose_refuses_a_mirrored_camera() -> None:
    mirrored = [[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    with pytest.raises(camera_math.CameraError, match="mirrored"):
        camera_math.pose_without_scale(mirrored)


def test_bad_camera_values_are_named() -> None:
    with pytest.raises(camera_math.CameraError, match="sensor fit"):
        camera_math.intrinsics(
            lens=50, sensor_width=36, sensor_height=24, sensor_fit="DIAGONAL", width=10, height=10
        )
    with pytest.raises(camera_math.CameraError, match="render size"):
        camera_math.intrinsics(
            lens=50, sensor_width=36, sensor_height=24, sensor_fit="AUTO", width=0, height=10
        )


def test_fov_radius_fits_the_sphere() -> None:
    radius = camera_math.fov_radius(1.0, 36.0, 36.0)
    assert radius * math.sin(math.atan(0.5)) == pytest.approx(1.0)
