"""The textured mesh export: decimation, xatlas unwrap and bake reproduce a known colour, and the files
(GLB with its texture, a zip of OBJ + MTL + PNG) hold what the bake made, where the scene had it.

The views are ray cast (open3d) against the mesh itself with a known colour function of the 3D point,
so a bake that maps texels to the wrong points, or UVs to the wrong texels, shows as colour error.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from test_export_geometry import CENTRE, RADIUS, SphereScene, look_at

from in2n_server.engine.geometry import world_points
from in2n_server.engine.types import CameraSpec, RenderResult
from in2n_server.export import texture_bake as tb
from in2n_server.export.backproject import SurfaceView
from in2n_server.export.decimate import decimate
from in2n_server.export.run import export_geometry
from in2n_server.export.textured_mesh import MeshDepth, TexturedMesh, bake_atlas, textured_mesh
from in2n_server.export.textures import ViewInputs, bake_view
from in2n_server.export.uv_atlas import unwrap
from in2n_server.export.writers import (
    SCENE_TO_GLTF,
    mesh_bytes,
    mesh_file,
    textured_mesh_bytes,
    write_textured_mesh,
)

SIZE = 256  # texels
VIEW = 96  # px


def colour_of(points: np.ndarray) -> np.ndarray:
    """A smooth known colour (sRGB, every channel in 0.1..0.9) of a 3D point."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    return 0.5 + 0.4 * np.stack([np.sin(3 * x), np.cos(2 * y + z), np.sin(2 * z - x)], -1)


def sphere(resolution: int = 40) -> tuple[np.ndarray, np.ndarray]:
    import open3d as o3d

    mesh = o3d.geometry.TriangleMesh.create_sphere(1.0, resolution=resolution)
    return np.asarray(mesh.vertices, np.float64), np.asarray(mesh.triangles, np.int64)


def exact_views(vertices: np.ndarray, faces: np.ndarray, count: int = 24) -> list[tb.BakeView]:
    """Linear colour and exact z-depth of the mesh from `count` cameras around it."""
    depth_of = MeshDepth(vertices, faces)
    views = []
    for i in range(count):
        angle = 2 * math.pi * i / count
        position = 4.0 * np.array([math.cos(angle), 0.6 * math.sin(3 * angle), math.sin(angle)])
        pose = look_at(position, np.zeros(3), np.array([0.1, 1.0, 0.2]))
        camera = CameraSpec(100.0, 100.0, VIEW / 2, VIEW / 2, VIEW, VIEW, pose)
        depth = depth_of(camera)
        seen = depth > 0
        rgb = np.where(seen[..., None], colour_of(world_points(camera, depth)), 1.0)
        views.append(tb.BakeView(camera, tb.srgb_to_linear(rgb), depth, seen.astype(float), exact_depth=True))
    return views


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(-10 * np.log10(np.mean((a - b) ** 2)))


@pytest.fixture(scope="module")
def baked() -> TexturedMesh:
    vertices, faces = sphere()
    vertices, faces, _ = decimate(vertices, faces, np.zeros_like(vertices), 2000)
    return bake_atlas(unwrap(vertices, faces, SIZE), exact_views(vertices, faces), SIZE)


def test_mesh_depth_is_the_z_depth_of_the_triangles() -> None:
    plane = np.array([[-10.0, -10.0, 0.0], [10.0, -10.0, 0.0], [0.0, 10.0, 0.0]])
    camera = CameraSpec(
        20.0, 20.0, 8.0, 6.0, 16, 12, look_at(np.array([0.0, 0.0, 5.0]), np.zeros(3), np.eye(3)[1])
    )
    assert np.allclose(MeshDepth(plane, np.array([[0, 1, 2]]))(camera), 5.0, atol=1e-5)
    tilted = CameraSpec(
        20.0, 20.0, 8.0, 6.0, 16, 12, look_at(np.array([0.0, 3.0, 4.0]), np.zeros(3), np.eye(3)[1])
    )
    depth = MeshDepth(plane, np.array([[0, 1, 2]]))(tilted)
    points = world_points(tilted, depth)
    assert np.abs(points[..., 2]).max() < 1e-4  # every pixel's point lies on the plane
    assert (depth > 0).all() and depth[-1].mean() > depth[0].mean()  # the lower rows look flatter: farther


def test_decimation_keeps_the_budget_the_shape_and_the_colours() -> None:
    vertices, faces = sphere()
    colours = np.tile([[0.2, 0.6, 0.9]], (len(vertices), 1))
    assert decimate(vertices, faces, colours, len(faces))[1] is faces  # within budget: as it is
    small_v, small_f, small_c = decimate(vertices, faces, colours, 500)
    assert 400 <= len(small_f) <= 500 and len(small_v) == len(small_c) < len(vertices)
    assert np.abs(np.linalg.norm(small_v, axis=1) - 1.0).max() < 0.02  # still the sphere
    assert np.allclose(small_c, [0.2, 0.6, 0.9], atol=1e-6)
    assert small_f.max() < len(small_v)


