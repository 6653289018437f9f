"""Masks and depth of a capture: one cheap Cycles "data" render per view, exact at the pixel centres.

Every pixel is one sample through its centre (box filter 0.01 px, 1 sample, no bounces): the quantity a
ray cast at the pixel centre gives, for the cost of one render instead of W*H Python calls, with no range
limit. Two ways to get the data out of Blender, chosen by what this Blender has:

- `multilayer` (fast path): the Z and object-index render passes in one float32 multilayer EXR, read with
  the OpenImageIO Python module that Blender ships (Blender 5.x, and the 4.x *apps*; the 4.2 `bpy` wheel
  from PyPI has only the C++ library, not the module).
- `emission` (any Blender): a view-layer material override emits (view z depth, object index, 0) through
  Cycles' Camera Data and Object Info nodes, written as a single-layer float32 EXR that Blender's own
  image loader reads back. It needs nothing but Cycles. Where it differs from the passes: a material
  override makes every surface opaque, so (semi-)transparent and volume-only materials give depth where
  the Z pass would see through them (the Z pass also records the first surface, so this matters only for
  fully transparent shaders).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import bpy
import numpy as np

from .compat import enable_material_nodes

MASK_PASS_INDEX = 1  # the object index the masked objects get during the data render
DATA_FILTER_WIDTH = 0.01  # px: Cycles' smallest box filter, every sample within 0.005 px of the centre
METHODS = ("multilayer", "emission")
OVERRIDE_MATERIAL = "In2N Data Pass"


class DataPassError(ValueError):
    """The data render could not be made or read."""


def available_method() -> str:
    """`multilayer` where Blender's OpenImageIO module can be loaded, else `emission`."""
    try:
        openimageio()
    except DataPassError:
        return "emission"
    return "multilayer"


