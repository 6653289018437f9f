"""Capture a scene from Blender: cameras (selected or a generated rig), renders, masks and depth maps.

Renders use the scene's own render engine and colour management, so the NeRF sees what the artist sees.
Masks (white = the selected objects, the part an edit may change) and depth (z along the camera axis, 16-bit
millimetres, 0 = nothing hit) come from ray casts through the pixel centres against the evaluated scene:
exact, engine-independent, and free of compositor set-up.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import camera_math, png

RIG_COLLECTION = "In2N Capture Rig"
RIG_KINDS = ("ORBIT", "HEMISPHERE")


class CaptureError(ValueError):
    """The scene cannot be captured as asked (no cameras, nothing selected, ...)."""


@dataclass
class Capture:
    """A captured scene on disk, ready to upload: transforms.json document and the files it names."""

    directory: str
    transforms: dict[str, Any]
    images: list[str] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)
    depths: list[str] = field(default_factory=list)
    camera_names: list[str] = field(default_factory=list)


def selected_cameras(context: Any) -> list[Any]:
    cameras = [ob for ob in context.selected_objects if ob.type == "CAMERA"]
    return sorted(cameras, key=lambda ob: ob.name)


def selected_targets(context: Any) -> list[Any]:
    """Selected objects that are not cameras or lights: what a rig looks at and masks cover."""
    return [
        ob for ob in context.selected_objects if ob.type not in {"CAMERA", "LIGHT", "SPEAKER", "LIGHT_PROBE"}
    ]


def world_bounds(objects: Iterable[Any]) -> tuple[Vector, Vector]:
    """Axis-aligned world-space bounds (min, max) of objects' bounding boxes."""
    points = [ob.matrix_world @ Vector(corner) for ob in objects for corner in ob.bound_box]
    if not points:
        raise CaptureError("select the objects to capture (meshes or other geometry)")
    lo = Vector((min(p.x for p in points), min(p.y for p in points), min(p.z for p in points)))
    hi = Vector((max(p.x for p in points), max(p.y for p in points), max(p.z for p in points)))
    return lo, hi


def rig_positions(kind: str, count: int, center: Vector, radius: float) -> list[Vector]:
    """Positions around `center`: a ring at 25 degrees elevation, or a spiral over the upper hemisphere."""
    if kind not in RIG_KINDS:
        raise CaptureError(f"unknown rig kind {kind!r}; expected one of {RIG_KINDS}")
    if count < 1:
        raise CaptureError("the rig needs at least one view")
    if radius <= 0:
        raise CaptureError(f"rig radius must be positive, got {radius}")
    positions = []
    golden = math.pi * (3.0 - math.sqrt(5.0))
    for i in range(count):
        if kind == "ORBIT":
            azimuth = 2.0 * math.pi * i / count
            elevation = math.radians(25.0)
        else:
            # Fibonacci spiral over elevations 10..75 degrees: even coverage, no pole singularity.
            t = (i + 0.5) / count
            low, high = math.sin(math.radians(10.0)), math.sin(math.radians(75.0))
            elevation = math.asin(low + t * (high - low))
            azimuth = i * golden
        direction = Vector(
            (
                math.cos(elevation) * math.cos(azimuth),
                math.cos(elevation) * math.sin(azimuth),
                math.sin(elevation),
            )
        )
        positions.append(center + radius * direction)
    return positions


def look_at(position: Vector, target: Vector) -> Matrix:
    """Camera-to-world matrix at `position` looking at `target` (camera -Z forward, +Y towards world +Z)."""
    forward = target - position
    if forward.length < 1e-9:
        raise CaptureError("a rig camera sits on its target; increase the radius")
    rotation = forward.to_track_quat("-Z", "Y")
    return Matrix.LocRotScale(position, rotation, None)


def make_rig(context: Any, kind: str, count: int, radius: float = 0.0, lens: float = 35.0) -> list[Any]:
    """Create (or replace) the rig's camera objects around the selected objects, in their own collection.

    `radius` 0 means: far enough that the selection's bounding sphere fits the narrower field of view.
    """
    targets = selected_targets(context)
    lo, hi = world_bounds(targets)
    center = (lo + hi) / 2.0
    half = max((hi - lo).length / 2.0, 1e-3)
    if radius <= 0:
        radius = 1.15 * camera_math.fov_radius(half, lens, 36.0)
    collection = _rig_collection(context.scene)
    for ob in list(collection.objects):
        data = ob.data
        bpy.data.objects.remove(ob)
        if data is not None and data.users == 0:
            bpy.data.cameras.remove(data)
    cameras = []
    for i, position in enumerate(rig_positions(kind, count, center, radius)):
        data = bpy.data.cameras.new(f"In2N Rig {i:03d}")
        data.lens = lens
        data.sensor_width = 36.0
        data.sensor_fit = "AUTO"
        data.clip_end = max(100.0, 4.0 * radius)
        ob = bpy.data.objects.new(f"In2N Rig {i:03d}", data)
        ob.matrix_world = look_at(position, center)
        collection.objects.link(ob)
        cameras.append(ob)
    context.view_layer.update()
    return cameras


