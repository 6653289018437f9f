"""Where a capture looks from: the selected cameras, or a generated rig around the selected objects."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import bpy
from mathutils import Matrix, Vector

from . import camera_math
from .errors import CaptureError
from .scene_collections import linked_collection, remove_cameras

RIG_COLLECTION = "In2N Capture Rig"
RIG_KINDS = ("ORBIT", "HEMISPHERE", "SPHERE")
# Elevation bands (degrees) of the spiral rigs: HEMISPHERE for objects on a floor, SPHERE for objects that
# float (views from below too, so held-out views under the object are constrained; not -90: the pole).
RIG_ELEVATIONS = {"HEMISPHERE": (10.0, 75.0), "SPHERE": (-20.0, 80.0)}
ORBIT_ELEVATION = 25.0


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
    """Positions around `center`: a ring at 25 degrees elevation (ORBIT), or a Fibonacci spiral over an
    elevation band (HEMISPHERE 10..75 degrees, SPHERE -20..80 degrees): even coverage, no pole singularity."""
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
            elevation = math.radians(ORBIT_ELEVATION)
        else:
            # Equal steps in sin(elevation) are equal areas on the sphere.
            t = (i + 0.5) / count
            low, high = (math.sin(math.radians(e)) for e in RIG_ELEVATIONS[kind])
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
    collection = linked_collection(context.scene, RIG_COLLECTION)
    remove_cameras(collection)
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
