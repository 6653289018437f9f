"""Light passes of a capture (scripts/light_passes.py): a lit Cycles scene at 32x24, 8 samples, no denoiser.

Cycles composes Combined as DiffCol x (DiffDir + DiffInd) + GlossCol x (GlossDir + GlossInd) here (no
emission, transmission or volume), so the light maps carry what the bake divides out; the capture's PNG is
byte for byte what Blender writes through the Standard view.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bpy_helpers import run_bpy_script

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_bpy_script("light_passes.py", home=Path(tmp_path_factory.mktemp("blender-user")))


def test_combined_is_diffuse_colour_times_light_plus_glossy(result: dict) -> None:
    for view in result["views"]:
        assert view["covered_pixels"] > 300
        assert view["glossy_mean"] > 0.01  # the scene has a glossy part to carry
        assert view["max_residual"] < 1e-4 * max(1.0, view["combined_mean"])  # measured 2.7e-7


def test_each_view_carries_its_light_map(result: dict) -> None:
    assert result["lights"] == ["lights/0000.npy", "lights/0001.npy"]
    assert [frame["light_path"] for frame in result["frames"]] == result["lights"]
    assert result["surfaces"] == "surfaces.npz"
    for view in result["views"]:
        assert view["lights_dtype"] == "float16" and view["lights_shape"] == [24, 32, 6]
        assert view["lights_min"] >= 0.0
        assert view["lights_equal_passes"] and view["png_equal_passes"]
    assert result["leftover_exr"] == []


def test_the_png_is_blenders_own_standard_view_png(result: dict) -> None:
    """The scene shows AgX; the PNG is the Standard view's, within 1/255 of Blender's (measured: equal)."""
    assert result["png_shapes"][0] == result["png_shapes"][1] == [24, 32, 4]
    assert result["png_max_difference"] <= 1
    assert result["oetf_check"] == pytest.approx([0.0, 0.0404500, 0.4613561, 1.0, 1.0], abs=1e-6)


def test_scene_settings_are_restored(result: dict) -> None:
    assert result["after"] == result["before"]
    assert result["before"]["view_transform"] == "AgX"


def test_eevee_is_refused_with_the_reason(result: dict) -> None:
    assert "need Cycles" in result["refusal"] and "EEVEE" in result["refusal"]
