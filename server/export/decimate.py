"""A mesh reduced to a face budget by quadric error decimation (open3d), vertex colours carried along.

TSDF meshes have a triangle or two per voxel face the surface crosses, however flat it is there; quadric
decimation (Garland and Heckbert) merges vertices where that loses the least shape, so a budget of faces
keeps the detail where the surface bends. It runs before UV unwrapping, whose time grows with the faces.
"""

from __future__ import annotations

import numpy as np


def decimate(
    vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, max_faces: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices [V', 3], faces [F', 3] (F' <= `max_faces`) and vertex colours [V', 3]; the input as it is
    when it is within the budget already."""
    if len(faces) <= max_faces:
        return vertices, faces, colors
    import open3d as o3d

    mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.asarray(vertices, np.float64)),
        o3d.utility.Vector3iVector(np.asarray(faces, np.int32)),
    )
    mesh.vertex_colors = o3d.utility.Vector3dVector(np.asarray(colors, np.float64))
    reduced = mesh.simplify_quadric_decimation(target_number_of_triangles=int(max_faces))
    reduced.remove_degenerate_triangles()
    reduced.remove_unreferenced_vertices()
    return (
        np.asarray(reduced.vertices, np.float64),
        np.asarray(reduced.triangles, np.int64),
        np.clip(np.asarray(reduced.vertex_colors, np.float64), 0.0, 1.0),
    )