def test_the_atlas_is_one_square_of_non_overlapping_charts_with_even_texel_density() -> None:
    vertices, faces = sphere()
    atlas = unwrap(vertices, faces, SIZE)
    assert len(atlas.faces) == len(faces) and atlas.charts >= 2  # a sphere cannot be flattened whole
    assert np.array_equal(atlas.vertices, vertices[atlas.source])
    # the faces are the input's, each corner a copy of the same input vertex
    assert np.array_equal(atlas.source[atlas.faces], faces)
    assert atlas.uvs.min() >= 0.0 and atlas.uvs.max() <= 1.0
    corners = atlas.uvs[atlas.faces] * SIZE
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    uv_area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    texels = tb.rasterise_uv(atlas.vertices[atlas.faces], atlas.uvs[atlas.faces], SIZE)
    # no overlap: the texels covered (each counted once) are as many as the UV area holds
    assert texels.count == pytest.approx(uv_area.sum(), rel=0.03)
    assert 0.4 < texels.count / SIZE**2 < 0.8  # sized to fill the texture (TARGET_FILL), not a corner
    positions = vertices[faces]
    area = 0.5 * np.linalg.norm(
        np.cross(positions[:, 1] - positions[:, 0], positions[:, 2] - positions[:, 0]), axis=1
    )
    density = uv_area / area
    low, high = np.percentile(density, [5, 95])
    assert high / low < 2.0  # little stretch: texels cover the surface evenly


def test_a_bake_from_exact_views_reproduces_the_colour_at_every_texel(baked: TexturedMesh) -> None:
    assert baked.image.shape == (SIZE, SIZE, 3) and baked.seen_share >= 0.99
    texels = tb.rasterise_uv(baked.vertices[baked.faces], baked.uvs[baked.faces], SIZE)
    assert psnr(baked.image[texels.rows, texels.cols], colour_of(texels.points)) >= 40.0  # 60 measured
    # the same texture read through mirrored UVs is far off: the test sees a wrong mapping
    mirrored = np.stack([1.0 - baked.uvs[:, 0], baked.uvs[:, 1]], -1)
    wrong = tb.rasterise_uv(baked.vertices[baked.faces], mirrored[baked.faces], SIZE)
    assert psnr(baked.image[wrong.rows, wrong.cols], colour_of(wrong.points)) < 25.0


def plane_and_ball() -> tuple[np.ndarray, np.ndarray, list[SurfaceView]]:
    """A 2 x 2 plane (the mesh: 800 triangles) and, in the renders only, a red ball standing in front of it
    (as a `masked_only` mesh lacks what is not edited): 12 views from above, colour and exact depth."""
    import open3d as o3d

    grid = np.linspace(-1.0, 1.0, 21)
    xs, ys = np.meshgrid(grid, grid)
    vertices = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], 1)
    corner = (np.arange(20)[:, None] * 21 + np.arange(20)[None, :]).ravel()
    faces = np.concatenate(
        [np.stack([corner, corner + 1, corner + 22], 1), np.stack([corner, corner + 22, corner + 21], 1)]
    )
    ball = o3d.geometry.TriangleMesh.create_sphere(0.3, resolution=20)
    ball_vertices = np.asarray(ball.vertices) + [0.0, 0.0, 0.4]
    both = np.concatenate([vertices, ball_vertices])
    both_faces = np.concatenate([faces, np.asarray(ball.triangles) + len(vertices)])
    depth_of, on_plane = MeshDepth(both, both_faces), MeshDepth(vertices, faces)
    views = []
    for i in range(12):
        angle = 2 * math.pi * i / 12
        position = np.array([2.0 * math.cos(angle), 2.0 * math.sin(angle), 2.5])
        camera = CameraSpec(80.0, 80.0, 32.0, 32.0, 64, 64, look_at(position, np.zeros(3), np.eye(3)[2]))
        depth = depth_of(camera)
        plane = (depth > 0) & (np.abs(depth - on_plane(camera)) < 1e-4)
        rgb = np.where(plane[..., None], colour_of(world_points(camera, depth)), [0.9, 0.05, 0.05])
        render = RenderResult(
            rgb.astype(np.float32), depth.astype(np.float32), (depth > 0).astype(np.float32)
        )
        views.append(SurfaceView(camera, render, world_points(camera, depth), depth > 0))
    return vertices, faces, views


