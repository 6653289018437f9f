"""Export files: binary PLY point clouds and 3D Gaussian splats, meshes as PLY, GLB or a zip of OBJ (with
vertex colours, or with UVs, an MTL and a PNG texture), and zips of baked textures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..fileio import write_bytes_atomic
from .sh import SH_C0
from .texture_bake import srgb_to_linear

if TYPE_CHECKING:
    from .splats import Splats
    from .textured_mesh import TexturedMesh
    from .textures import Textures

# glTF is +Y up; Blender's importer turns its +Y into Blender's +Z. Writing the scene frame's (x, y, z)
# as (x, z, -y) makes a GLB land where the scene was once Blender imports it.
SCENE_TO_GLTF = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def colours_u8(colors: np.ndarray) -> np.ndarray:
    return (np.clip(colors, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def point_cloud_ply(points: np.ndarray, colors: np.ndarray) -> bytes:
    """Binary little-endian PLY with float x, y, z and uchar red, green, blue per vertex."""
    vertex = np.empty(len(points), dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)])
    vertex["xyz"] = points
    vertex["rgb"] = colours_u8(colors)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment in2n-server point cloud, scene world frame\n"
        f"element vertex {len(points)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    return header.encode("ascii") + vertex.tobytes()


def splat_properties(rest: int) -> list[str]:
    """The reference 3DGS vertex properties, in its order, with `rest` f_rest coefficients."""
    return [
        *("x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"),
        *(f"f_rest_{i}" for i in range(rest)),
        *("opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"),
    ]


def splats_ply(splats: Splats) -> bytes:
    """Binary little-endian PLY of 3D Gaussians as the reference 3DGS (and Blender's importer) reads them.

    colour = 0.5 + SH_C0 * f_dc (sRGB); f_rest channel-major (every R coefficient, then G, then B);
    opacity as a logit; scales as log(sigma); rot as a unit quaternion (w, x, y, z).
    """
    count = len(splats.positions)
    opacities = np.asarray(splats.opacities, np.float64).reshape(count)
    sigmas = np.asarray(splats.sigmas, np.float64).reshape(count, 3)
    if not np.all((opacities > 0) & (opacities < 1)):
        raise ValueError("splat opacities must lie strictly between 0 and 1 (they are written as logits)")
    if not np.all(sigmas > 0):
        raise ValueError("splat sigmas must be positive (they are written as logarithms)")
    rotations = np.asarray(splats.rotations, np.float64).reshape(count, 4)
    rest = np.asarray(splats.sh_rest, np.float64)
    columns = [
        np.asarray(splats.positions, np.float64).reshape(count, 3),
        np.asarray(splats.normals, np.float64).reshape(count, 3),
        (np.asarray(splats.colors, np.float64).reshape(count, 3) - 0.5) / SH_C0,
        rest.reshape(count, 3 * rest.shape[-1]),  # [N, 3, K] -> every R, then G, then B
        (np.log(opacities) - np.log1p(-opacities))[:, None],
        np.log(sigmas),
        rotations / np.linalg.norm(rotations, axis=1, keepdims=True),
    ]
    table = np.concatenate(columns, axis=1).astype("<f4")
    names = splat_properties(columns[3].shape[1])
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment in2n-server 3D Gaussian splats, scene world frame\n"
        f"element vertex {count}\n" + "".join(f"property float {name}\n" for name in names) + "end_header\n"
    )
    return header.encode("ascii") + table.tobytes()


MESH_MATERIAL = "in2n_mesh"


def mesh_file(path: Path, file_format: str) -> Path:
    """Where a mesh export of `file_format` lands: an OBJ travels as a zip (`<name>.obj.zip`), since an OBJ
    names its material and texture as files beside it."""
    return path.with_name(path.name + ".zip") if file_format == "obj" else path


def mesh_bytes(
    vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, file_format: str, name: str = "mesh"
) -> bytes:
    """A vertex-coloured mesh as PLY, GLB or (a zip holding) OBJ; `name` names the files in the zip."""
    if file_format == "obj":
        return obj_zip(name, obj_text(vertices, faces, colors=colors))
    import trimesh

    if file_format == "glb":  # glTF's frame, and its COLOR_0 is linear (PLY's colours are sRGB)
        vertices = vertices @ SCENE_TO_GLTF.T
        colors = srgb_to_linear(colors)
    rgba = np.concatenate([colours_u8(colors), np.full((len(colors), 1), 255, np.uint8)], axis=1)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, vertex_colors=rgba, process=False)
    data = mesh.export(file_type=file_format)
    return data.encode() if isinstance(data, str) else bytes(data)


def textured_mesh_bytes(mesh: TexturedMesh, file_format: str, name: str = "mesh") -> bytes:
    """A mesh with UVs and its colour texture: GLB with the PNG embedded, or a zip of OBJ + MTL + PNG."""
    if file_format == "obj":
        text = obj_text(mesh.vertices, mesh.faces, uvs=mesh.uvs, material_library=f"{name}.mtl")
        return obj_zip(name, text, png_bytes(mesh.image))
    if file_format != "glb":
        raise ValueError(f"a textured mesh is written as glb or obj, not {file_format!r}")
    import trimesh
    from PIL import Image

    material = trimesh.visual.material.PBRMaterial(
        name=MESH_MATERIAL,
        baseColorTexture=Image.fromarray(colours_u8(mesh.image)),
        metallicFactor=0.0,
        roughnessFactor=1.0,
    )
    textured = trimesh.Trimesh(
        vertices=mesh.vertices @ SCENE_TO_GLTF.T,
        faces=mesh.faces,
        visual=trimesh.visual.TextureVisuals(uv=mesh.uvs, material=material),  # trimesh flips V for glTF
        process=False,
    )
    return bytes(textured.export(file_type="glb"))


def obj_text(
    vertices: np.ndarray,
    faces: np.ndarray,
    colors: np.ndarray | None = None,
    uvs: np.ndarray | None = None,
    material_library: str | None = None,
) -> str:
    """Wavefront OBJ in the scene frame (Z up): `v x y z [r g b]` (the common vertex-colour extension),
    `vt u v` shared by index with the vertices, and the material of `material_library` when given."""
    columns = [np.asarray(vertices, np.float64)]
    if colors is not None:
        columns.append(np.clip(np.asarray(colors, np.float64), 0.0, 1.0))
    table = np.concatenate(columns, axis=1)
    lines = ["# in2n-server mesh, scene world frame (Z up)"]
    if material_library:
        lines += [f"mtllib {material_library}", f"usemtl {MESH_MATERIAL}"]
    lines += ["v " + " ".join(f"{value:.7g}" for value in row) for row in table.tolist()]
    corners = np.asarray(faces, np.int64) + 1
    if uvs is not None:
        lines += [f"vt {u:.7g} {v:.7g}" for u, v in np.asarray(uvs, np.float64).tolist()]
        lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in corners.tolist()]
    else:
        lines += [f"f {a} {b} {c}" for a, b, c in corners.tolist()]
    return "\n".join(lines) + "\n"


def mtl_text(image_name: str) -> str:
    """One diffuse material whose colour is the texture (Kd 1: viewers multiply Kd by map_Kd)."""
    return (
        f"# in2n-server mesh material\nnewmtl {MESH_MATERIAL}\nKa 0 0 0\nKd 1 1 1\nKs 0 0 0\nillum 1\n"
        f"map_Kd {image_name}\n"
    )


def obj_zip(name: str, obj: str, png: bytes | None = None) -> bytes:
    """`<name>.obj`, and with a texture `<name>.mtl` and `<name>.png`, side by side in a zip."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.obj", obj)
        if png is not None:
            archive.writestr(f"{name}.mtl", mtl_text(f"{name}.png"))
            archive.writestr(zipfile.ZipInfo(f"{name}.png"), png, compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def write_point_cloud(path: Path, points: np.ndarray, colors: np.ndarray) -> Path:
    write_bytes_atomic(path, point_cloud_ply(points, colors))
    return path


def write_splats(path: Path, splats: Splats) -> Path:
    write_bytes_atomic(path, splats_ply(splats))
    return path


def write_mesh(
    path: Path, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, file_format: str
) -> Path:
    """A vertex-coloured mesh at `mesh_file(path, file_format)`; returns where it went."""
    target = mesh_file(path, file_format)
    write_bytes_atomic(target, mesh_bytes(vertices, faces, colors, file_format, name=path.stem))
    return target


def write_textured_mesh(path: Path, mesh: TexturedMesh, file_format: str) -> Path:
    """A textured mesh at `mesh_file(path, file_format)`; returns where it went."""
    target = mesh_file(path, file_format)
    write_bytes_atomic(target, textured_mesh_bytes(mesh, file_format, name=path.stem))
    return target


def png_bytes(image: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of `image` [H, W, 3] in [0, 1] (already in the file's encoding, sRGB)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(colours_u8(image)).save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def textures_zip(textures: Textures) -> bytes:
    """`manifest.json` and one PNG per object under textures/ (docs/protocol.md, Export: textures)."""
    import io
    import json
    import zipfile

    entries = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs are compressed
        for index, baked in enumerate(textures.objects):
            image_name = f"textures/{index:04d}.png"
            archive.writestr(image_name, png_bytes(baked.image))
            entries.append(
                {
                    "name": baked.name,
                    "image": image_name,
                    "triangles": baked.triangles,
                    "texels": baked.texels,
                    "seen_share": round(baked.seen_share, 6),
                    "filled_share": round(baked.filled_share, 6),
                    "visible_seen_share": round(baked.visible_seen_share, 6),
                    "outside_uv_share": round(baked.outside_uv_share, 6),
                }
            )
        manifest = {"texture_size": textures.size, "lighting": textures.lighting, "objects": entries}
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
    return buffer.getvalue()


def write_textures(path: Path, textures: Textures) -> Path:
    write_bytes_atomic(path, textures_zip(textures))
    return path
