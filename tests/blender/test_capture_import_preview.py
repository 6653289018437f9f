"""Capture (rig, renders, masks, depth), result import and preview updates, in a real headless Blender."""

from __future__ import annotations

from pathlib import Path

import pytest
from bpy_helpers import run_bpy_script

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("blender-user")
    return run_bpy_script("capture_import_preview.py", home=Path(home))


def test_rig_capture_writes_valid_frames_and_restores_the_scene(result: dict) -> None:
    assert result["rig_count"] == 4  # the second rig replaced the first
    assert result["num_frames"] == 4
    assert result["sizes"] == [[40, 30]] * 4  # longer side 40, the scene's 4:3 aspect
    assert result["frame_size"] == [40, 30]
    assert result["mask_paths"] == [f"masks/{i:04d}.png" for i in range(4)]
    assert result["scene_after"] == {"camera": "Camera", "resolution": [640, 480, 100]}


def test_masks_cover_the_masked_object_and_depth_is_z(result: dict) -> None:
    for check in result["center_checks"]:
        assert check["mask"] == 1.0  # the cube's centre projects onto a masked pixel
        # The visible surface lies in front of the centre, at most the cube's half-diagonal (sqrt 3) nearer.
        assert 0.0 < check["center_depth_m"] - check["depth_m"] <= 3**0.5 + 0.01
        assert 0.0 < check["mask_fraction"] < 0.5
    # The unselected sphere is hit (it has depth) but is not masked, in at least one view.
    assert any(check["sphere_pixels_unmasked"] for check in result["center_checks"])


def test_point_cloud_import_shows_coloured_points_in_place(result: dict) -> None:
    cloud = result["cloud"]
    assert cloud["collection"] == ["In2N Results"]
    assert cloud["modifier"] == ["NODES"]
    assert cloud["points"] == 20000
    assert cloud["attribute"] == "Col"
    assert cloud["point_material"] == ["Test Cloud Material"]
    assert cloud["matrix_identity"]
    lo, hi = cloud["bounds"]
    cube_lo, cube_hi = result["cube_bounds"]
    for axis in range(3):  # the same box, up to the point radius
        assert lo[axis] == pytest.approx(cube_lo[axis], abs=0.05)
        assert hi[axis] == pytest.approx(cube_hi[axis], abs=0.05)


def test_mesh_import_keeps_faces_colours_and_frame(result: dict) -> None:
    mesh = result["mesh"]
    assert mesh["collection"] == ["In2N Results"]
    assert mesh["faces"] == 12
    assert mesh["material"] == "Test Mesh Material"
    assert mesh["bounds"] == result["cube_bounds"]
    assert "does not exist" in result["missing_error"]


def test_preview_image_is_reused_and_updated_in_place(result: dict) -> None:
    preview = result["preview"]
    assert preview["same_datablock"]
    assert preview["images_added"] == 1
    assert preview["top_left"] == [0.0, 1.0, 0.0, 1.0]
    assert preview["bottom_right"] == [0.0, 0.0, 1.0, 1.0]
    assert preview["size_after_resize"] == [64, 48]
    assert not preview["packed"]
    assert preview["backgrounds"] == 1
    assert "not a PNG" in preview["bad_png_error"]
