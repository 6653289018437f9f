"""Capture a scene from Blender: cameras (selected or a generated rig), renders, masks and depth maps.

Colour renders use the scene's own render engine and colour management, so the NeRF sees what the artist
sees; by default the film is transparent (the world still lights the scene, its own pixels get alpha 0), so
the server knows where there is nothing. Masks (white = the selected objects, as first hit) and depth (z
along the camera axis in scene units, 0 = nothing hit) come from a second, cheap Cycles "data" render per
view: 1 sample through the pixel centre (box filter 0.01 px), Z and object-index passes, written as a
float32 multilayer EXR and read back with the OpenImageIO module Blender ships. That is exact at the pixel
centres like a ray cast, but costs one 1-sample render instead of W*H Python calls, and has no range limit.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import camera_math, png

RIG_COLLECTION = "In2N Capture Rig"
RIG_KINDS = ("ORBIT", "HEMISPHERE", "SPHERE")
# Elevation bands (degrees) of the spiral rigs: HEMISPHERE for objects on a floor, SPHERE for objects that
# float (views from below too, so held-out views under the object are constrained; not -90: the pole).
RIG_ELEVATIONS = {"HEMISPHERE": (10.0, 75.0), "SPHERE": (-20.0, 80.0)}
ORBIT_ELEVATION = 25.0
MASK_PASS_INDEX = 1  # the object index the masked objects get during the data render
# Restored in this order: each may reset the ones after it.
IMAGE_SETTINGS = ("media_type", "file_format", "color_mode", "color_depth", "exr_codec", "color_management")
DATA_FILTER_WIDTH = 0.01  # px: Cycles' smallest box filter, every sample within 0.005 px of the centre


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
) -> Capture:
    """Render every camera into `directory` and describe them as a transforms.json document.

    The longer image side is `max_size` (aspect and pixel aspect from the scene's render settings). Colour
    goes to `images/NNNN.png` (8-bit RGBA with straight alpha, or RGB when `transparent_background` is off);
    masks to `masks/NNNN.png` and depth to `depths/NNNN.npy` (float32 z-depth, 0 = nothing hit) from one
    extra data render per view. Every scene setting changed for the capture is restored after.
    """
    _check_request(cameras, masks_of, with_masks, max_size)
    scene = context.scene
    render = scene.render
    os.makedirs(os.path.join(directory, "images"), exist_ok=True)
    result = Capture(directory=directory, transforms={"frames": []})
    overrides = _Overrides()
    try:
        overrides.remember(render.image_settings, IMAGE_SETTINGS)
        width, height = _capture_size(render.resolution_x, render.resolution_y, max_size)
        overrides.set(render, "resolution_x", width)
        overrides.set(render, "resolution_y", height)
        overrides.set(render, "resolution_percentage", 100)
        _colour_settings(overrides, scene, transparent_background)
        for i, ob in enumerate(cameras):
            name = f"{i:04d}.png"
            path = os.path.join(directory, "images", name)
            overrides.set(scene, "camera", ob)
            overrides.set(render, "filepath", path)
            bpy.ops.render.render(write_still=True)
            if not os.path.isfile(path):
                raise CaptureError(
                    f"rendering camera {ob.name!r} wrote no image (render engine {render.engine})"
                )
            frame = camera_math.camera_from_blender(ob, render)
            frame["file_path"] = f"images/{name}"
            result.transforms["frames"].append(frame)
            result.images.append(path)
            result.camera_names.append(ob.name)
        if with_masks or with_depth:
            with contextlib.closing(render_data_maps(context, cameras, masks_of, overrides)) as maps:
                for i, (depth, mask) in enumerate(maps):
                    _write_maps(result, i, depth if with_depth else None, mask if with_masks else None)
    except BaseException:
        with contextlib.suppress(CaptureError):  # the render's own error is the one to report
            overrides.restore()
        raise
    overrides.restore()
    return result


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


def render_data_maps(
    context: Any, cameras: Sequence[Any], masks_of: Sequence[Any], overrides: _Overrides
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per camera: z-depth (float32 [H, W], scene units, 0 = no hit) and mask (bool, a masked object first).

    One Cycles render per view at the size already set on the scene, with settings that make every pixel
    one sample through its centre: the same quantity a ray cast at the pixel centre gives. The changes go
    into `overrides` (the caller restores them). Yields lazily; the temporary EXRs are removed at the end.
    """
    scene = context.scene
    view_layer = context.view_layer
    _data_settings(overrides, scene, view_layer)
    masked = {ob.name for ob in masks_of}
    for ob in scene.objects:
        overrides.set(ob, "pass_index", MASK_PASS_INDEX if ob.name in masked else 0)
    workdir = tempfile.mkdtemp(prefix="in2n-data-")
    try:
        for i, ob in enumerate(cameras):
            path = os.path.join(workdir, f"{i:04d}.exr")
            overrides.set(ob.data.dof, "use_dof", False)  # a pinhole, like the intrinsics sent
            overrides.set(scene, "camera", ob)
            overrides.set(scene.render, "filepath", path)
            bpy.ops.render.render(write_still=True, layer=view_layer.name)
            if not os.path.isfile(path):
                raise CaptureError(f"the data render of camera {ob.name!r} wrote no file")
            z, index = read_data_passes(path)
            os.remove(path)
            yield clean_depth(z, ob.data.clip_end), np.rint(index) == MASK_PASS_INDEX
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _data_settings(overrides: _Overrides, scene: Any, view_layer: Any) -> None:
    """Cycles, 1 sample at the pixel centre, no denoiser, Z and object-index passes, float32 EXR out."""
    render = scene.render
    overrides.set(render, "engine", "CYCLES")
    cycles = scene.cycles
    overrides.set(cycles, "samples", 1)
    overrides.set(cycles, "use_adaptive_sampling", False)
    overrides.set(cycles, "use_denoising", False)
    overrides.set(cycles, "use_layer_samples", "IGNORE")
    overrides.set(cycles, "pixel_filter_type", "BOX")
    overrides.set(cycles, "filter_width", DATA_FILTER_WIDTH)
    overrides.set(cycles, "max_bounces", 0)  # only the first hit matters
    overrides.set(render, "film_transparent", True)  # no world shading for the background
    overrides.set(render, "use_motion_blur", False)
    overrides.set(render, "use_compositing", False)
    overrides.set(render, "use_sequencer", False)
    overrides.set(render, "use_multiview", False)
    overrides.set(view_layer, "use", True)
    overrides.set(view_layer, "use_pass_z", True)
    overrides.set(view_layer, "use_pass_object_index", True)
    settings = render.image_settings
    overrides.set(settings, "media_type", "MULTI_LAYER_IMAGE")
    overrides.set(settings, "file_format", "OPEN_EXR_MULTILAYER")
    overrides.set(settings, "color_depth", "32")
    overrides.set(settings, "exr_codec", "ZIP")


def clean_depth(z: np.ndarray, clip_end: float) -> np.ndarray:
    """Blender's Z pass with 0 where nothing was hit (it writes ~1e10 there) or the value is unusable."""
    z = np.asarray(z, np.float32)
    hit = np.isfinite(z) & (z > 0.0) & (z < clip_end)
    return np.where(hit, z, np.float32(0.0)).astype(np.float32)


def read_data_passes(path: str) -> tuple[np.ndarray, np.ndarray]:
    """The Z and object-index passes of a multilayer EXR, top row first, as float32 [H, W] arrays.

    Blender 5 writes one EXR part per pass (`ViewLayer.Depth.Z`, `ViewLayer.Object Index.X`); older ones
    one part with every channel (`ViewLayer.IndexOB.X`); both are searched.
    """
    oiio = openimageio()
    image = oiio.ImageInput.open(path)
    if image is None:
        raise CaptureError(f"cannot read the data render {path}: {oiio.geterror()}")
    found: dict[str, np.ndarray] = {}
    try:
        subimage = 0
        while image.seek_subimage(subimage, 0):
            spec = image.spec()
            for channel, name in enumerate(spec.channelnames):
                kind = _pass_kind(name)
                if kind is not None and kind not in found:
                    pixels = image.read_image(subimage, 0, channel, channel + 1, "float")
                    found[kind] = np.asarray(pixels, np.float32).reshape(spec.height, spec.width)
            subimage += 1
    finally:
        image.close()
    missing = {"depth", "index"} - found.keys()
    if missing:
        raise CaptureError(f"the data render {path} has no {' or '.join(sorted(missing))} pass")
    return found["depth"], found["index"]


def _pass_kind(channel: str) -> str | None:
    """Which data pass a multilayer EXR channel name (`<layer>.<pass>.<channel>`) holds, if any."""
    if channel.endswith(".Depth.Z"):
        return "depth"
    if channel.endswith((".IndexOB.X", ".Object Index.X")):
        return "index"
    return None


def openimageio() -> Any:
    """Blender's own OpenImageIO Python module (Blender 4.x and 5.x ship it; no extra wheel needed).

    Inside Blender it imports as is. The bpy module from PyPI ships it in
    `bpy/<version>/python/lib/python3.X/site-packages`, which is not on `sys.path`: it is loaded from there
    by file location, without adding that folder (and the other libraries in it) to `sys.path`.
    """
    if "OpenImageIO" in sys.modules:
        return sys.modules["OpenImageIO"]
    with contextlib.suppress(ImportError):
        import OpenImageIO

        return OpenImageIO
    root = bpy.utils.resource_path("LOCAL")
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for site in (
        os.path.join(root, "python", "lib", python, "site-packages"),
        os.path.join(root, "python", "lib", "site-packages"),  # Windows layout
    ):
        init = os.path.join(site, "OpenImageIO", "__init__.py")
        if os.path.isfile(init):
            spec = importlib.util.spec_from_file_location(
                "OpenImageIO", init, submodule_search_locations=[os.path.dirname(init)]
            )
            module = importlib.util.module_from_spec(spec)
            sys.modules["OpenImageIO"] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules["OpenImageIO"]
                raise
            return module
    raise CaptureError("Blender's OpenImageIO module was not found: masks and depth cannot be read")


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
