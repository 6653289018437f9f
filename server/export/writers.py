"""Geometry files: binary PLY point clouds, and meshes as PLY, OBJ or GLB with vertex colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fileio import write_bytes_atomic

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


def write_mesh(
    path: Path, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, file_format: str
) -> Path:
    write_bytes_atomic(path, mesh_bytes(vertices, faces, colors, file_format))
    return path
