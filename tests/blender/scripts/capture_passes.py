"""Capture 4 views at 48x36 with depth and masks from render passes; compare with per-pixel ray casts.

The scene: a rotated off-origin cube, a sphere partly in front of it (both masked), and a cylinder that
is not masked but carries a pass index of its own (it must not leak into the mask, and must get it back).
A second capture puts a cube 100 m away to check that depth does not clip.
"""

from __future__ import annotations

import math
import os
import struct
import sys
import tempfile
import time
import zlib

import bpy
import numpy as np
from _common import emit
from _raycast import ray_cast_maps
from mathutils import Matrix, Vector

from blender_in2n import capture

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
cameras = capture.make_rig(context, "HEMISPHERE", 4, 6.0)
cameras[1].data.dof.use_dof = True  # the data render turns it off for the pinhole, then back on


DEPTH_RTOL = 1e-4
SAMPLE_OFFSET = 0.005  # px: Cycles' box filter of width 0.01 puts the sample within this of the centre


def within_sample_box(context, frame: dict, row: int, col: int, value: float) -> bool:
    """Whether `value` lies (to DEPTH_RTOL) between the ray-cast depths at the corners of the square the
    data render's sample may take inside pixel (row, col): on a grazing surface the depth changes faster
    than 1e-4 relative over 0.005 px, and that is the sample's position, not an error of the pass."""
    pose = Matrix(frame["transform_matrix"])
    origin, rotation = pose.translation, pose.to_3x3()
    depsgraph = context.evaluated_depsgraph_get()
    depths = []
    for du in (-SAMPLE_OFFSET, SAMPLE_OFFSET):
        for dv in (-SAMPLE_OFFSET, SAMPLE_OFFSET):
            x = ((col + 0.5 + du) - frame["cx"]) / frame["fl_x"]
            y = -((row + 0.5 + dv) - frame["cy"]) / frame["fl_y"]
            direction = (rotation @ Vector((x, y, -1.0))).normalized()
            hit, location, *_ = context.scene.ray_cast(depsgraph, origin, direction)
            if not hit:
                return False
            depths.append(-(rotation.transposed() @ (location - origin)).z)
    slack = DEPTH_RTOL * value
    return min(depths) - slack <= value <= max(depths) + slack


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


def png_color_type(path: str) -> int:
    """The PNG's IHDR colour type (2 = RGB, 6 = RGBA)."""
    with open(path, "rb") as fh:
        head = fh.read(33)
    return head[25]


