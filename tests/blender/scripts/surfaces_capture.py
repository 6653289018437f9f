"""Surfaces of known meshes: world positions and UVs against hand-computed values and a per-corner reference.

- "Plane": size 2 at (1, 2, 3), turned 90 degrees about z, scaled (2, 1, 1), its own UV map: the corners'
  world positions and UVs are known by hand.
- "Cube": a second UV map made active, a Subdivision modifier (viewport level 1): 48 triangles, checked
  against a plain Python loop over the evaluated mesh's triangles (mathutils, one corner at a time).
- "NoUV": a mesh with no UV map and an Array modifier: a UV map is generated on a temporary copy; the
  object, its mesh and material stay as they were, nothing is left behind, and generating again (as Apply
  as Textures does on its duplicate) gives the same UVs.
argv: WORK (the folder for surfaces.npz, read back by the test).
"""

from __future__ import annotations

import math
import os
import sys
import time

import _fingerprint
import bpy
import numpy as np
from _common import emit

from blender_in2n import surfaces

work = sys.argv[1]
context = bpy.context
scene = context.scene

bpy.ops.mesh.primitive_plane_add(size=2.0, location=(1.0, 2.0, 3.0), rotation=(0.0, 0.0, math.pi / 2))
plane = context.active_object
plane.name = "Plane"
plane.scale = (2.0, 1.0, 1.0)

cube = scene.objects["Cube"]
second = cube.data.uv_layers.new(name="Second")
uv = np.empty(len(cube.data.loops) * 2, np.float32)
cube.data.uv_layers[0].data.foreach_get("uv", uv)
second.data.foreach_set("uv", 0.5 * uv + 0.25)
cube.data.uv_layers.active = second
cube.modifiers.new("Subdivision", "SUBSURF").levels = 1
cube.location = (0.5, -0.5, 0.25)

no_uv_mesh = bpy.data.meshes.new("NoUV mesh")
no_uv_mesh.from_pydata(
    [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)],
    [],
    [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)],
)
no_uv = bpy.data.objects.new("NoUV", no_uv_mesh)
scene.collection.objects.link(no_uv)
no_uv.location = (-3.0, 0.0, 0.0)
no_uv.modifiers.new("Array", "ARRAY").count = 2
no_uv_mesh.materials.append(bpy.data.materials.new("NoUV material"))

for ob in scene.objects:
    ob.select_set(ob in {plane, cube, no_uv})
context.view_layer.objects.active = plane
view_layer = context.view_layer
view_layer.update()  # matrix_world of the objects just moved
state_before = {
    "selected": sorted(ob.name for ob in view_layer.objects if ob.select_get()),
    "active": view_layer.objects.active.name,
    "objects": len(bpy.data.objects),
    "meshes": len(bpy.data.meshes),
    "materials": len(bpy.data.materials),
}
fingerprints_before = _fingerprint.scene_data([plane, cube, no_uv])

path = os.path.join(work, surfaces.FILE_NAME)
start = time.perf_counter()
uv_maps = surfaces.write_surfaces(context, [no_uv, cube, plane, scene.objects["Light"]], path)
seconds = time.perf_counter() - start

fingerprints_after = _fingerprint.scene_data([plane, cube, no_uv])
state_after = {
    "selected": sorted(ob.name for ob in view_layer.objects if ob.select_get()),
    "active": view_layer.objects.active.name,
    "objects": len(bpy.data.objects),
    "meshes": len(bpy.data.meshes),
    "materials": len(bpy.data.materials),
}