def _rig_collection(scene: Any) -> Any:
    collection = bpy.data.collections.get(RIG_COLLECTION)
    if collection is None:
        collection = bpy.data.collections.new(RIG_COLLECTION)
    if collection.name not in scene.collection.children:
        scene.collection.children.link(collection)
    return collection


def capture(
    context: Any,
    cameras: Sequence[Any],
    directory: str,
    *,
    max_size: int = 512,
    masks_of: Sequence[Any] = (),
    with_masks: bool = False,
    with_depth: bool = False,
) -> Capture:
    """Render every camera into `directory` and describe them as a transforms.json document.

    The longer image side is `max_size` (aspect and pixel aspect from the scene's render settings). Scene
    settings changed for the capture (active camera, output path and format, resolution) are restored after.
    """
    if not cameras:
        raise CaptureError("no cameras to capture: select cameras, or use a generated rig")
    for ob in cameras:
        if ob.type != "CAMERA" or ob.data.type != "PERSP":
            raise CaptureError(f"{ob.name!r} is not a perspective camera")
    if with_masks and not masks_of:
        raise CaptureError("masks need selected objects to mask")
    if max_size < 8:
        raise CaptureError(f"capture size must be at least 8 px, got {max_size}")
    scene = context.scene
    render = scene.render
    os.makedirs(os.path.join(directory, "images"), exist_ok=True)
    saved = {
        "camera": scene.camera,
        "filepath": render.filepath,
        "resolution_x": render.resolution_x,
        "resolution_y": render.resolution_y,
        "resolution_percentage": render.resolution_percentage,
        "file_format": render.image_settings.file_format,
        "color_mode": render.image_settings.color_mode,
        "color_depth": render.image_settings.color_depth,
    }
    result = Capture(directory=directory, transforms={"frames": []})
    try:
        width, height = _capture_size(render.resolution_x, render.resolution_y, max_size)
        render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
        render.image_settings.file_format = "PNG"
        render.image_settings.color_mode = "RGB"
        render.image_settings.color_depth = "8"
        mask_names = {ob.name for ob in masks_of}
        for i, ob in enumerate(cameras):
            name = f"{i:04d}.png"
            path = os.path.join(directory, "images", name)
            scene.camera = ob
            render.filepath = path
            bpy.ops.render.render(write_still=True)
            if not os.path.isfile(path):
                raise CaptureError(
                    f"rendering camera {ob.name!r} wrote no image (render engine {render.engine})"
                )
            frame = camera_math.camera_from_blender(ob, render)
            frame["file_path"] = f"images/{name}"
            if with_masks or with_depth:
                mask, depth = ray_cast_maps(context, frame, mask_names)
                if with_masks:
                    os.makedirs(os.path.join(directory, "masks"), exist_ok=True)
                    mask_path = os.path.join(directory, "masks", name)
                    _write(mask_path, png.encode_png(mask))
                    frame["mask_path"] = f"masks/{name}"
                    result.masks.append(mask_path)
                if with_depth:
                    os.makedirs(os.path.join(directory, "depths"), exist_ok=True)
                    depth_path = os.path.join(directory, "depths", name)
                    _write(depth_path, png.encode_png(depth))
                    frame["depth_file_path"] = f"depths/{name}"
                    result.depths.append(depth_path)
            result.transforms["frames"].append(frame)
            result.images.append(path)
            result.camera_names.append(ob.name)
    finally:
        scene.camera = saved["camera"]
        render.filepath = saved["filepath"]
        render.resolution_x = saved["resolution_x"]
        render.resolution_y = saved["resolution_y"]
        render.resolution_percentage = saved["resolution_percentage"]
        render.image_settings.file_format = saved["file_format"]
        render.image_settings.color_mode = saved["color_mode"]
        render.image_settings.color_depth = saved["color_depth"]
    return result


def _capture_size(resolution_x: int, resolution_y: int, max_size: int) -> tuple[int, int]:
    """Keep the scene's aspect with the longer side at `max_size`."""
    if resolution_x >= resolution_y:
        return max_size, max(1, round(max_size * resolution_y / resolution_x))
    return max(1, round(max_size * resolution_x / resolution_y)), max_size


def ray_cast_maps(context: Any, frame: dict[str, Any], mask_names: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mask (uint8, 255 where a masked object is the first hit) and z-depth (uint16 mm)."""
    depsgraph = context.evaluated_depsgraph_get()
    scene = context.scene
    pose = Matrix(frame["transform_matrix"])
    origin = pose.translation
    rotation = pose.to_3x3()
    w, h = frame["w"], frame["h"]
    mask = np.zeros((h, w), np.uint8)
    depth = np.zeros((h, w), np.uint16)
    for row in range(h):
        y = -((row + 0.5) - frame["cy"]) / frame["fl_y"]
        for col in range(w):
            x = ((col + 0.5) - frame["cx"]) / frame["fl_x"]
            direction = rotation @ Vector((x, y, -1.0))
            hit, location, _normal, _index, obj, _matrix = scene.ray_cast(
                depsgraph, origin, direction.normalized()
            )
            if not hit:
                continue
            z = (rotation.transposed() @ (location - origin)).z
            depth[row, col] = min(65535, max(1, round(-z * 1000.0)))
            source = obj.original if obj is not None else None
            if source is not None and source.name in mask_names:
                mask[row, col] = 255
    return mask, depth


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
