"""The extension on every Blender the manifest promises: install, capture, preview, import, unregister.

One cell per line of scripts/blender_versions.txt (the oldest LTS, the newest 4.x LTS, the project's own
5.0.1 and the newest release), each in the virtual environment `scripts/setup.sh` made for it. The export
files are written by the server's own writers, so each import reads what a real job sends back.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from bpy_helpers import BlenderVersion, blender_versions, run_bpy_script

from in2n_server.export import writers
from in2n_server.export.splats import Splats
from in2n_server.export.textured_mesh import TexturedMesh
from in2n_server.export.uv_atlas import unwrap

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

REPO = Path(__file__).resolve().parents[2]
VERSIONS = blender_versions()
CUBE_BOUNDS = ([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def export_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per export kind and format, on the default cube's surface."""
    folder = tmp_path_factory.mktemp("exports")
    rng = np.random.default_rng(0)
    points = rng.uniform(-1.0, 1.0, (2000, 3)).astype(np.float32)
    axis = rng.integers(0, 3, len(points))
    points[np.arange(len(points)), axis] = np.sign(rng.uniform(-1.0, 1.0, len(points)))
    colors = rng.uniform(0.0, 1.0, (len(points), 3)).astype(np.float32)
    files = {"point_cloud:ply": writers.write_point_cloud(folder / "cloud.ply", points, colors)}
    corners = np.array([(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float32)
    faces = np.array(
        [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1)]
        + [(2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)]
    )
    vertex_colors = np.tile(np.array([[0.8, 0.4, 0.2]], np.float32), (8, 1))
    for file_format in ("ply", "obj", "glb"):
        path = folder / f"mesh.{file_format}"
        files[f"mesh:{file_format}"] = writers.write_mesh(path, corners, faces, vertex_colors, file_format)
    atlas = unwrap(corners, faces, 64)
    image = np.tile(np.array([0.8, 0.4, 0.2]), (64, 64, 1))
    textured = TexturedMesh(atlas.vertices, atlas.faces, atlas.uvs, image, 1.0)
    for file_format in ("obj", "glb"):  # the textured mesh: an OBJ zip with MTL + PNG, a GLB with the PNG
        path = folder / f"textured.{file_format}"
        files[f"mesh:textured-{file_format}"] = writers.write_textured_mesh(path, textured, file_format)
    files["splats:ply"] = writers.write_splats(folder / "splats.ply", _splats(points[:SPLATS]))
    return files


SPLATS = 500
SPLAT_SIGMA = 0.02
SPLAT_COLOUR = (0.8, 0.4, 0.2)  # sRGB


def _splats(points: np.ndarray) -> Splats:
    """Flat splats on the cube's faces, all one colour and size, facing +z (identity rotation)."""
    count = len(points)
    return Splats(
        positions=points,
        normals=np.tile([0.0, 0.0, 1.0], (count, 1)),
        colors=np.tile(SPLAT_COLOUR, (count, 1)),
        opacities=np.full(count, 0.9),
        sigmas=np.tile([SPLAT_SIGMA, SPLAT_SIGMA, SPLAT_SIGMA / 20], (count, 1)),
        rotations=np.tile([1.0, 0.0, 0.0, 0.0], (count, 1)),
        sh_rest=np.zeros((count, 3, 0)),
    )


TEXTURE_COLOURS = {"Cube": (0.1, 0.3, 0.9), "Box": (0.9, 0.1, 0.8)}  # sRGB, one flat colour per texture


@pytest.fixture(scope="module")
def textures_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A textures export as the server writes it, for the cube and a box without a UV map."""
    objects = [
        SimpleNamespace(
            name=name,
            image=np.tile(np.array(colour), (64, 64, 1)),
            triangles=12,
            texels=4096,
            seen_share=1.0,
            visible_seen_share=1.0,
            filled_share=0.0,
            outside_uv_share=0.0,
        )
        for name, colour in TEXTURE_COLOURS.items()
    ]
    path = tmp_path_factory.mktemp("textures") / "textures.zip"
    path.write_bytes(writers.textures_zip(SimpleNamespace(size=64, lighting="removed", objects=objects)))
    return path


def cell_id(version: BlenderVersion) -> str:
    return f"bpy-{version.bpy}"


@pytest.fixture(scope="module", params=VERSIONS, ids=cell_id)
def cell(
    request: pytest.FixtureRequest,
    extension_zip: Path,
    export_files: dict[str, Path],
    textures_zip: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict:
    version: BlenderVersion = request.param
    if not version.interpreter.exists():
        pytest.fail(
            f"{version.venv} (bpy {version.bpy}, Python {version.python}) is missing: run scripts/setup.sh"
            f" (it needs Python {version.python}; setup says how to get it)"
        )
    home = Path(tmp_path_factory.mktemp(f"blender-user-{version.bpy}"))
    exports = [f"{label}={path}" for label, path in export_files.items()] + [f"textures={textures_zip}"]
    result = run_bpy_script(
        "version_matrix.py", str(extension_zip), *exports, home=home, python=version.interpreter, timeout=300
    )
    result["expected_version"] = version.bpy
    return result


def test_the_cell_runs_the_version_it_names(cell: dict) -> None:
    assert cell["version"] == cell["expected_version"]
    assert cell["native_splats"] == (tuple(map(int, cell["version"].split("."))) >= (5, 3, 0))
    text = (REPO / "docs" / "blender.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith(f"| {cell['version']} "))
    assert cell["data_method"] in row.split("|")[3]  # the table says which data pass method ran
    lights = "yes" if not cell["texture_capture"]["lights_reason"] else "no"
    assert row.split("|")[4].strip().startswith(lights)  # and whether the capture has light passes


def test_install_register_and_unregister(cell: dict) -> None:
    before, after = cell["before"], cell["after"]
    assert before["enabled"] and before["scene_prop"]
    assert len(before["panels"]) >= 7
    assert after == {"panels": [], "scene_prop": False, "threads": [], "enabled": False}


def test_capture_colour_alpha_masks_and_depth_match_ray_casts(cell: dict) -> None:
    assert len(cell["views"]) == 2
    for view in cell["views"]:
        assert view["depth_shape"] == [24, 32]
        assert view["hit_pixels"] > 30
        assert view["hit_mismatch"] == 0
        assert view["background_depth_nonzero"] == 0
        assert view["over_rtol_unexplained"] == 0
        assert view["max_relative_depth_error"] < 1e-3
        assert 0 < view["masked_pixels"] < view["hit_pixels"]  # the sphere is hit, not masked
        assert view["mask_mismatch"] <= 3
        assert view["png_color_type"] == 6
        assert view["alpha_background_max"] == 0 and view["alpha_interior_min"] == 255


def test_preview_shows_in_place(cell: dict) -> None:
    assert cell["preview"] == {"size": [16, 12], "first_pixel": [0.0, 0.0, 1.0, 1.0]}


def test_every_export_kind_imports_in_place(cell: dict, export_files: dict[str, Path]) -> None:
    imports = cell["imports"]
    assert set(imports) == set(export_files)
    cloud = imports["point_cloud:ply"]
    assert cloud["collection"] == ["In2N Results"]
    assert cloud["modifiers"] == ["NODES"] and cloud["evaluated_points"] == 2000
    assert cloud["radius_input"][0] > 0  # the modifier input was set (5.3 refused the old way)
    splats = imports["splats:ply"]
    assert splats["collection"] == ["In2N Results"]
    if cell["native_splats"]:  # 5.3 and later: a GAUSSIAN_SPLAT point cloud, values as written
        assert splats["type"] == "POINTCLOUD" and splats["splat_type"] == "GAUSSIAN_SPLAT"
        assert splats["vertices"] == SPLATS
        assert splats["scale"] == pytest.approx([SPLAT_SIGMA, SPLAT_SIGMA, SPLAT_SIGMA / 20], rel=1e-4)
        # radiance:base keeps f_dc as written; the colour rendered is 0.5 + C0 * f_dc (sRGB)
        colour = [0.5 + writers.SH_C0 * f_dc for f_dc in splats["base_colour"]]
        assert colour == pytest.approx(SPLAT_COLOUR, abs=1e-4)
        assert splats["base_alpha"] == pytest.approx(0.9, abs=1e-4)  # the logit read back
        assert splats["rotation"] == pytest.approx([1.0, 0.0, 0.0, 0.0], abs=1e-6)
    else:  # older: points coloured by the splats' base colour
        assert splats["type"] == "MESH" and splats["evaluated_points"] == SPLATS
    for label in ("mesh:ply", "mesh:obj", "mesh:glb"):
        mesh = imports[label]
        assert mesh["collection"] == ["In2N Results"], label
        assert mesh["faces"] == 12 and mesh["vertices"] == 8, label
        assert mesh["materials"] and mesh["images"] == [], label
    for label in ("mesh:textured-obj", "mesh:textured-glb"):
        mesh = imports[label]
        assert mesh["collection"] == ["In2N Results"], label
        assert mesh["faces"] == 12 and mesh["vertices"] >= 8, label  # split along the UV seams
        assert mesh["materials"] and mesh["images"] == [[64, 64]], label
    for label, result in imports.items():
        for axis in range(3):
            assert result["bounds"][0][axis] == pytest.approx(CUBE_BOUNDS[0][axis], abs=0.05), label
            assert result["bounds"][1][axis] == pytest.approx(CUBE_BOUNDS[1][axis], abs=0.05), label


def test_capture_for_textures_and_apply_as_textures(cell: dict) -> None:
    """Surfaces on every version (a generated UV map for the box), light maps where OpenImageIO is;
    textured duplicates with the capture's UVs, the originals untouched, the images packed."""
    textured = cell["texture_capture"]
    assert textured["transforms_surfaces"] == "surfaces.npz"
    assert textured["names"] == ["Box", "Cube"]
    assert textured["triangles"] == {"Box": 12, "Cube": 12}
    assert textured["uv_maps"] == {"Box": "", "Cube": "UVMap"}
    assert textured["png_color_type"] == 6
    if cell["data_method"] == "multilayer":  # OpenImageIO: light passes
        assert textured["lights_reason"] == ""
        assert textured["light_paths"] == ["lights/0000.npy"]
        assert textured["light_shape"] == [24, 32, 6] and textured["light_dtype"] == "float16"
        assert textured["diffuse_light_max"] > 0.0
    else:  # the reason is named, and the capture goes on without light maps
        assert "OpenImageIO" in textured["lights_reason"]
        assert textured["light_paths"] == [None]
    assert textured["originals_changed"] == [] and textured["warnings"] == []
    for name in TEXTURE_COLOURS:
        duplicate = textured["duplicates"][name]
        assert duplicate["collections"] == ["In2N Results"]
        assert duplicate["uvs_equal_capture"], name
        assert duplicate["image"] == f"In2N {name}"
        reloaded = cell["reloaded"][f"In2N {name}"]
        assert reloaded["packed"]
        expected = np.floor(np.array(TEXTURE_COLOURS[name]) * 255 + 0.5) / 255
        assert reloaded["first_pixel"] == pytest.approx(expected, abs=1e-6)


def test_docs_table_lists_the_matrix_and_each_cells_data_method() -> None:
    """docs/blender.md's version table has one row per cell, in order, with the method each one uses."""
    text = (REPO / "docs" / "blender.md").read_text()
    table = text.split("<!-- version-matrix -->")[1].split("<!-- /version-matrix -->")[0]
    rows = [line.split("|")[1:-1] for line in table.strip().splitlines()[2:]]
    assert [row[0].split()[0] for row in rows] == [version.bpy for version in VERSIONS]
    assert [row[1].strip() for row in rows] == [version.python for version in VERSIONS]