def reference(ob, uv_map: str) -> tuple[list, list]:
    """The evaluated triangles corner by corner in plain Python: world position and UV of every corner."""
    evaluated = ob.evaluated_get(context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    mesh.calc_loop_triangles()
    layer = mesh.uv_layers[uv_map]
    positions, uvs = [], []
    for triangle in mesh.loop_triangles:
        positions.append(
            [
                list(evaluated.matrix_world @ mesh.vertices[mesh.loops[i].vertex_index].co)
                for i in triangle.loops
            ]
        )
        uvs.append([list(layer.data[i].uv) for i in triangle.loops])
    evaluated.to_mesh_clear()
    return positions, uvs


data = np.load(path, allow_pickle=False)
names = [str(n) for n in data["names"]]
index = {name: k for k, name in enumerate(names)}

# Plane, by hand: local corner (x, y) has UV ((x + 1) / 2, (y + 1) / 2) and lands at
# (1, 2, 3) + Rz(90) (2x, y, 0) = (1 - y, 2 + 2x, 3).
hand = {}
for x in (-1, 1):
    for y in (-1, 1):
        hand[(1.0 - y, 2.0 + 2.0 * x, 3.0)] = ((x + 1) / 2, (y + 1) / 2)
plane_positions = data[f"positions_{index['Plane']}"]
plane_uvs = data[f"uvs_{index['Plane']}"]
plane_errors = [
    max(
        float(
            np.abs(uv_corner - hand[min(hand, key=lambda c: np.linalg.norm(np.subtract(c, corner)))]).max()
        ),
        float(min(np.linalg.norm(np.subtract(c, corner)) for c in hand)),
    )
    for corner, uv_corner in zip(plane_positions.reshape(-1, 3), plane_uvs.reshape(-1, 2), strict=True)
]

objects = {}
for ob, uv_map in ((plane, "UVMap"), (cube, "Second")):
    positions, uvs = reference(ob, uv_map)
    k = index[ob.name]
    objects[ob.name] = {
        "triangles": len(data[f"positions_{k}"]),
        "max_position_error": float(np.abs(data[f"positions_{k}"] - np.array(positions)).max()),
        "max_uv_error": float(np.abs(data[f"uvs_{k}"] - np.array(uvs)).max()),
    }

# NoUV: the positions are the original's evaluated triangles; the UVs come from the generated map, which
# a second generation (on another copy, as Apply as Textures does) reproduces exactly.
k = index["NoUV"]
evaluated = no_uv.evaluated_get(context.evaluated_depsgraph_get())
mesh = evaluated.to_mesh()
mesh.calc_loop_triangles()
no_uv_positions = [
    [list(evaluated.matrix_world @ mesh.vertices[mesh.loops[i].vertex_index].co) for i in t.loops]
    for t in mesh.loop_triangles
]
evaluated.to_mesh_clear()
with surfaces.uv_mapped_copy(context, no_uv) as copy:
    _, again = surfaces.evaluated_triangles(context, copy, surfaces.GENERATED_UV)
generated = data[f"uvs_{k}"]
objects["NoUV"] = {
    "triangles": len(data[f"positions_{k}"]),
    "max_position_error": float(np.abs(data[f"positions_{k}"] - np.array(no_uv_positions)).max()),
    "uv_range": [float(generated.min()), float(generated.max())],
    "distinct_uvs": len(np.unique(generated.reshape(-1, 2), axis=0)),
    "same_uvs_again": bool(np.array_equal(generated, again)),
    "uv_layers_on_original": len(no_uv.data.uv_layers),
}

# Speed: a 300 x 300 grid (180,000 triangles) with its own UV map.
bpy.ops.mesh.primitive_grid_add(x_subdivisions=300, y_subdivisions=300, size=4.0)
grid = context.active_object
start = time.perf_counter()
grid_positions, _, _ = surfaces.object_surface(context, grid)
grid_seconds = time.perf_counter() - start

# Refusals: nothing to texture.
try:
    surfaces.write_surfaces(context, [scene.objects["Light"]], os.path.join(work, "none.npz"))
    refusal = ""
except surfaces.SurfaceError as exc:
    refusal = str(exc)

emit(
    {
        "path": path,
        "files": sorted(data.files),
        "names": names,
        "names_dtype": data["names"].dtype.kind,
        "dtypes": sorted({str(data[key].dtype) for key in data.files if key != "names"}),
        "uv_maps": uv_maps,
        "plane_max_error": max(plane_errors),
        "objects": objects,
        "fingerprints_changed": sorted(
            k for k in fingerprints_before if fingerprints_after.get(k) != fingerprints_before[k]
        ),
        "fingerprints": len(fingerprints_before),
        "state_before": state_before,
        "state_after": state_after,
        "seconds": seconds,
        "grid_triangles": len(grid_positions),
        "grid_seconds": grid_seconds,
        "refusal": refusal,
    }
)
