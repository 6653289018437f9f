"""What Blender knows for certain about a scene, as numbers to measure a reconstruction against.

Surface samples of the evaluated meshes (modifiers applied), spread uniformly by area in world space:
an imported result's points can be scored by their distance to them (precision), and the samples by their
distance to the result (completeness). Used by the Blender tests and the reconstruction benchmark (a
bpy module, but not part of the extension: the artist never needs it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import bpy
import numpy as np
from mathutils.kdtree import KDTree


def surface_samples(objects: Iterable[Any], count: int, seed: int = 0) -> np.ndarray:
    """[count, 3] world points spread by area over the evaluated surfaces of the mesh `objects`."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    triangles = []
    for ob in objects:
        if ob.type != "MESH":
            continue
        evaluated = ob.evaluated_get(depsgraph)
        mesh = evaluated.to_mesh()
        try:
            mesh.calc_loop_triangles()
            coords = np.empty(len(mesh.vertices) * 3, np.float64)
            mesh.vertices.foreach_get("co", coords)
            faces = np.empty(len(mesh.loop_triangles) * 3, np.int64)
            mesh.loop_triangles.foreach_get("vertices", faces)
            matrix = np.array(evaluated.matrix_world, dtype=np.float64)
            world = coords.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]
            triangles.append(world[faces.reshape(-1, 3)])
        finally:
            evaluated.to_mesh_clear()
    if not triangles:
        raise ValueError("no mesh objects to sample")
    tris = np.concatenate(triangles)  # [T, 3, 3]
    areas = 0.5 * np.linalg.norm(np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]), axis=1)
    rng = np.random.default_rng(seed)
    chosen = tris[rng.choice(len(tris), size=count, p=areas / areas.sum())]
    u, v = rng.random(count), rng.random(count)
    outside = u + v > 1  # fold the far half of the square back into the triangle
    u, v = np.where(outside, 1 - u, u), np.where(outside, 1 - v, v)
    return (
        chosen[:, 0] + u[:, None] * (chosen[:, 1] - chosen[:, 0]) + v[:, None] * (chosen[:, 2] - chosen[:, 0])
    )


def nearest_distances(points: np.ndarray, to: np.ndarray) -> np.ndarray:
    """Distance from every point [N, 3] to the nearest point of `to` [M, 3] (Blender's KD-tree)."""
    tree = KDTree(len(to))
    for index, point in enumerate(to):
        tree.insert(point.tolist(), index)
    tree.balance()
    return np.array([tree.find(point.tolist())[2] for point in points], dtype=np.float64)