def read_png(path: str) -> np.ndarray:
    """8-bit PNG (grey, RGB or RGBA, no interlace) as uint8 [H, W, C], top row first, decoded here."""
    with open(path, "rb") as fh:
        data = fh.read()
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, bits, color_type = ihdr[0], ihdr[1], ihdr[2], ihdr[3]
    assert bits == 8, bits
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * channels)
    out = np.zeros((h, w * channels), np.int32)
    prev = np.zeros(w * channels, np.int32)
    for row in range(h):
        kind, line = raw[row, 0], raw[row, 1:].astype(np.int32)
        cur = np.zeros_like(line)
        for i in range(len(line)):
            a = cur[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[i] = (line[i] + pred) & 255
        out[row], prev = cur, cur
    return out.reshape(h, w, channels).astype(np.uint8)


def erode(hit: np.ndarray, radius: int) -> np.ndarray:
    """Pixels whose whole (2r+1)^2 neighbourhood is True (off-image counts as False)."""
    padded = np.pad(hit, radius, constant_values=False)
    h, w = hit.shape
    out = np.ones_like(hit)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out &= padded[dy : dy + h, dx : dx + w]
    return out


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

names = {cube.name, sphere.name}
views = []
raycast_seconds = 0.0
for frame, image_path, mask_path, depth_path in zip(
    result.transforms["frames"], result.images, result.masks, result.depths, strict=True
):
    start = time.perf_counter()
    ref_mask, ref_depth = ray_cast_maps(context, frame, names)
    raycast_seconds += time.perf_counter() - start
    depth = np.load(depth_path, allow_pickle=False)
    mask = read_png(mask_path)[..., 0]
    rgba = read_png(image_path)
    both = (depth > 0) & (ref_depth > 0)
    relative = np.abs(depth[both] - ref_depth[both]) / ref_depth[both]
    over = both & (np.abs(depth - ref_depth) > DEPTH_RTOL * ref_depth)
    unexplained = sum(
        not within_sample_box(context, frame, r, c, float(depth[r, c])) for r, c in np.argwhere(over)
    )
    ref_hit = ref_depth > 0
    views.append(
        {
            "depth_dtype": str(depth.dtype),
            "depth_shape": list(depth.shape),
            "mask_values": sorted(int(v) for v in np.unique(mask)),
            "hit_pixels": int(ref_hit.sum()),
            "masked_pixels": int(ref_mask.sum()),
            "both_hit": int(both.sum()),
            "hit_mismatch": int(((depth > 0) != ref_hit).sum()),
            "max_relative_depth_error": float(relative.max()) if relative.size else 0.0,
            "p99_relative_depth_error": float(np.quantile(relative, 0.99)) if relative.size else 0.0,
            "over_rtol": int(over.sum()),
            "over_rtol_unexplained": int(unexplained),
            "mask_mismatch": int(((mask == 255) != ref_mask).sum()),
            "background_depth_nonzero": int((depth[~ref_hit] != 0).sum()),
            "png_color_type": png_color_type(image_path),
            "alpha_background_max": int(rgba[..., 3][erode(~ref_hit, 2)].max(initial=0)),
            "alpha_interior_min": int(rgba[..., 3][erode(ref_hit, 2)].min(initial=255)),
            "background_pixels_checked": int(erode(~ref_hit, 2).sum()),
            "interior_pixels_checked": int(erode(ref_hit, 2).sum()),
        }
    )

# An opaque capture when the artist asks for one: RGB, no alpha.
opaque = capture.capture(
    context, cameras[:1], os.path.join(work, "opaque"), max_size=48, transparent_background=False
)
opaque_color_type = png_color_type(opaque.images[0])

# A data render that fails half-way still leaves every setting as it was.
read_passes = capture.read_data_passes
calls = []


def failing_read(path: str) -> tuple:
    calls.append(path)
    if len(calls) == 2:
        raise RuntimeError("simulated failure reading the data render")
    return read_passes(path)


capture.read_data_passes = failing_read
try:
    capture.capture(
        context, cameras, os.path.join(work, "failing"), max_size=48, masks_of=[cube], with_masks=True
    )
    failure = ""
except RuntimeError as exc:
    failure = str(exc)
finally:
    capture.read_data_passes = read_passes
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
lo, hi = capture.world_bounds(capture.selected_targets(context))
centre = (lo + hi) / 2.0
for kind in capture.RIG_KINDS:
    for count in (1, 7, 24):
        rig = capture.make_rig(context, kind, count, 5.0)
        elevations, aim_errors, distances = [], [], []
        for ob in rig:
            offset = ob.matrix_world.translation - centre
            forward = ob.matrix_world.to_3x3() @ Vector((0.0, 0.0, -1.0))
            aim_errors.append(math.degrees(forward.angle(-offset)))
            elevations.append(math.degrees(math.asin(offset.z / offset.length)))
            distances.append(offset.length)
        rigs[f"{kind}/{count}"] = {
            "count": len(rig),
            "in_collection": len(bpy.data.collections[capture.RIG_COLLECTION].objects),
            "max_aim_error_deg": max(aim_errors),
            "elevation_range": [min(elevations), max(elevations)],
            "distance_range": [min(distances), max(distances)],
        }

emit(
    {
        "rigs": rigs,
        "rig_bands": {**capture.RIG_ELEVATIONS, "ORBIT": (capture.ORBIT_ELEVATION, capture.ORBIT_ELEVATION)},
        "before": before,
        "after": after,
        "failure": failure,
        "after_failure": after_failure,
        "frame_keys": [sorted(f) for f in result.transforms["frames"]],
        "depth_paths": [f.get("depth_file_path") for f in result.transforms["frames"]],
        "views": views,
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