def test_what_stands_in_front_of_the_mesh_in_the_renders_is_not_baked_into_it() -> None:
    vertices, faces, views = plane_and_ball()
    baked = textured_mesh(vertices, faces, views, 128)
    texels = tb.rasterise_uv(baked.vertices[baked.faces], baked.uvs[baked.faces], 128)
    under = np.linalg.norm(texels.points[:, :2], axis=1) < 0.35  # what the ball hides from some views
    error = np.abs(baked.image[texels.rows, texels.cols] - colour_of(texels.points)).max(axis=1)
    assert (
        np.percentile(error[under], 99) < 0.1
        and psnr(baked.image[texels.rows, texels.cols], colour_of(texels.points)) > 35
    )
    # the mesh's depth alone (no test against the renders' depth) takes the ball's red
    alone = MeshDepth(vertices, faces)
    blind = [
        bake_view(ViewInputs(v.camera, alone(v.camera), None), v.render.rgb, v.render.accumulation)
        for v in views
    ]
    wrong = bake_atlas(unwrap(vertices, faces, 128), blind, 128)
    wrong_texels = tb.rasterise_uv(wrong.vertices[wrong.faces], wrong.uvs[wrong.faces], 128)
    wrong_under = np.linalg.norm(wrong_texels.points[:, :2], axis=1) < 0.35
    wrong_error = np.abs(
        wrong.image[wrong_texels.rows, wrong_texels.cols] - colour_of(wrong_texels.points)
    ).max(axis=1)
    assert np.percentile(wrong_error[wrong_under], 99) > 0.2


def glb_json_and_binary(data: bytes) -> tuple[dict, bytes]:
    assert data[:4] == b"glTF" and struct.unpack("<I", data[8:12])[0] == len(data)
    length = struct.unpack("<I", data[12:16])[0]
    document = json.loads(data[20 : 20 + length])
    binary = data[20 + length + 8 :]
    return document, binary


def accessor(document: dict, binary: bytes, index: int) -> np.ndarray:
    entry = document["accessors"][index]
    view = document["bufferViews"][entry["bufferView"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}[entry["type"]]
    dtype = {5126: np.float32, 5125: np.uint32}[entry["componentType"]]
    start = view.get("byteOffset", 0) + entry.get("byteOffset", 0)
    return np.frombuffer(binary, dtype, entry["count"] * width, start).reshape(entry["count"], width)


def test_the_glb_embeds_the_texture_with_gltf_uvs_in_the_gltf_frame(baked: TexturedMesh) -> None:
    document, binary = glb_json_and_binary(textured_mesh_bytes(baked, "glb"))
    (primitive,) = document["meshes"][0]["primitives"]
    positions = accessor(document, binary, primitive["attributes"]["POSITION"])
    assert np.allclose(positions, baked.vertices @ SCENE_TO_GLTF.T, atol=1e-6)
    # glTF puts the UV origin at the image's top left: V is flipped from the bake's (Blender's) convention
    uvs = accessor(document, binary, primitive["attributes"]["TEXCOORD_0"])
    assert np.allclose(uvs, np.stack([baked.uvs[:, 0], 1.0 - baked.uvs[:, 1]], -1), atol=1e-6)
    material = document["materials"][primitive["material"]]["pbrMetallicRoughness"]
    image_index = document["textures"][material["baseColorTexture"]["index"]]["source"]
    view = document["bufferViews"][document["images"][image_index]["bufferView"]]
    png = binary[view.get("byteOffset", 0) : view.get("byteOffset", 0) + view["byteLength"]]
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.float64) / 255.0
    assert image.shape == (SIZE, SIZE, 3) and np.abs(image - baked.image).max() <= 0.5 / 255 + 1e-9


