"""One cell of the Blender version matrix: what an artist does, on whatever bpy this interpreter has.

Installs the built zip and checks what registers; captures 2 views at 32x24 with colour, alpha, masks and
depth (checked against ray casts at the pixel centres); shows a preview; captures for textures (surfaces,
and light maps where this Blender has OpenImageIO) and applies a textures zip; imports every export file
the server writes (given as KIND=PATH arguments); disables the extension and checks that nothing is left;
saves and reloads the file (the textures are packed).
argv: ZIP KIND=FILE [KIND=FILE ...] textures=ZIP
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import threading

import _fingerprint
import bpy
import numpy as np
from _common import emit, install
from _raycast import capture_files, check_view, png_color_type

MODULE = "bl_ext.user_default.blender_in2n"

zip_path, *arguments = sys.argv[1:]
exports = [argument for argument in arguments if not argument.startswith("textures=")]
textures_zip = next(argument.split("=", 1)[1] for argument in arguments if argument.startswith("textures="))
install(zip_path)
compat, capture, data_passes, light_passes, previews, png, rig, scene_import, surfaces, textures = (
    importlib.import_module(f"{MODULE}.{name}")
    for name in (
        "compat",
        "capture",
        "data_passes",
        "light_passes",
        "previews",
        "png",
        "rig",
        "scene_import",
        "surfaces",
        "textures",
    )
)


def registered() -> dict:
    return {
        "panels": sorted(name for name in dir(bpy.types) if name.startswith("IN2N_")),
        "scene_prop": hasattr(bpy.types.Scene, "in2n"),
        "threads": sorted(t.name for t in threading.enumerate() if t.name.startswith("in2n")),
    }


before = registered()
before["enabled"] = MODULE in bpy.context.preferences.addons

# -- capture: colour with alpha, masks and depth ----------------------------------------------------------
context = bpy.context
scene = context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 2
scene.cycles.device = "CPU"
scene.render.resolution_x, scene.render.resolution_y = 640, 480
cube = scene.objects["Cube"]
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(1.2, 0.8, 0.4))
sphere = context.active_object
for ob in scene.objects:
    ob.select_set(ob in {cube, sphere})
cameras = rig.make_rig(context, "HEMISPHERE", 2, 0.0)
work = tempfile.mkdtemp(prefix="in2n-matrix-")
captured = capture.capture(
    context,
    cameras,
    os.path.join(work, "capture"),
    max_size=32,
    masks_of=[cube],
    with_masks=True,
    with_depth=True,
)
views = [check_view(context, frame, {cube.name}, *paths) for frame, *paths in capture_files(captured)]

# -- preview ----------------------------------------------------------------------------------------------
blue = np.zeros((12, 16, 4), np.uint8)
blue[..., 2], blue[..., 3] = 255, 255
preview = previews.show_png(previews.PREVIEW_IMAGE, png.encode_png(blue))
previews.set_camera_background(cameras[0], preview)
pixels = np.empty(16 * 12 * 4, np.float32)
preview.pixels.foreach_get(pixels)
preview_info = {"size": list(preview.size), "first_pixel": pixels[:4].tolist()}


def evaluated_points(ob) -> int:
    """Points the object shows after its modifiers (the depsgraph's point-cloud instances of it: the one
    way from 4.2 to 5.3; `evaluated_geometry()` is newer)."""
    depsgraph = context.evaluated_depsgraph_get()
    return sum(
        len(instance.object.data.points)
        for instance in depsgraph.object_instances
        if instance.object.original == ob and instance.object.type == "POINTCLOUD"
    )


def splat_values(ob) -> dict:
    """A native splat cloud's type and its first splat's scale, base colour and rotation as Blender read
    them (radiance:base holds f_dc as written and the opacity after a sigmoid)."""
    if ob.type != "POINTCLOUD":
        return {}
    attributes = ob.data.attributes
    first = {
        name: list(
            attributes[name].data[0].vector
            if hasattr(attributes[name].data[0], "vector")
            else attributes[name].data[0].value
        )
        for name in ("scale", "rotation", "radiance:base")
        if name in attributes
    }
    base = first.get("radiance:base", [])
    return {
        "splat_type": ob.data.type,
        "scale": first.get("scale"),
        "rotation": first.get("rotation"),
        "base_colour": base[:3],
        "base_alpha": base[3] if len(base) > 3 else None,
    }


# -- capture for textures and apply a textures zip --------------------------------------------------------
box = bpy.data.meshes.new("Box")
box.from_pydata(
    [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)],
    [],
    [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)],
)
no_uv = bpy.data.objects.new("Box", box)  # no UV map: one is generated on a copy
scene.collection.objects.link(no_uv)
no_uv.location = (-2.5, 0.0, -1.0)
context.view_layer.update()
lights_reason = light_passes.unavailable_reason(scene)
textured = capture.capture(
    context,
    cameras[:1],
    os.path.join(work, "textures"),
    max_size=32,
    with_lights=not lights_reason,
    surfaces_of=[cube, no_uv],
)
surfaces_file = np.load(textured.surfaces, allow_pickle=False)
captured_uvs = {str(name): surfaces_file[f"uvs_{k}"] for k, name in enumerate(surfaces_file["names"])}
light_map = np.load(textured.lights[0], allow_pickle=False) if textured.lights else None
before_apply = _fingerprint.scene_data([cube, no_uv])
applied = textures.apply_textures(context, textures_zip, textured.uv_maps)
duplicates = {}
for name in applied.duplicates:
    duplicate = bpy.data.objects[name]
    tree = duplicate.material_slots[0].material.node_tree
    uv_node = next(node for node in tree.nodes if node.bl_idname == "ShaderNodeUVMap")
    _, uvs = surfaces.evaluated_triangles(context, duplicate, uv_node.uv_map)
    duplicates[duplicate["in2n_source"]] = {
        "collections": [c.name for c in duplicate.users_collection],
        "uvs_equal_capture": bool(np.array_equal(uvs, captured_uvs[duplicate["in2n_source"]])),
        "image": next(node.image.name for node in tree.nodes if node.bl_idname == "ShaderNodeTexImage"),
    }
texture_capture = {
    "lights_reason": lights_reason,
    "transforms_surfaces": textured.transforms.get("in2n_surfaces"),
    "names": [str(name) for name in surfaces_file["names"]],
    "triangles": {name: len(uvs) for name, uvs in captured_uvs.items()},
    "uv_maps": textured.uv_maps,
    "light_paths": [frame.get("light_path") for frame in textured.transforms["frames"]],
    "light_shape": list(light_map.shape) if light_map is not None else None,
    "light_dtype": str(light_map.dtype) if light_map is not None else None,
    "diffuse_light_max": float(light_map[..., :3].max()) if light_map is not None else None,
    "png_color_type": png_color_type(textured.images[0]),
    "originals_changed": sorted(
        k for k, v in _fingerprint.scene_data([cube, no_uv]).items() if before_apply.get(k) != v
    ),
    "warnings": applied.warnings,
    "duplicates": duplicates,
}

# -- import every export kind -----------------------------------------------------------------------------
imports = {}
for argument in exports:
    label, path = argument.split("=", 1)
    kind = label.split(":")[0]
    ob = scene_import.import_geometry(path, kind=kind, name=f"Matrix {label}")
    lo, hi = rig.world_bounds([ob])
    imports[label] = {
        "type": ob.type,
        "collection": [c.name for c in ob.users_collection],
        "vertices": len(ob.data.vertices) if ob.type == "MESH" else len(ob.data.points),
        "faces": len(ob.data.polygons) if ob.type == "MESH" else 0,
        "evaluated_points": evaluated_points(ob),
        "modifiers": [m.type for m in ob.modifiers],
        "radius_input": [
            compat.get_modifier_input(m, item.identifier)
            for m in ob.modifiers
            for item in m.node_group.interface.items_tree
            if getattr(item, "in_out", "") == "INPUT" and item.name == "Radius"
        ],
        "materials": [m.name for m in ob.data.materials if m is not None],
        "images": [
            list(node.image.size)
            for m in ob.data.materials
            if m is not None and m.node_tree is not None
            for node in m.node_tree.nodes
            if node.type == "TEX_IMAGE" and node.image is not None
        ],
        "bounds": [list(lo), list(hi)],
        **splat_values(ob),
    }

# -- unregister -------------------------------------------------------------------------------------------
bpy.ops.preferences.addon_disable(module=MODULE)
after = registered()
after["enabled"] = MODULE in bpy.context.preferences.addons

# -- save and reload: the applied textures are packed into the file ---------------------------------------
saved = os.path.join(work, "matrix.blend")
bpy.ops.wm.save_as_mainfile(filepath=saved)
bpy.ops.wm.open_mainfile(filepath=saved)
reloaded = {}
for name in ("In2N Cube", "In2N Box"):
    image = bpy.data.images[name]
    first = np.empty(len(image.pixels), np.float32)
    image.pixels.foreach_get(first)
    reloaded[name] = {"packed": image.packed_file is not None, "first_pixel": first[:3].tolist()}

emit(
    {
        "version": compat.version_text(),
        "python": ".".join(map(str, sys.version_info[:2])),
        "data_method": data_passes.available_method(),
        "native_splats": compat.has_native_gaussian_splats(),
        "before": before,
        "after": after,
        "views": views,
        "preview": preview_info,
        "imports": imports,
        "texture_capture": texture_capture,
        "reloaded": reloaded,
    }
)
