"""The extension's *Mesh* import of the server's mesh files: a textured GLB and an OBJ zip (OBJ + MTL + PNG)
land where the mesh was, show their texture through the right UVs, unlit (a render shows the PNG's own
values), and keep it (packed) after save and reload; vertex-coloured GLB and OBJ zip show their colours.

The files are written by the server's own writers, from a sphere off the origin whose texture is a known
colour function of the 3D point (exact: no views), so a wrong axis, a flipped V or a lit material shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bpy_helpers import run_bpy_script

from in2n_server.export import texture_bake as tb
from in2n_server.export.textured_mesh import TexturedMesh
from in2n_server.export.uv_atlas import unwrap
from in2n_server.export.writers import write_mesh, write_textured_mesh

pytestmark = pytest.mark.slow  # starts Blender: not in the fast tier

CENTRE = np.array([2.0, -1.0, 3.0])
RADIUS = 0.8
SIZE = 128


def colour_of(points: np.ndarray) -> np.ndarray:
    """A smooth known colour (sRGB, every channel in 0.1..0.9) of a 3D point."""
    x, y, z = (np.asarray(points) - CENTRE).T / RADIUS
    return 0.5 + 0.4 * np.stack([np.sin(3 * x), np.cos(2 * y + z), np.sin(2 * z - x)], -1)


def textured_sphere() -> TexturedMesh:
    """A sphere off the origin, unwrapped by xatlas, its texture the colour function at every texel."""
    import open3d as o3d

    sphere = o3d.geometry.TriangleMesh.create_sphere(RADIUS, resolution=24)
    vertices = np.asarray(sphere.vertices) + CENTRE
    atlas = unwrap(vertices, np.asarray(sphere.triangles), SIZE)
    texels = tb.rasterise_uv(atlas.vertices[atlas.faces], atlas.uvs[atlas.faces], SIZE)
    exact = tb.Gathered(colour_of(texels.points), np.ones(texels.count), np.ones(texels.count, bool))
    image = tb.texture_image(texels, exact).image
    return TexturedMesh(atlas.vertices, atlas.faces, atlas.uvs, image, 1.0)


@pytest.fixture(scope="module")
def mesh() -> TexturedMesh:
    return textured_sphere()


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory, mesh: TexturedMesh) -> dict:
    folder = tmp_path_factory.mktemp("mesh-files")
    colours = colour_of(mesh.vertices)
    files = {
        "textured:glb": write_textured_mesh(folder / "t-mesh.glb", mesh, "glb"),
        "textured:obj": write_textured_mesh(folder / "t-mesh.obj", mesh, "obj"),
        "vertex:glb": write_mesh(folder / "v-mesh.glb", mesh.vertices, mesh.faces, colours, "glb"),
        "vertex:obj": write_mesh(folder / "v-mesh.obj", mesh.vertices, mesh.faces, colours, "obj"),
    }
    assert files["textured:obj"].name == "t-mesh.obj.zip"
    out = tmp_path_factory.mktemp("mesh-import")
    arguments = [f"{label}={path}" for label, path in files.items()]
    home = tmp_path_factory.mktemp("blender-user")
    return run_bpy_script("mesh_import.py", str(out), *arguments, home=Path(home), timeout=300)


LABELS = ("textured:glb", "textured:obj", "vertex:glb", "vertex:obj")


@pytest.mark.parametrize("label", LABELS)
def test_the_mesh_lands_where_it_was(result: dict, mesh: TexturedMesh, label: str) -> None:
    imported = result["imports"][label]
    assert imported["collection"] == ["In2N Results"]
    assert imported["faces"] == len(mesh.faces)
    low, high = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    assert np.allclose(imported["bounds"][0], low, atol=1e-4)
    assert np.allclose(imported["bounds"][1], high, atol=1e-4)


@pytest.mark.parametrize("label", LABELS)
def test_the_material_shows_the_known_colour_at_each_point(result: dict, label: str) -> None:
    imported = result["imports"][label]
    material = imported["material"]
    assert material["names"] == [f"Mesh {label} Material"]
    assert {"EMISSION", "LIGHT_PATH", "MIX_SHADER", "BSDF_DIFFUSE"} <= set(material["node_types"])
    if label.startswith("textured"):
        assert material["image"]["size"] == [SIZE, SIZE] and material["image"]["packed"]
    else:
        assert material["image"] is None and "ATTRIBUTE" in material["node_types"]
    error = np.abs(np.array(imported["colours"]) - colour_of(np.array(imported["positions"]))).max(axis=1)
    # a texel's colour is exact at its centre; a loop's UV sits anywhere in it (one texel: ~0.02 here)
    assert np.median(error) < 0.02 and np.percentile(error, 95) < 0.05, np.percentile(error, [50, 95, 100])


@pytest.mark.parametrize("label", LABELS)
def test_a_render_shows_the_colour_unlit(result: dict, label: str) -> None:
    render = result["imports"][label]["render"]
    assert render["hit"]
    expected = colour_of(np.array([render["location"]]))[0]
    # no light in the scene: a lit material would render black
    assert np.abs(np.array(render["pixel"]) - expected).max() < 0.04, (render["pixel"], expected)


def test_the_textures_stay_packed_after_save_and_reload(result: dict) -> None:
    for label in ("textured:glb", "textured:obj"):
        reloaded = result["reloaded"][label]
        assert reloaded["image_size"] == [SIZE, SIZE] and reloaded["pixel_mean"] > 0.2, label
    assert not any(name.startswith("Mesh ") for name in result["orphan_materials"])
    assert result["orphan_materials"] == []  # the importers' own materials were removed
