"""Apply as Textures (scripts/apply_textures.py) from a zip made by the server's own writer."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from bpy_helpers import run_bpy_script

from in2n_server.export import writers

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

SIZE = 64
# Each object's texture, one sRGB colour, and its triangles after modifiers.
COLOURS = {
    "Cube": ((0.1, 0.3, 0.9), 12),
    "Plane": ((0.2, 0.8, 0.2), 2),
    "Emitter": ((0.9, 0.9, 0.1), 2),
    "NoUV": ((0.9, 0.1, 0.8), 24),
    "Ghost": ((0.5, 0.5, 0.5), 2),  # not in the Blender file
}


def textures_zip(folder: Path, lighting: str = "removed") -> Path:
    """A textures export as the server writes it: one flat colour per object."""
    objects = [
        SimpleNamespace(
            name=name,
            image=np.tile(np.array(colour, np.float64), (SIZE, SIZE, 1)),
            triangles=triangles,
            texels=SIZE * SIZE,
            seen_share=1.0,
            visible_seen_share=1.0,
            filled_share=0.0,
            outside_uv_share=0.0,
        )
        for name, (colour, triangles) in COLOURS.items()
    ]
    path = folder / "textures.zip"
    path.write_bytes(writers.textures_zip(SimpleNamespace(size=SIZE, lighting=lighting, objects=objects)))
    return path


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("apply")
    home = tmp_path_factory.mktemp("blender-user")
    return run_bpy_script("apply_textures.py", str(work), str(textures_zip(work)), home=Path(home))


def test_the_originals_stay_byte_identical(result: dict) -> None:
    assert result["fingerprints"] == 11  # 4 objects, 4 meshes, 2 materials, 1 image
    assert result["changed"] == []
    assert result["changed_after_reload"] == []


def test_each_object_gets_a_textured_duplicate_in_the_results(result: dict) -> None:
    assert sorted(result["duplicates"]) == ["Cube", "Emitter", "NoUV", "Plane"]
    assert result["warnings"] == ["no mesh object named 'Ghost' in this file; skipped"]
    for source, duplicate in result["duplicates"].items():
        assert duplicate["name"] == f"{source} (In2N)"
        assert duplicate["collections"] == ["In2N Results"]
        assert duplicate["mesh_is_copy"] and duplicate["matrix_equal"]
        assert duplicate["base_colour_images"] == [f"In2N {source}"]
        assert duplicate["image_packed"]
        assert duplicate["uvs_equal_capture"], source  # the bake's UVs, generated ones included
    assert result["duplicates"]["NoUV"]["modifiers"] == ["ARRAY"]
    assert result["duplicates"]["NoUV"]["uv_map"] == "In2N UV"
    assert result["duplicates"]["Cube"]["materials"] == ["Material (In2N)"]  # a copy of the original's
    assert result["duplicates"]["Plane"]["materials"] == ["Plane (In2N)"]  # no material: a new one
    assert result["duplicates"]["Emitter"]["materials"] == ["Emitter (In2N)"]  # no Principled: a new one
    assert result["duplicates_after_second_apply"] == ["Cube", "Emitter", "NoUV", "Plane"]


def test_the_duplicates_render_with_the_textures_colours(result: dict) -> None:
    """Under a uniform white world, a rough Principled surface shows about its base colour."""
    edited, original = np.array(result["edited_centre"]), np.array(result["original_centre"])
    assert np.abs(edited - COLOURS["Cube"][0]).max() < 0.2, edited  # measured 0.15 (the glossy part)
    assert edited[2] > 0.7 and edited[0] < 0.3  # blue, where the original is red
    assert original[0] > 0.7 and original[2] < 0.4, original


def test_the_images_survive_save_and_reload(result: dict) -> None:
    for name, source in (("In2N Cube", "Cube"), ("In2N NoUV", "NoUV")):
        image = result["reloaded"][name]
        assert image["packed"] and image["size"] == [SIZE, SIZE] and image["users"] >= 1
        expected = np.floor(np.array(COLOURS[source][0]) * 255 + 0.5) / 255
        assert image["first_pixel"] == pytest.approx(expected, abs=1e-6)
    assert result["duplicates_after_reload"] == [
        "Cube (In2N)",
        "Emitter (In2N)",
        "NoUV (In2N)",
        "Plane (In2N)",
    ]
