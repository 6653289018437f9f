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
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np

from . import camera_math, data_passes, light_passes, png, render_settings, surfaces
from .errors import CaptureError
from .protocol import wire


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
    overrides = render_settings.Overrides()
    try:
        overrides.remember(render.image_settings, render_settings.IMAGE_SETTINGS)
        width, height = render_settings.capture_size(render.resolution_x, render.resolution_y, max_size)
        overrides.set(render, "resolution_x", width)
        overrides.set(render, "resolution_y", height)
        overrides.set(render, "resolution_percentage", 100)
        render_settings.colour_settings(overrides, scene, transparent_background)
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
    context: Any,
    result: Capture,
    index: int,
    path: str,
    transparent: bool,
    overrides: render_settings.Overrides,
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


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
