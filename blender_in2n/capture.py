"""Capture a scene from Blender: cameras (selected or a generated rig), renders, masks and depth maps.

Colour renders use the scene's own render engine and colour management, so the NeRF sees what the artist
sees; by default the film is transparent (the world still lights the scene, its own pixels get alpha 0), so
the server knows where there is nothing. Masks (white = the selected objects, as first hit) and depth (z
along the camera axis in scene units, 0 = nothing hit) come from a second, cheap Cycles "data" render per
view, exact at the pixel centres (`data_passes`). For textures, the capture also carries the selected
meshes' surfaces (`surfaces`) and, per view, the light its colour render was shaded with (`light_passes`).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import camera_math, data_passes, light_passes, png, surfaces
from .protocol import wire

RIG_COLLECTION = "In2N Capture Rig"
RIG_KINDS = ("ORBIT", "HEMISPHERE", "SPHERE")
# Elevation bands (degrees) of the spiral rigs: HEMISPHERE for objects on a floor, SPHERE for objects that
# float (views from below too, so held-out views under the object are constrained; not -90: the pole).
RIG_ELEVATIONS = {"HEMISPHERE": (10.0, 75.0), "SPHERE": (-20.0, 80.0)}
ORBIT_ELEVATION = 25.0
# Restored in this order: each may reset the ones after it.
IMAGE_SETTINGS = ("media_type", "file_format", "color_mode", "color_depth", "exr_codec", "color_management")


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
    lights: list[str] = field(default_factory=list)
    surfaces: str = ""
    uv_maps: dict[str, str] = field(default_factory=dict)  # object name -> UV map ("" = generated)
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


class _Overrides:
    """Scene settings changed for a capture, put back exactly as they were (also when a render fails).

    Each attribute is saved the first time it is changed, and restored in the order of those first changes
    (so `media_type` goes back before `file_format`, which it would otherwise reset).
    """

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []
        self._keys: set[tuple[int, str]] = set()

    def remember(self, owner: Any, attrs: Sequence[str]) -> None:
        """Save attributes now, to be restored in this order, whether or not they change later.

        For settings that depend on each other (setting `media_type` or `file_format` resets
        `color_depth`), so that they go back in an order Blender accepts.
        """
        for attr in attrs:
            key = (owner.as_pointer(), attr)
            if hasattr(owner, attr) and key not in self._keys:
                self._keys.add(key)
                self._saved.append((owner, attr, getattr(owner, attr)))

    def set(self, owner: Any, attr: str, value: Any) -> None:
        """Set `owner.attr`, remembering its first value; attributes this Blender lacks are skipped."""
        if not hasattr(owner, attr):
            return  # e.g. image_settings.media_type, new in Blender 5.0
        if getattr(owner, attr) == value:
            return  # nothing to change (and nothing to write on a linked, read-only object)
        key = (owner.as_pointer(), attr)
        if key not in self._keys:
            self._keys.add(key)
            self._saved.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, value)

    def restore(self) -> None:
        """Put every saved value back; one value that cannot be restored does not stop the others."""
        failed = []
        for owner, attr, value in self._saved:
            try:
                setattr(owner, attr, value)
            except (AttributeError, TypeError, ValueError, ReferenceError) as exc:
                failed.append(f"{attr}: {exc}")
        self._saved.clear()
        self._keys.clear()
        if failed:
            raise CaptureError("could not restore scene settings after the capture: " + "; ".join(failed))


def capture(
    context: Any,
    cameras: Sequence[Any],
    directory: str,
    *,
    max_size: int = 512,
    masks_of: Sequence[Any] = (),
    with_masks: bool = False,
    with_depth: bool = False,
    transparent_background: bool = True,
    data_method: str = "",
    with_lights: bool = False,
    surfaces_of: Sequence[Any] = (),
) -> Capture:
    """Render every camera into `directory` and describe them as a transforms.json document.

    The longer image side is `max_size` (aspect and pixel aspect from the scene's render settings). Colour
    goes to `images/NNNN.png` (8-bit RGBA with straight alpha, or RGB when `transparent_background` is off);
    masks to `masks/NNNN.png` and depth to `depths/NNNN.npy` (float32 z-depth, 0 = nothing hit) from one
    extra data render per view (`data_method`: one of `data_passes.METHODS`, "" = the fastest this Blender
    has). `with_lights`: each colour render also gives `lights/NNNN.npy` and its image is encoded with the
    Standard view (`light_passes`; Cycles and OpenImageIO only, else CaptureError). `surfaces_of`: those
    meshes' surfaces go to `surfaces.npz` (`surfaces`). Every scene setting changed is restored after.
    """
    _check_request(cameras, masks_of, with_masks, max_size)
    scene = context.scene
    if with_lights and light_passes.unavailable_reason(scene):
        raise CaptureError(light_passes.unavailable_reason(scene))
    render = scene.render
    os.makedirs(os.path.join(directory, "images"), exist_ok=True)
    result = Capture(directory=directory, transforms={"frames": []})
    if surfaces_of:
        _write_surfaces(context, result, surfaces_of)
    overrides = _Overrides()
    try:
        overrides.remember(render.image_settings, IMAGE_SETTINGS)
        width, height = _capture_size(render.resolution_x, render.resolution_y, max_size)
        overrides.set(render, "resolution_x", width)
        overrides.set(render, "resolution_y", height)
        overrides.set(render, "resolution_percentage", 100)
        _colour_settings(overrides, scene, transparent_background)
        if with_lights:
            light_passes.light_settings(overrides, scene, context.view_layer)
        for i, ob in enumerate(cameras):
            name = f"{i:04d}.png"
            path = os.path.join(directory, "images", name)
            overrides.set(scene, "camera", ob)
            if with_lights:
                _render_with_lights(context, result, i, path, transparent_background, overrides)
            else:
                overrides.set(render, "filepath", path)
                bpy.ops.render.render(write_still=True)
            if not os.path.isfile(path):
                raise CaptureError(
                    f"rendering camera {ob.name!r} wrote no image (render engine {render.engine})"
                )
            frame = camera_math.camera_from_blender(ob, render)
            frame["file_path"] = f"images/{name}"
            if with_lights:
                frame[wire.LIGHT_KEY] = f"lights/{i:04d}.npy"
            result.transforms["frames"].append(frame)
            result.images.append(path)
            result.camera_names.append(ob.name)
        if with_masks or with_depth:
            maps = data_passes.render_data_maps(context, cameras, masks_of, overrides, data_method)
            with contextlib.closing(maps):
                for i, (depth, mask) in enumerate(maps):
                    _write_maps(result, i, depth if with_depth else None, mask if with_masks else None)
    except data_passes.DataPassError as exc:
        with contextlib.suppress(CaptureError):
            overrides.restore()
        raise CaptureError(f"masks and depth could not be rendered: {exc}") from exc
    except light_passes.LightPassError as exc:
        with contextlib.suppress(CaptureError):
            overrides.restore()
        raise CaptureError(f"the light passes could not be rendered: {exc}") from exc
    except BaseException:
        with contextlib.suppress(CaptureError):  # the render's own error is the one to report
            overrides.restore()
        raise
    overrides.restore()
    return result


def _write_surfaces(context: Any, result: Capture, objects: Sequence[Any]) -> None:
    """The objects' surfaces as `surfaces.npz`, named by the transforms (before any render: fails fast)."""
    path = os.path.join(result.directory, surfaces.FILE_NAME)
    try:
        result.uv_maps = surfaces.write_surfaces(context, objects, path)
    except surfaces.SurfaceError as exc:
        raise CaptureError(str(exc)) from exc
    result.transforms[wire.SURFACES_KEY] = surfaces.FILE_NAME
    result.surfaces = path


def _render_with_lights(
    context: Any, result: Capture, index: int, path: str, transparent: bool, overrides: _Overrides
) -> None:
    """One colour render with its light passes: the PNG (Standard view) and `lights/NNNN.npy` (float16)."""
    exr = os.path.join(result.directory, f"light-{index:04d}.exr")
    passes = light_passes.render_passes(context, exr, overrides)
    pixels, lights = light_passes.colour_and_lights(passes, transparent)
    _write(path, png.encode_png(pixels))
    os.makedirs(os.path.join(result.directory, "lights"), exist_ok=True)
    light_path = os.path.join(result.directory, "lights", f"{index:04d}.npy")
    np.save(light_path, lights, allow_pickle=False)
    result.lights.append(light_path)


def _check_request(cameras: Sequence[Any], masks_of: Sequence[Any], with_masks: bool, max_size: int) -> None:
    """Refuse what cannot be captured before any render (and any scene change) happens."""
    if not cameras:
        raise CaptureError("no cameras to capture: select cameras, or use a generated rig")
    for ob in cameras:
        if ob.type != "CAMERA" or ob.data.type != "PERSP":
            raise CaptureError(f"{ob.name!r} is not a perspective camera")
    if with_masks and not masks_of:
        raise CaptureError("masks need selected objects to mask")
    if max_size < 8:
        raise CaptureError(f"capture size must be at least 8 px, got {max_size}")


def _colour_settings(overrides: _Overrides, scene: Any, transparent: bool) -> None:
    """8-bit PNG through the scene's own view transform; RGBA with a transparent film, unless opaque."""
    render = scene.render
    overrides.set(render, "film_transparent", transparent)
    settings = render.image_settings
    overrides.set(settings, "media_type", "IMAGE")
    overrides.set(settings, "file_format", "PNG")
    overrides.set(settings, "color_mode", "RGBA" if transparent else "RGB")
    overrides.set(settings, "color_depth", "8")
    overrides.set(settings, "color_management", "FOLLOW_SCENE")


def _write_maps(result: Capture, index: int, depth: np.ndarray | None, mask: np.ndarray | None) -> None:
    """Write one view's mask (8-bit PNG) and depth (.npy, no pickle) and name them in its frame."""
    frame = result.transforms["frames"][index]
    if mask is not None:
        os.makedirs(os.path.join(result.directory, "masks"), exist_ok=True)
        path = os.path.join(result.directory, "masks", f"{index:04d}.png")
        _write(path, png.encode_png(np.where(mask, 255, 0).astype(np.uint8)))
        frame["mask_path"] = f"masks/{index:04d}.png"
        result.masks.append(path)
    if depth is not None:
        os.makedirs(os.path.join(result.directory, "depths"), exist_ok=True)
        path = os.path.join(result.directory, "depths", f"{index:04d}.npy")
        np.save(path, np.ascontiguousarray(depth, np.float32), allow_pickle=False)
        frame["depth_file_path"] = f"depths/{index:04d}.npy"
        result.depths.append(path)


def _capture_size(resolution_x: int, resolution_y: int, max_size: int) -> tuple[int, int]:
    """Keep the scene's aspect with the longer side at `max_size`."""
    if resolution_x >= resolution_y:
        return max_size, max(1, round(max_size * resolution_y / resolution_x))
    return max(1, round(max_size * resolution_x / resolution_y)), max_size


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