def render_data_maps(
    context: Any, cameras: Sequence[Any], masks_of: Sequence[Any], overrides: Any, method: str = ""
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per camera: z-depth (float32 [H, W], scene units, 0 = no hit) and mask (bool, a masked object first).

    Renders at the size already set on the scene. Every setting changed goes into `overrides` (an object
    with `set(owner, attr, value)`; the caller restores them). Yields lazily; temporary files and the
    override material are removed at the end. `method` "" picks `available_method()`.
    """
    method = method or available_method()
    if method not in METHODS:
        raise DataPassError(f"unknown data pass method {method!r}; expected one of {METHODS}")
    scene = context.scene
    view_layer = context.view_layer
    _data_settings(overrides, scene, view_layer, method)
    masked = {ob.name for ob in masks_of}
    for ob in scene.objects:
        overrides.set(ob, "pass_index", MASK_PASS_INDEX if ob.name in masked else 0)
    material = _override_material() if method == "emission" else None
    if material is not None:
        overrides.set(view_layer, "material_override", material)
    workdir = tempfile.mkdtemp(prefix="in2n-data-")
    try:
        for i, ob in enumerate(cameras):
            path = os.path.join(workdir, f"{i:04d}.exr")
            overrides.set(ob.data.dof, "use_dof", False)  # a pinhole, like the intrinsics sent
            overrides.set(scene, "camera", ob)
            overrides.set(scene.render, "filepath", path)
            bpy.ops.render.render(write_still=True, layer=view_layer.name)
            if not os.path.isfile(path):
                raise DataPassError(f"the data render of camera {ob.name!r} wrote no file")
            z, index = read_data_passes(path) if method == "multilayer" else read_emission_passes(path)
            os.remove(path)
            yield clean_depth(z, ob.data.clip_end), np.rint(index) == MASK_PASS_INDEX
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if material is not None:
            # The override is set back by the caller; removing the material first clears it for them.
            view_layer.material_override = None
            bpy.data.materials.remove(material)


def _data_settings(overrides: Any, scene: Any, view_layer: Any, method: str) -> None:
    """Cycles, 1 sample at the pixel centre, no denoiser, no clamping, float32 EXR out."""
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
    overrides.set(cycles, "film_exposure", 1.0)  # the emitted values pass unscaled
    overrides.set(cycles, "sample_clamp_direct", 0.0)
    overrides.set(render, "film_transparent", True)  # no world shading for the background
    overrides.set(render, "use_motion_blur", False)
    overrides.set(render, "use_compositing", False)
    overrides.set(render, "use_sequencer", False)
    overrides.set(render, "use_multiview", False)
    overrides.set(view_layer, "use", True)
    settings = render.image_settings
    if method == "multilayer":
        overrides.set(view_layer, "use_pass_z", True)
        overrides.set(view_layer, "use_pass_object_index", True)
        overrides.set(settings, "media_type", "MULTI_LAYER_IMAGE")
        overrides.set(settings, "file_format", "OPEN_EXR_MULTILAYER")
    else:
        overrides.set(settings, "media_type", "IMAGE")
        overrides.set(settings, "file_format", "OPEN_EXR")
        overrides.set(settings, "color_mode", "RGBA")
    overrides.set(settings, "color_depth", "32")
    overrides.set(settings, "exr_codec", "ZIP")


def _override_material() -> Any:
    """Emission of (view z depth, object index, 0): the data passes as the render's colour."""
    material = bpy.data.materials.new(OVERRIDE_MATERIAL)
    enable_material_nodes(material)
    tree = material.node_tree
    tree.nodes.clear()
    output = tree.nodes.new("ShaderNodeOutputMaterial")
    emission = tree.nodes.new("ShaderNodeEmission")
    camera = tree.nodes.new("ShaderNodeCameraData")
    info = tree.nodes.new("ShaderNodeObjectInfo")
    combine = tree.nodes.new("ShaderNodeCombineXYZ")
    tree.links.new(camera.outputs["View Z Depth"], combine.inputs["X"])
    tree.links.new(info.outputs["Object Index"], combine.inputs["Y"])
    tree.links.new(combine.outputs["Vector"], emission.inputs["Color"])
    emission.inputs["Strength"].default_value = 1.0
    tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
    return material


def clean_depth(z: np.ndarray, clip_end: float) -> np.ndarray:
    """Depth with 0 where nothing was hit (the Z pass writes ~1e10 there) or the value is unusable."""
    z = np.asarray(z, np.float32)
    hit = np.isfinite(z) & (z > 0.0) & (z < clip_end)
    return np.where(hit, z, np.float32(0.0)).astype(np.float32)


def read_emission_passes(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Depth and object index from the emission render's EXR (R and G), top row first, float32 [H, W].

    Read with Blender's own image loader as non-colour data, so no colour transform touches the values;
    where nothing was hit the colour is 0 (a transparent film), which `clean_depth` reads as no hit.
    """
    try:
        image = bpy.data.images.load(path, check_existing=False)
    except RuntimeError as exc:
        raise DataPassError(f"cannot read the data render {path}: {exc}") from exc
    try:
        image.colorspace_settings.name = "Non-Color"
        width, height = image.size
        if width == 0 or height == 0:
            raise DataPassError(f"the data render {path} is empty")
        pixels = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    rgba = pixels.reshape(height, width, 4)[::-1]
    hit = rgba[..., 3] > 0.5
    return np.where(hit, rgba[..., 0], 0.0), np.where(hit, rgba[..., 1], 0.0)


def read_data_passes(path: str) -> tuple[np.ndarray, np.ndarray]:
    """The Z and object-index passes of a multilayer EXR, top row first, as float32 [H, W] arrays.

    Blender 5 writes one EXR part per pass (`ViewLayer.Depth.Z`, `ViewLayer.Object Index.X`); older ones
    one part with every channel (`ViewLayer.IndexOB.X`); both are searched.
    """
    oiio = openimageio()
    image = oiio.ImageInput.open(path)
    if image is None:
        raise DataPassError(f"cannot read the data render {path}: {oiio.geterror()}")
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
        raise DataPassError(f"the data render {path} has no {' or '.join(sorted(missing))} pass")
    return found["depth"], found["index"]


def _pass_kind(channel: str) -> str | None:
    """Which data pass a multilayer EXR channel name (`<layer>.<pass>.<channel>`) holds, if any."""
    if channel.endswith(".Depth.Z"):
        return "depth"
    if channel.endswith((".IndexOB.X", ".Object Index.X")):
        return "index"
    return None


def openimageio() -> Any:
    """Blender's own OpenImageIO Python module, where this Blender ships it (no extra wheel needed).

    Inside Blender it imports as is. The bpy module from PyPI ships it (5.x) in
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
    raise DataPassError("this Blender has no OpenImageIO Python module")
