"""Apply as Textures from a textures zip (the server's writer, made by the test) on four known objects.

"Cube" (a Principled material whose roughness comes from an image), "Plane" (no material), "Emitter" (an
Emission-only material) and "NoUV" (no UV map, an Array modifier); the zip also names "Ghost", which is not
in the file. Checks: the originals, their meshes, materials and images are unchanged; each duplicate is in
the results collection with the capture's UVs and a material whose Base Color is the packed image; a tiny
Cycles render shows the textures' colours on the duplicates (originals excluded) and the originals'
colours the other way round; the images survive save and reload.
argv: WORK ZIP
"""

from __future__ import annotations

import os
import sys

import _fingerprint
import bpy
import numpy as np
from _common import emit
from _raycast import read_png
from mathutils import Euler

from blender_in2n import surfaces, textures

work, zip_path = sys.argv[1:3]
context = bpy.context
scene = context.scene
originals = bpy.data.collections["Collection"]

cube = scene.objects["Cube"]
material = cube.data.materials[0]
tree = material.node_tree
principled = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
principled.inputs["Base Color"].default_value = (0.8, 0.05, 0.05, 1.0)
checker = bpy.data.images.new("Checker", 8, 8)
checker.generated_type = "COLOR_GRID"
roughness = tree.nodes.new("ShaderNodeTexImage")
roughness.image = checker
tree.links.new(roughness.outputs["Color"], principled.inputs["Roughness"])

bpy.ops.mesh.primitive_plane_add(size=8.0, location=(0.0, 0.0, -1.0))
plane = context.active_object
plane.name = "Plane"
bpy.ops.mesh.primitive_plane_add(size=1.0, location=(3.0, 3.0, 0.0))
emitter = context.active_object
emitter.name = "Emitter"
glow = bpy.data.materials.new("Glow")
glow.use_nodes = True
glow.node_tree.nodes.clear()
emission = glow.node_tree.nodes.new("ShaderNodeEmission")
output = glow.node_tree.nodes.new("ShaderNodeOutputMaterial")
glow.node_tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
emitter.data.materials.append(glow)
box = bpy.data.meshes.new("NoUV mesh")
box.from_pydata(
    [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)],
    [],
    [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)],
)
no_uv = bpy.data.objects.new("NoUV", box)
originals.objects.link(no_uv)
no_uv.location = (-4.0, 3.0, 0.0)
no_uv.modifiers.new("Array", "ARRAY").count = 2
sources = [cube, plane, emitter, no_uv]
context.view_layer.update()

# The capture's side: which UV map each object's surface used (NoUV's generated on a temporary copy).
surfaces_path = os.path.join(work, "surfaces.npz")
uv_maps = surfaces.write_surfaces(context, sources, surfaces_path)
captured = np.load(surfaces_path, allow_pickle=False)
captured_uvs = {str(name): captured[f"uvs_{k}"] for k, name in enumerate(captured["names"])}

before = _fingerprint.scene_data(sources)
counts_before = {"objects": len(bpy.data.objects), "meshes": len(bpy.data.meshes)}
applied = textures.apply_textures(context, zip_path, uv_maps)
after = _fingerprint.scene_data(sources)
results = bpy.data.collections["In2N Results"]

duplicates = {}
for name in applied.duplicates:
    duplicate = bpy.data.objects[name]
    source = duplicate["in2n_source"]
    layers = set()
    bases = []
    for slot in duplicate.material_slots:
        nodes = slot.material.node_tree.nodes
        for node in nodes:
            if node.bl_idname == "ShaderNodeBsdfPrincipled":
                link = node.inputs["Base Color"].links[0]
                bases.append(link.from_node.image.name)
                vector = link.from_node.inputs["Vector"].links[0].from_node
                layers.add(vector.uv_map)
    layer = layers.pop()
    _, uvs = surfaces.evaluated_triangles(context, duplicate, layer)
    duplicates[source] = {
        "name": name,
        "collections": [c.name for c in duplicate.users_collection],
        "mesh_is_copy": duplicate.data != bpy.data.objects[source].data,
        "modifiers": [m.type for m in duplicate.modifiers],
        "materials": [slot.material.name for slot in duplicate.material_slots],
        "base_colour_images": bases,
        "uv_map": layer,
        "uvs_equal_capture": bool(np.array_equal(uvs, captured_uvs[source])),
        "image_packed": bpy.data.images[bases[0]].packed_file is not None,
        "matrix_equal": [list(r) for r in duplicate.matrix_world]
        == [list(r) for r in bpy.data.objects[source].matrix_world],
    }

# Applying again replaces the duplicates instead of adding more.
textures.apply_textures(context, zip_path, uv_maps)
per_source = sorted(ob["in2n_source"] for ob in results.objects if "in2n_source" in ob)


def render(name: str, exclude: str) -> np.ndarray:
    """A 32x24 Cycles render under a uniform white world, one collection excluded; sRGB pixels in 0..1."""
    layer_collections = context.view_layer.layer_collection.children
    for child in layer_collections:
        child.exclude = child.name == exclude
    path = os.path.join(work, f"{name}.png")
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)
    for child in layer_collections:
        child.exclude = False
    return read_png(path)[..., :3] / 255.0


world = bpy.data.worlds.new("White")
world.use_nodes = True
world.node_tree.nodes["Background"].inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
scene.world = world
camera = bpy.data.objects.new("Test camera", bpy.data.cameras.new("Test camera"))
scene.collection.objects.link(camera)  # not in either collection
camera.location = (0.0, -7.0, 0.0)
camera.rotation_euler = Euler((np.pi / 2, 0.0, 0.0))
scene.camera = camera
scene.render.engine = "CYCLES"
scene.cycles.samples = 16
scene.cycles.device = "CPU"
scene.render.resolution_x, scene.render.resolution_y = 32, 24
scene.view_settings.view_transform = "Standard"
scene.render.image_settings.file_format = "PNG"
scene.render.image_settings.color_mode = "RGB"
edited = render("edited", "Collection")
original = render("original", "In2N Results")
centre = (slice(10, 14), slice(14, 18))  # the cube's front face

saved = os.path.join(work, "applied.blend")
bpy.ops.wm.save_as_mainfile(filepath=saved)
bpy.ops.wm.open_mainfile(filepath=saved)
reloaded = {}
for name in ("In2N Cube", "In2N NoUV"):
    image = bpy.data.images[name]
    pixels = np.empty(len(image.pixels), np.float32)
    image.pixels.foreach_get(pixels)
    reloaded[name] = {
        "packed": image.packed_file is not None,
        "size": list(image.size),
        "first_pixel": pixels[:3].tolist(),
        "users": image.users,
    }
reloaded_sources = [bpy.data.objects[ob] for ob in ("Cube", "Plane", "Emitter", "NoUV")]

emit(
    {
        "uv_maps": uv_maps,
        "lighting": applied.lighting,
        "warnings": applied.warnings,
        "changed": sorted(k for k in before if after.get(k) != before[k]),
        "fingerprints": len(before),
        "counts_before": counts_before,
        "duplicates": duplicates,
        "duplicates_after_second_apply": per_source,
        "edited_centre": edited[centre].reshape(-1, 3).mean(axis=0).tolist(),
        "original_centre": original[centre].reshape(-1, 3).mean(axis=0).tolist(),
        "reloaded": reloaded,
        "changed_after_reload": sorted(
            k for k, v in _fingerprint.scene_data(reloaded_sources).items() if before.get(k) != v
        ),
        "duplicates_after_reload": sorted(ob.name for ob in bpy.data.collections["In2N Results"].objects),
    }
)
