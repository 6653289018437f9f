"""Capture 4 views at 48x36 with depth and masks from render passes; compare with per-pixel ray casts.

The scene: a rotated off-origin cube, a sphere partly in front of it (both masked), and a cylinder that
is not masked but carries a pass index of its own (it must not leak into the mask, and must get it back).
A second capture puts a cube 100 m away to check that depth does not clip.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time

import bpy
import numpy as np
from _common import emit
from _raycast import capture_files, check_view, png_color_type, read_png
from mathutils import Vector

from blender_in2n import capture, data_passes, rig

work = tempfile.mkdtemp(prefix="in2n-passes-test-")
context = bpy.context
scene = context.scene
for ob in list(scene.objects):
    if ob.type == "MESH":
        bpy.data.objects.remove(ob)
scene.render.engine = "CYCLES"
scene.cycles.samples = 4
scene.cycles.device = "CPU"
scene.render.resolution_x, scene.render.resolution_y = 640, 480

bpy.ops.mesh.primitive_cube_add(size=1.6, location=(0.6, -0.4, 0.3), rotation=(0.3, 0.5, 0.7))
cube = context.active_object
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.7, location=(-0.6, 0.9, 0.9))
sphere = context.active_object
bpy.ops.mesh.primitive_cylinder_add(radius=0.4, depth=2.0, location=(1.8, 1.4, 0.0), rotation=(0.2, 0.0, 0.4))
cylinder = context.active_object
cylinder.pass_index = 7
cube.pass_index = 3
for ob in scene.objects:
    ob.select_set(ob in {cube, sphere})
cameras = rig.make_rig(context, "HEMISPHERE", 4, 6.0)
cameras[1].data.dof.use_dof = True  # the data render turns it off for the pinhole, then back on


def settings_snapshot() -> dict:
    """Everything the capture touches, as plain values."""
    render, cycles, layer, image = scene.render, scene.cycles, context.view_layer, scene.render.image_settings
    return {
        "engine": render.engine,
        "samples": cycles.samples,
        "pixel_filter_type": cycles.pixel_filter_type,
        "filter_width": round(cycles.filter_width, 6),
        "use_denoising": cycles.use_denoising,
        "max_bounces": cycles.max_bounces,
        "film_transparent": render.film_transparent,
        "use_compositing": render.use_compositing,
        "use_pass_z": layer.use_pass_z,
        "use_pass_object_index": layer.use_pass_object_index,
        "pass_index": {ob.name: ob.pass_index for ob in scene.objects},
        "use_dof": [cam.data.dof.use_dof for cam in cameras],
        "resolution": [render.resolution_x, render.resolution_y, render.resolution_percentage],
        "media_type": getattr(image, "media_type", None),
        "file_format": image.file_format,
        "color_mode": image.color_mode,
        "color_depth": image.color_depth,
        "filepath": render.filepath,
        "camera": scene.camera.name if scene.camera else None,
    }


before = settings_snapshot()
start = time.perf_counter()
result = capture.capture(
    context,
    cameras,
    os.path.join(work, "cap"),
    max_size=48,
    masks_of=[cube, sphere],
    with_masks=True,
    with_depth=True,
)
capture_seconds = time.perf_counter() - start
after = settings_snapshot()
default_method = data_passes.available_method()

names = {cube.name, sphere.name}
start = time.perf_counter()
views = [check_view(context, frame, names, *paths) for frame, *paths in capture_files(result)]
raycast_seconds = time.perf_counter() - start

# The other way of getting the data passes out, where this Blender has both: the same checks, and the
# same values as the default method.
views_by_method = {default_method: views}
agreement = {}
for method in data_passes.METHODS:
    if method == default_method or (method == "multilayer" and default_method != "multilayer"):
        continue
    other = capture.capture(
        context,
        cameras,
        os.path.join(work, f"cap-{method}"),
        max_size=48,
        masks_of=[cube, sphere],
        with_masks=True,
        with_depth=True,
        data_method=method,
    )
    views_by_method[method] = [
        check_view(context, frame, names, *paths) for frame, *paths in capture_files(other)
    ]
    depth_a = [np.load(p, allow_pickle=False) for p in result.depths]
    depth_b = [np.load(p, allow_pickle=False) for p in other.depths]
    agreement[method] = {
        "max_relative_depth_difference": max(
            float((np.abs(a - b)[a > 0] / a[a > 0]).max(initial=0.0))
            for a, b in zip(depth_a, depth_b, strict=True)
        ),
        "hit_mismatch": sum(int(((a > 0) != (b > 0)).sum()) for a, b in zip(depth_a, depth_b, strict=True)),
        "mask_mismatch": sum(
            int((read_png(a) != read_png(b)).any(axis=-1).sum())
            for a, b in zip(result.masks, other.masks, strict=True)
        ),
    }

# An opaque capture when the artist asks for one: RGB, no alpha.
opaque = capture.capture(
    context, cameras[:1], os.path.join(work, "opaque"), max_size=48, transparent_background=False
)
opaque_color_type = png_color_type(opaque.images[0])

# A data render that fails half-way still leaves every setting as it was.
reader = "read_data_passes" if default_method == "multilayer" else "read_emission_passes"
read_passes = getattr(data_passes, reader)
calls = []


def failing_read(path: str) -> tuple:
    calls.append(path)
    if len(calls) == 2:
        raise RuntimeError("simulated failure reading the data render")
    return read_passes(path)


setattr(data_passes, reader, failing_read)
try:
    capture.capture(
        context, cameras, os.path.join(work, "failing"), max_size=48, masks_of=[cube], with_masks=True
    )
    failure = ""
except RuntimeError as exc:
    failure = str(exc)
finally:
    setattr(data_passes, reader, read_passes)
after_failure = settings_snapshot()

# Depth does not clip: a cube whose near face is 100 m in front of a camera (clip_end 1000 m).
bpy.ops.mesh.primitive_cube_add(size=2.0, location=(0.0, 121.0, 0.0))
far_cube = context.active_object
far_data = bpy.data.cameras.new("Far Camera")
far_data.lens, far_data.clip_end = 200.0, 1000.0
far_camera = bpy.data.objects.new("Far Camera", far_data)
scene.collection.objects.link(far_camera)
far_camera.location = Vector((0.0, 20.0, 0.0))  # clear of the other objects
far_camera.rotation_euler = (math.pi / 2, 0.0, 0.0)  # looking down +Y
context.view_layer.update()
far = capture.capture(
    context, [far_camera], os.path.join(work, "far"), max_size=48, masks_of=[far_cube], with_depth=True
)
far_depth = np.load(far.depths[0], allow_pickle=False)

# Rig kinds: count, every camera looks at the centre, distance = radius, elevations in the kind's band.
rigs = {}
lo, hi = rig.world_bounds(rig.selected_targets(context))
centre = (lo + hi) / 2.0
for kind in rig.RIG_KINDS:
    for count in (1, 7, 24):
        cameras_of_kind = rig.make_rig(context, kind, count, 5.0)
        elevations, aim_errors, distances = [], [], []
        for ob in cameras_of_kind:
            offset = ob.matrix_world.translation - centre
            forward = ob.matrix_world.to_3x3() @ Vector((0.0, 0.0, -1.0))
            aim_errors.append(math.degrees(forward.angle(-offset)))
            elevations.append(math.degrees(math.asin(offset.z / offset.length)))
            distances.append(offset.length)
        rigs[f"{kind}/{count}"] = {
            "count": len(cameras_of_kind),
            "in_collection": len(bpy.data.collections[rig.RIG_COLLECTION].objects),
            "max_aim_error_deg": max(aim_errors),
            "elevation_range": [min(elevations), max(elevations)],
            "distance_range": [min(distances), max(distances)],
        }

emit(
    {
        "rigs": rigs,
        "rig_bands": {**rig.RIG_ELEVATIONS, "ORBIT": (rig.ORBIT_ELEVATION, rig.ORBIT_ELEVATION)},
        "before": before,
        "after": after,
        "failure": failure,
        "after_failure": after_failure,
        "frame_keys": [sorted(f) for f in result.transforms["frames"]],
        "depth_paths": [f.get("depth_file_path") for f in result.transforms["frames"]],
        "views": views,
        "default_method": default_method,
        "views_by_method": views_by_method,
        "method_agreement": agreement,
        "capture_seconds": capture_seconds,
        "raycast_seconds": raycast_seconds,
        "opaque_color_type": opaque_color_type,
        "opaque_has_depth": bool(opaque.depths),
        "far_centre_depth": float(far_depth[18, 24]),
        "far_max_depth": float(far_depth.max()),
        "far_hit_pixels": int((far_depth > 0).sum()),
    }
)
sys.stdout.flush()
