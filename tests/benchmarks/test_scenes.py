"""Scene pairs rendered with Blender (bpy from PyPI, in a subprocess) as nerfstudio datasets."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.fusion.scenes import RenderSettings, load_dataset, render_scene_pair

# Only checked, not imported: Blender runs in the subprocess that renders.
pytestmark = [
    pytest.mark.slow,  # renders with Blender
    pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs bpy (the dev extra)"),
]

TINY = RenderSettings(size=24, views=3, heldout=2, samples=4)


@pytest.fixture(scope="module")
def tabletop(tmp_path_factory: pytest.TempPathFactory):
    return render_scene_pair("tabletop", tmp_path_factory.mktemp("cache"), TINY)


def test_pair_holds_four_datasets_with_matching_cameras(tabletop) -> None:
    train_cams, train = load_dataset(tabletop.train_dir)
    edited_cams, edited = load_dataset(tabletop.train_edited_dir)
    held_cams, held = load_dataset(tabletop.heldout_dir)
    _, held_edited = load_dataset(tabletop.heldout_edited_dir)
    assert train.shape == edited.shape == (3, 24, 24, 3) and held.shape == held_edited.shape == (2, 24, 24, 3)
    for a, b in zip(train_cams, edited_cams, strict=True):
        np.testing.assert_array_equal(a.camera_to_world, b.camera_to_world)
    assert not np.allclose(held_cams[0].camera_to_world, train_cams[0].camera_to_world)
    assert np.abs(train - edited).mean() > 0.02  # the edit changed the scene
    frame = json.loads((tabletop.train_dir / "transforms.json").read_text())["frames"][0]
    assert {"file_path", "fl_x", "fl_y", "cx", "cy", "w", "h", "transform_matrix"} <= frame.keys()


def test_cameras_look_at_the_table_in_opengl_convention(tabletop) -> None:
    """The orbit's target projects to the image centre with camera-to-world = matrix_world (looks down -Z)."""
    cameras, _ = load_dataset(tabletop.train_dir)
    target = np.array([0.0, 0.0, 0.2, 1.0])
    for camera in cameras:
        x, y, z, _ = np.linalg.inv(camera.camera_to_world) @ target
        assert z < 0  # in front of the camera
        u, v = camera.cx + camera.fx * x / -z, camera.cy - camera.fy * y / -z
        assert abs(u - camera.cx) < 1e-3 and abs(v - camera.cy) < 1e-3
        assert camera.fx == pytest.approx(35.0 / 36.0 * 24)


def test_second_call_reuses_the_cache(tabletop) -> None:
    stamp = (tabletop.train_dir / "images" / "0000.png").stat().st_mtime_ns
    again = render_scene_pair("tabletop", Path(tabletop.root).parent, TINY)
    assert again.root == tabletop.root
    assert (again.train_dir / "images" / "0000.png").stat().st_mtime_ns == stamp


def test_unknown_scene_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scene"):
        render_scene_pair("castle", tmp_path)
