"""Import mesh exports (textured GLB, OBJ zip, vertex-coloured GLB and OBJ zip) with the extension's
importer; report what each material shows where, a render of each, and what survives save and reload.

Arguments: OUT_DIR then LABEL=PATH pairs. Per mesh: its bounds, its material's nodes, samples of (world
position, colour shown there: the image at the loop's UV, or the colour attribute), and the centre pixel
of a Cycles render (Standard view, no lights, black world) with the surface point it shows.
"""

from __future__ import annotations

import os
import shutil
import sys

import bpy
import numpy as np
from _common import emit
from mathutils import Vector

from blender_in2n import rig, scene_import

out_dir = sys.argv[sys.argv.index("--") + 1] if "--" in sys.argv else sys.argv[1]
files = dict(argument.split("=", 1) for argument in sys.argv[2:])
SAMPLES = 400

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 4
scene.render.resolution_x = scene.render.resolution_y = 32
scene.render.filter_size = 0.01  # the centre pixel shows the surface point at its centre
scene.view_settings.view_transform = "Standard"
scene.view_settings.look = "None"
scene.render.image_settings.file_format = "PNG"
world = bpy.data.worlds.new("Black")
world.color = (0.0, 0.0, 0.0)
for node in world.node_tree.nodes if world.node_tree is not None else ():  # 5.0 on: worlds use nodes
    if node.type == "BACKGROUND":
        node.inputs["Strength"].default_value = 0.0
scene.world = world


def material_report(ob: object) -> dict:
    material = ob.data.materials[0]
    nodes = material.node_tree.nodes
    images = [n.image for n in nodes if n.type == "TEX_IMAGE" and n.image is not None]
    return {
        "names": [m.name for m in ob.data.materials],
        "node_types": sorted(n.type for n in nodes),
        "image": (
            {
                "size": list(images[0].size),
                "packed": images[0].packed_file is not None,
                "name": images[0].name,
            }
            if images
            else None
        ),
    }


def shown_colours(ob: object) -> tuple[list, list]:
    """(world position, sRGB colour) at SAMPLES loops: the image at the loop's UV, else the attribute."""
    mesh = ob.data
    loops = np.linspace(0, len(mesh.loops) - 1, SAMPLES).astype(int)
    matrix = np.array(ob.matrix_world)
    vertex_of = np.array([mesh.loops[i].vertex_index for i in loops])
    local = np.array([mesh.vertices[v].co for v in vertex_of])
    positions = local @ matrix[:3, :3].T + matrix[:3, 3]
    nodes = ob.data.materials[0].node_tree.nodes
    images = [n.image for n in nodes if n.type == "TEX_IMAGE"]
    if images:
        image = images[0]
        width, height = image.size
        pixels = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(pixels)  # bottom row first; an 8-bit PNG's own (sRGB) values
        pixels = pixels.reshape(height, width, 4)
        uv = np.array([mesh.uv_layers.active.data[i].uv for i in loops])
        cols = np.clip((uv[:, 0] * width).astype(int), 0, width - 1)
        rows = np.clip((uv[:, 1] * height).astype(int), 0, height - 1)
        colours = pixels[rows, cols, :3]
    else:
        attribute = mesh.color_attributes[scene_import._color_attribute(mesh)]
        index = vertex_of if attribute.domain == "POINT" else loops
        colours = np.array([attribute.data[i].color_srgb[:3] for i in index])
    return positions.tolist(), colours.tolist()


def centre_render(ob: object, label: str) -> dict:
    """A render looking at the mesh's centre from +X: the centre pixel and the surface point it shows."""
    lo, hi = rig.world_bounds([ob])
    centre = (Vector(lo) + Vector(hi)) / 2
    camera_data = bpy.data.cameras.new(f"Camera {label}")
    camera = bpy.data.objects.new(f"Camera {label}", camera_data)
    scene.collection.objects.link(camera)
    camera.location = centre + Vector((4.0, 0.0, 0.0))
    camera.rotation_euler = (Vector((-1.0, 0.0, 0.0))).to_track_quat("-Z", "Y").to_euler()
    scene.camera = camera
    bpy.context.view_layer.update()
    hit, location, *_ = scene.ray_cast(bpy.context.view_layer.depsgraph, camera.location, Vector((-1, 0, 0)))
    path = os.path.join(out_dir, f"render-{label.replace(':', '-')}.png")
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(path)
    pixels = np.empty(32 * 32 * 4, np.float32)
    image.pixels.foreach_get(pixels)
    bpy.data.images.remove(image)
    centre_pixel = pixels.reshape(32, 32, 4)[15:17, 15:17, :3].mean(axis=(0, 1))
    return {"hit": bool(hit), "location": list(location), "pixel": centre_pixel.tolist()}


imported = {}
for label, path in files.items():
    ob = scene_import.import_geometry(path, kind="mesh", name=f"Mesh {label}")
    imported[label] = ob

report = {}
for label, ob in imported.items():
    for other in imported.values():
        other.hide_render = other is not ob
    positions, colours = shown_colours(ob)
    lo, hi = rig.world_bounds([ob])
    report[label] = {
        "collection": [c.name for c in ob.users_collection],
        "faces": len(ob.data.polygons),
        "bounds": [list(lo), list(hi)],
        "material": material_report(ob),
        "positions": positions,
        "colours": colours,
        "render": centre_render(ob, label),
    }

orphans = [m.name for m in bpy.data.materials if m.users == 0]  # the importers' materials, removed
# The extracted OBJ folders and the downloads are temporary: packed images keep the textures.
blend = os.path.join(out_dir, "saved.blend")
bpy.ops.wm.save_as_mainfile(filepath=blend)
for path in files.values():
    shutil.rmtree(os.path.splitext(path)[0] + "_files", ignore_errors=True)
    os.remove(path)
bpy.ops.wm.open_mainfile(filepath=blend)
reloaded = {}
for label in files:
    ob = bpy.data.objects[f"Mesh {label}"]
    nodes = ob.data.materials[0].node_tree.nodes
    images = [n.image for n in nodes if n.type == "TEX_IMAGE" and n.image is not None]
    if images:
        pixels = np.empty(len(images[0].pixels), np.float32)
        images[0].pixels.foreach_get(pixels)
        reloaded[label] = {"image_size": list(images[0].size), "pixel_mean": float(pixels.mean())}
    else:
        reloaded[label] = {"image_size": None, "pixel_mean": None}
emit({"imports": report, "reloaded": reloaded, "orphan_materials": orphans})
