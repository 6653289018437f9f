"""One cell of the Blender version matrix: what an artist does, on whatever bpy this interpreter has.

Installs the built zip and checks what registers; captures 2 views at 32x24 with colour, alpha, masks and
depth (checked against ray casts at the pixel centres); shows a preview; imports every export file the
server writes (given as KIND=PATH arguments); disables the extension and checks that nothing is left.
argv: ZIP EXPORT_DIR KIND=FILE [KIND=FILE ...]
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import threading

import bpy
import numpy as np
from _common import emit, install
from _raycast import capture_files, check_view

MODULE = "bl_ext.user_default.blender_in2n"

zip_path, *exports = sys.argv[1:]
install(zip_path)
compat, capture, data_passes, previews, png, scene_import = (
    importlib.import_module(f"{MODULE}.{name}")
    for name in ("compat", "capture", "data_passes", "previews", "png", "scene_import")
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
cameras = capture.make_rig(context, "HEMISPHERE", 2, 0.0)
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


# -- import every export kind -----------------------------------------------------------------------------
imports = {}
for argument in exports:
    label, path = argument.split("=", 1)
    kind = label.split(":")[0]
    ob = scene_import.import_geometry(path, kind=kind, name=f"Matrix {label}")
    lo, hi = capture.world_bounds([ob])
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
        "bounds": [list(lo), list(hi)],
        **splat_values(ob),
    }

# -- unregister -------------------------------------------------------------------------------------------
bpy.ops.preferences.addon_disable(module=MODULE)
after = registered()
after["enabled"] = MODULE in bpy.context.preferences.addons

emit(
    {
        "version": compat.version_text(),
        "python": ".".join(map(str, sys.version_info[:2])),
        "data_method": data_passes.available_method(),
        "native_splats": compat.has_native_gaussian_splats(),
        "before": before,
        "after": after,
        "views": views,
        "preview": {"size": list(preview.size), "first_pixel": pixels[:4].tolist()},
        "imports": imports,
    }
)
