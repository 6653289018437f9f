"""Capture's masks and depth from render passes against per-pixel ray casts, alpha, restore, rigs.

The script (scripts/capture_passes.py) captures 4 views at 48x36 of a rotated cube, a sphere partly in front
of it (both masked) and an unmasked cylinder with a pass index of its own; the reference is one
`scene.ray_cast` per pixel centre (scripts/_raycast.py, what the extension used to do).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bpy_helpers import run_bpy_script

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

DEPTH_RTOL = 1e-4
MAX_MASK_MISMATCH = 3  # pixels per view, a silhouette within 0.005 px of a pixel centre (measured: 0)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("blender-user")
    return run_bpy_script("capture_passes.py", home=Path(home))


def test_both_data_pass_methods_ran(result: dict) -> None:
    """Blender 5.0 has OpenImageIO: the fast path is the default, and the emission path runs beside it."""
    assert result["default_method"] == "multilayer"
    assert set(result["views_by_method"]) == {"multilayer", "emission"}


@pytest.mark.parametrize("method", ["multilayer", "emission"])
def test_depth_matches_ray_casts_at_pixel_centres(result: dict, method: str) -> None:
    assert result["depth_paths"] == [f"depths/{i:04d}.npy" for i in range(4)]
    for view in result["views_by_method"][method]:
        assert view["depth_dtype"] == "float32"
        assert view["depth_shape"] == [36, 48]
        assert view["hit_pixels"] > 200  # the objects fill a good part of each view
        assert view["hit_mismatch"] == 0  # hit where the ray cast hits, 0 where it misses
        assert view["background_depth_nonzero"] == 0
        # Within 1e-4 relative, except where the surface is so oblique that the sample's offset from the
        # centre (at most 0.005 px) changes the depth more: those must lie within the ray-cast depths at
        # the corners of that 0.01 px square (measured: 4 of 1,644 pixels, worst 2.9e-4 relative).
        assert view["over_rtol_unexplained"] == 0
        assert view["p99_relative_depth_error"] <= DEPTH_RTOL
        assert view["max_relative_depth_error"] < 1e-3


@pytest.mark.parametrize("method", ["multilayer", "emission"])
def test_masks_match_ray_casts(result: dict, method: str) -> None:
    for view in result["views_by_method"][method]:
        assert view["mask_values"] == [0, 255]
        assert 0 < view["masked_pixels"] < view["hit_pixels"]  # the cylinder is hit but not masked
        assert view["mask_mismatch"] <= MAX_MASK_MISMATCH


def test_the_two_methods_give_the_same_maps(result: dict) -> None:
    agreement = result["method_agreement"]["emission"]
    assert agreement["hit_mismatch"] == 0
    assert agreement["mask_mismatch"] == 0
    assert agreement["max_relative_depth_difference"] < 1e-5


def test_colour_has_alpha_transparent_background_and_opaque_objects(result: dict) -> None:
    for view in result["views"]:
        assert view["png_color_type"] == 6  # RGBA
        assert view["background_pixels_checked"] > 100 and view["interior_pixels_checked"] > 50
        assert view["alpha_background_max"] == 0  # 2 px clear of any object
        assert view["alpha_interior_min"] == 255  # 2 px inside the objects
    assert result["opaque_color_type"] == 2  # transparent_background=False: RGB
    assert not result["opaque_has_depth"]


def test_scene_settings_are_restored(result: dict) -> None:
    before, after = result["before"], result["after"]
    assert before["pass_index"]["Cube"] == 3 and before["pass_index"]["Cylinder"] == 7
    assert before["use_dof"] == [False, True, False, False]
    assert after == before
    assert "simulated failure" in result["failure"]  # the second view's data render fails
    assert result["after_failure"] == before


def test_depth_does_not_clip_at_100_m(result: dict) -> None:
    assert result["far_hit_pixels"] > 0
    assert result["far_centre_depth"] == pytest.approx(100.0, rel=1e-5)
    assert result["far_max_depth"] == pytest.approx(100.0, rel=1e-4)  # the near face, square to the view


@pytest.mark.parametrize("kind", ["ORBIT", "HEMISPHERE", "SPHERE"])
@pytest.mark.parametrize("count", [1, 7, 24])
def test_rig_kinds(result: dict, kind: str, count: int) -> None:
    rig = result["rigs"][f"{kind}/{count}"]
    low, high = result["rig_bands"][kind]
    assert rig["count"] == rig["in_collection"] == count
    assert rig["max_aim_error_deg"] < 1e-3
    assert rig["distance_range"] == pytest.approx([5.0, 5.0], abs=1e-4)
    assert low - 1e-3 <= rig["elevation_range"][0] <= rig["elevation_range"][1] <= high + 1e-3
    if count == 24 and kind != "ORBIT":  # the spiral spreads over most of its band
        assert rig["elevation_range"][1] - rig["elevation_range"][0] > 0.8 * (high - low)
