"""Capture for Textures, a tiny edit on a real server, Apply as Textures (scripts/end_to_end_textures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bpy_helpers import run_bpy_script

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier


@pytest.fixture(scope="module")
def result(extension_zip: Path, tmp_path_factory: pytest.TempPathFactory, in2n_server: dict) -> dict:
    home = Path(tmp_path_factory.mktemp("blender-user"))
    return run_bpy_script(
        "end_to_end_textures.py", str(extension_zip), str(in2n_server["port"]), home=home, timeout=1800
    )


def test_the_capture_uploads_surfaces_and_light_maps_and_the_job_completes(result: dict) -> None:
    assert result["error"] == "" and result["state"] == "completed"
    assert result["scene"] == {"num_images": 8, "width": 32, "height": 32}
    assert result["uv_maps"] == {"Box": "", "Cube": "UVMap"}
    assert result["manifest"]["lighting"] == "removed"  # a Cycles capture with light maps
    assert result["manifest"]["texture_size"] == 64


def test_apply_as_textures_puts_textured_duplicates_beside_untouched_originals(result: dict) -> None:
    assert result["changed"] == [] and result["fingerprints"] == 5  # 2 objects, 2 meshes, 1 material
    assert sorted(result["duplicates"]) == ["Box", "Cube"]
    for source, duplicate in result["duplicates"].items():
        assert duplicate["name"] == f"{source} (In2N)" and duplicate["packed"]
        assert duplicate["image"] == f"In2N {source}"
    for entry in result["manifest"]["objects"]:
        assert entry["seen_share"] > 0.5, entry  # 8 views of 32 px see most of each object


def test_the_duplicates_render_in_place_with_the_new_images(result: dict) -> None:
    """The duplicates cover the originals' silhouette (same geometry, same place) with other colours."""
    assert result["covered_pixels"] > 50
    assert abs(result["edited_silhouette"] - result["original_silhouette"]) <= 2
    assert result["mean_difference"] > 0.01