def read_obj(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    rows = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    vertices = np.array([[float(v) for v in row[1:]] for row in rows if row[0] == "v"])
    uvs = np.array([[float(v) for v in row[1:]] for row in rows if row[0] == "vt"])
    faces = np.array([[int(c.split("/")[0]) - 1 for c in row[1:]] for row in rows if row[0] == "f"])
    return vertices, uvs, faces, [" ".join(row) for row in rows if row[0] in ("mtllib", "usemtl")]


def test_the_obj_zip_holds_obj_mtl_and_png_that_name_each_other(baked: TexturedMesh) -> None:
    with zipfile.ZipFile(io.BytesIO(textured_mesh_bytes(baked, "obj", name="job-mesh"))) as archive:
        assert sorted(archive.namelist()) == ["job-mesh.mtl", "job-mesh.obj", "job-mesh.png"]
        vertices, uvs, faces, material_lines = read_obj(archive.read("job-mesh.obj").decode())
        mtl = archive.read("job-mesh.mtl").decode().splitlines()
        image = np.asarray(Image.open(io.BytesIO(archive.read("job-mesh.png"))).convert("RGB")) / 255.0
    assert material_lines[0] == "mtllib job-mesh.mtl"
    used = material_lines[1].split()[1]
    assert f"newmtl {used}" in mtl and "map_Kd job-mesh.png" in mtl and "Kd 1 1 1" in mtl
    assert np.allclose(vertices, baked.vertices, atol=1e-5)  # scene frame, Z up: no conversion
    assert np.allclose(uvs, baked.uvs, atol=1e-6)  # OBJ's V points up, as the bake's
    assert np.array_equal(faces, baked.faces)
    assert np.abs(image - baked.image).max() <= 0.5 / 255 + 1e-9


def test_the_vertex_coloured_obj_zip_holds_the_obj_alone() -> None:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    faces = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    colours = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float)
    with zipfile.ZipFile(io.BytesIO(mesh_bytes(vertices, faces, colours, "obj", name="m"))) as archive:
        assert archive.namelist() == ["m.obj"]
        read, _, read_faces, material_lines = read_obj(archive.read("m.obj").decode())
    assert np.allclose(read, np.concatenate([vertices, colours], 1)) and np.array_equal(read_faces, faces)
    assert material_lines == []


def test_only_the_obj_changes_its_file_name() -> None:
    assert mesh_file(Path("/x/j-mesh.obj"), "obj") == Path("/x/j-mesh.obj.zip")
    assert mesh_file(Path("/x/j-mesh.glb"), "glb") == Path("/x/j-mesh.glb")
    assert mesh_file(Path("/x/j-mesh.ply"), "ply") == Path("/x/j-mesh.ply")


def test_write_textured_mesh_puts_the_obj_zip_next_to_the_path(tmp_path, baked: TexturedMesh) -> None:
    written = write_textured_mesh(tmp_path / "job-mesh.obj", baked, "obj")
    assert written == tmp_path / "job-mesh.obj.zip" and zipfile.is_zipfile(written)
    assert not (tmp_path / "job-mesh.obj").exists()


class RedSphere(SphereScene):
    """SphereScene with a second colour: the upper half (world y above the centre) is blue."""

    def render(self, camera: CameraSpec):
        result = super().render(camera)
        world = world_points(camera, result.depth)
        upper = (result.depth > 0) & (world[..., 1] > CENTRE[1])
        result.rgb = np.where(upper[..., None], np.float32([0.1, 0.2, 0.9]), result.rgb)
        return result


def test_export_geometry_bakes_the_scene_into_the_mesh_formats(tmp_path) -> None:
    scene = RedSphere(views=16, width=64, height=48)
    glb = export_geometry(
        scene, "mesh", "glb", tmp_path / "m.glb", resolution=48, faces=1500, texture_size=128
    )
    loaded = trimesh.load(glb, file_type="glb", force="mesh", process=False)
    assert len(loaded.faces) <= 1500
    vertices = np.asarray(loaded.vertices) @ SCENE_TO_GLTF  # back to the scene frame
    assert np.median(np.abs(np.linalg.norm(vertices - CENTRE, axis=1) - RADIUS)) < 2 * RADIUS / 48
    image = np.asarray(loaded.visual.material.baseColorTexture.convert("RGB"), np.float64) / 255.0
    uv = np.asarray(loaded.visual.uv)
    texel = image[((1 - uv[:, 1]) * 128).astype(int).clip(0, 127), (uv[:, 0] * 128).astype(int).clip(0, 127)]
    far = np.abs(vertices[:, 1] - CENTRE[1]) > 0.3  # away from the colour boundary
    upper = vertices[:, 1] > CENTRE[1]
    assert np.mean(np.abs(texel[far & upper] - [0.1, 0.2, 0.9]).max(axis=1) < 0.06) > 0.95
    assert np.mean(np.abs(texel[far & ~upper] - [0.9, 0.2, 0.1]).max(axis=1) < 0.06) > 0.95
    obj = export_geometry(
        scene, "mesh", "obj", tmp_path / "m.obj", resolution=48, faces=1500, texture_size=128
    )
    assert obj.name == "m.obj.zip" and sorted(zipfile.ZipFile(obj).namelist()) == ["m.mtl", "m.obj", "m.png"]
    plain = export_geometry(
        scene, "mesh", "glb", tmp_path / "v.glb", resolution=48, faces=1500, vertex_colors=True
    )
    coloured = trimesh.load(plain, file_type="glb", force="mesh", process=False)
    assert len(coloured.faces) == len(loaded.faces) and coloured.visual.kind == "vertex"
    ply = export_geometry(scene, "mesh", "ply", tmp_path / "m.ply", resolution=48, faces=1500)
    assert len(trimesh.load(ply, file_type="ply", process=False).faces) == len(loaded.faces)
