"""Export files: binary PLY point clouds and 3D Gaussian splats, meshes as PLY, OBJ or GLB, and zips of
baked textures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..fileio import write_bytes_atomic
from .sh import SH_C0

if TYPE_CHECKING:
    from .splats import Splats
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


def mesh_bytes(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, file_format: str) -> bytes:
    import trimesh

    if file_format == "glb":
        vertices = vertices @ SCENE_TO_GLTF.T
    rgba = np.concatenate([colours_u8(colors), np.full((len(colors), 1), 255, np.uint8)], axis=1)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, vertex_colors=rgba, process=False)
    data = mesh.export(file_type=file_format)
    return data.encode() if isinstance(data, str) else bytes(data)


def write_point_cloud(path: Path, points: np.ndarray, colors: np.ndarray) -> Path:
    write_bytes_atomic(path, point_cloud_ply(points, colors))
    return path


def write_splats(path: Path, splats: Splats) -> Path:
    write_bytes_atomic(path, splats_ply(splats))
    return path


def write_mesh(
    path: Path, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, file_format: str
) -> Path:
    write_bytes_atomic(path, mesh_bytes(vertices, faces, colors, file_format))
    return path


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
                    "outside_uv_share": round(baked.outside_uv_share, 6),
                }
            )
        manifest = {"texture_size": textures.size, "lighting": textures.lighting, "objects": entries}
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
    return buffer.getvalue()


def write_textures(path: Path, textures: Textures) -> Path:
    write_bytes_atomic(path, textures_zip(textures))
    return path
