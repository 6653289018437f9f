"""The capture's surfaces (scripts/surfaces_capture.py): world positions and UVs of known meshes, the
active UV map, a generated UV map that leaves the artist's object untouched, and a file the server reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bpy_helpers import run_bpy_script

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("surfaces")
    home = tmp_path_factory.mktemp("blender-user")
    return run_bpy_script("surfaces_capture.py", str(work), home=Path(home))


def test_the_file_is_the_contracts_npz_without_objects(result: dict) -> None:
    assert result["names"] == ["Cube", "NoUV", "Plane"]  # meshes only (the light is left out), by name
    assert result["names_dtype"] == "U" and result["dtypes"] == ["float32"]
    assert result["files"] == sorted(
        ["names", *(f"{kind}_{k}" for k in range(3) for kind in ("positions", "uvs"))]
    )
    with np.load(result["path"], allow_pickle=False) as data:  # no pickle needed
        assert data["positions_2"].shape == (2, 3, 3) and data["uvs_2"].shape == (2, 3, 2)


def test_the_server_reads_it(result: dict) -> None:
    """The server's own validation (size limits, finite numbers, names) accepts the file as written."""
    server_surfaces = pytest.importorskip("in2n_server.engine.surfaces")
    read = server_surfaces.read_surfaces(Path(result["path"]))
    assert [(s.name, s.triangles) for s in read] == [("Cube", 48), ("NoUV", 24), ("Plane", 2)]


def test_plane_corners_and_uvs_match_the_hand_computed_ones(result: dict) -> None:
    assert result["plane_max_error"] < 1e-6
    assert result["objects"]["Plane"] == {"triangles": 2, "max_position_error": 0.0, "max_uv_error": 0.0}


def test_modifiers_are_applied_and_the_active_uv_map_is_used(result: dict) -> None:
    """Subdivision level 1 makes 24 quads of the cube's 6; the UVs are the active map "Second"."""
    assert result["uv_maps"]["Cube"] == "Second"
    cube = result["objects"]["Cube"]
    assert cube["triangles"] == 48
    assert cube["max_position_error"] < 1e-6 and cube["max_uv_error"] < 1e-7


def test_a_mesh_without_uvs_gets_a_generated_map_and_stays_untouched(result: dict) -> None:
    assert result["uv_maps"]["NoUV"] == ""  # recorded as generated, for Apply as Textures
    no_uv = result["objects"]["NoUV"]
    assert no_uv["triangles"] == 24  # the Array modifier's two boxes
    assert no_uv["max_position_error"] < 1e-6
    assert no_uv["uv_range"][0] >= 0.0 and no_uv["uv_range"][1] <= 1.0 and no_uv["distinct_uvs"] > 8
    assert no_uv["same_uvs_again"]  # what the apply step relies on
    assert no_uv["uv_layers_on_original"] == 0
    assert result["fingerprints"] == 8  # 3 objects, 3 meshes, 2 materials
    assert result["fingerprints_changed"] == []
    assert result["state_after"] == result["state_before"]  # selection, active object, nothing left over


def test_it_is_fast_and_refuses_nothing_to_texture(result: dict) -> None:
    assert result["grid_triangles"] == 180_000
    assert result["grid_seconds"] < 2.0  # foreach_get, no per-triangle Python (measured 0.08 s)
    assert "mesh objects" in result["refusal"]
