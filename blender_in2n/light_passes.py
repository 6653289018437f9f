"""Light passes of a capture: each colour render also yields the light the texture bake divides out.

With *Capture for Textures* the colour render of each view is a float32 multilayer EXR with Cycles'
Combined, diffuse and glossy passes (one render: the image and its light maps agree sample for sample),
read back with Blender's OpenImageIO module (`data_passes.openimageio`). The PNG is the Combined pass
through the Standard view, encoded here (`light_maps.encode_colour`); the light map holds DiffDir + DiffInd
and GlossCol x (GlossDir + GlossInd) (docs/protocol.md, *Light maps*).

Where it cannot run: other engines than Cycles (EEVEE's passes do not compose the render as a product of
colour and light), and Blenders without the OpenImageIO Python module (the `bpy` 4.2 wheel); then
`unavailable_reason` says why and the capture goes without light maps (textures keep the lighting).
"""

from __future__ import annotations

import os
from typing import Any

import bpy
import numpy as np

from . import data_passes, light_maps

# View-layer pass switches the light render turns on.
PASS_SWITCHES = (
    "use_pass_combined",
    "use_pass_diffuse_direct",
    "use_pass_diffuse_indirect",
    "use_pass_diffuse_color",
    "use_pass_glossy_direct",
    "use_pass_glossy_indirect",
    "use_pass_glossy_color",
)
# Each pass by the names Blender 5 (first) and 4.x give it in a multilayer EXR (`<layer>.<pass>.<channel>`).
PASS_NAMES = {
    "combined": ("Combined",),
    "diffuse_direct": ("Diffuse Direct", "DiffDir"),
    "diffuse_indirect": ("Diffuse Indirect", "DiffInd"),
    "diffuse_colour": ("Diffuse Color", "DiffCol"),
    "glossy_direct": ("Glossy Direct", "GlossDir"),
    "glossy_indirect": ("Glossy Indirect", "GlossInd"),
    "glossy_colour": ("Glossy Color", "GlossCol"),
}


class LightPassError(ValueError):
    """The light render could not be made or read."""


def unavailable_reason(scene: Any) -> str:
    """Why this scene's light passes cannot be captured here ("" when they can)."""
    if scene.render.engine != "CYCLES":
        return (
            f"light passes need Cycles (the scene renders with {scene.render.engine}, whose passes do not "
            "compose the image as colour times light)"
        )
    if data_passes.available_method() != "multilayer":
        return "light passes need Blender's OpenImageIO Python module, which this Blender lacks"
    return ""


def light_settings(overrides: Any, scene: Any, view_layer: Any) -> None:
    """The passes on, a float32 multilayer EXR out, no compositor or sequencer (the file holds the render's
    own passes, untouched). Every change goes into `overrides` (restored by the caller)."""
    for switch in PASS_SWITCHES:
        overrides.set(view_layer, switch, True)
    overrides.set(view_layer, "use", True)
    render = scene.render
    overrides.set(render, "use_compositing", False)
    overrides.set(render, "use_sequencer", False)
    overrides.set(render, "use_multiview", False)
    settings = render.image_settings
    overrides.set(settings, "media_type", "MULTI_LAYER_IMAGE")
    overrides.set(settings, "file_format", "OPEN_EXR_MULTILAYER")
    overrides.set(settings, "color_depth", "32")
    overrides.set(settings, "exr_codec", "ZIP")


def render_passes(context: Any, path: str, overrides: Any) -> dict[str, np.ndarray]:
    """Render the active view layer from the scene's camera into `path`, read its passes, remove the file
    (the output path goes into `overrides`)."""
    scene = context.scene
    overrides.set(scene.render, "filepath", path)
    bpy.ops.render.render(write_still=True, layer=context.view_layer.name)
    if not os.path.isfile(path):
        raise LightPassError(f"the light render of camera {scene.camera.name!r} wrote no file")
    try:
        return read_passes(path)
    finally:
        os.remove(path)


def read_passes(path: str) -> dict[str, np.ndarray]:
    """The passes of PASS_NAMES in a multilayer EXR, top row first: `combined` [H, W, 4] (premultiplied),
    the others [H, W, 3], float32."""
    oiio = data_passes.openimageio()
    image = oiio.ImageInput.open(path)
    if image is None:
        raise LightPassError(f"cannot read the light render {path}: {oiio.geterror()}")
    found: dict[str, np.ndarray] = {}
    try:
        subimage = 0
        while image.seek_subimage(subimage, 0):
            spec = image.spec()
            wanted = _channels_of(spec.channelnames)
            if wanted:
                pixels = np.asarray(image.read_image(subimage, 0, 0, spec.nchannels, "float"), np.float32)
                pixels = pixels.reshape(spec.height, spec.width, spec.nchannels)
                for kind, indices in wanted.items():
                    found.setdefault(kind, pixels[..., indices])
            subimage += 1
    finally:
        image.close()
    missing = sorted(PASS_NAMES.keys() - found.keys())
    if missing:
        raise LightPassError(f"the light render {path} has no {', '.join(missing)} pass")
    return found


def _channels_of(names: tuple[str, ...]) -> dict[str, list[int]]:
    """Which passes an EXR part holds, each as its channel indices in RGB(A) order (matched by the name's
    end, `.<pass>.<channel>`: a view layer's name may hold dots)."""
    found = {}
    for kind, pass_names in PASS_NAMES.items():
        letters = "RGBA" if kind == "combined" else "RGB"
        for pass_name in pass_names:
            channels = [
                next((i for i, name in enumerate(names) if name.endswith(f".{pass_name}.{letter}")), None)
                for letter in letters
            ]
            if kind not in found and None not in channels:
                found[kind] = channels
    return found


def colour_and_lights(passes: dict[str, np.ndarray], transparent: bool) -> tuple[np.ndarray, np.ndarray]:
    """A view's 8-bit sRGB pixels (Standard view, straight alpha) and its float16 [H, W, 6] light map."""
    combined = passes["combined"]
    pixels = light_maps.encode_colour(combined, transparent)
    alpha = np.clip(combined[..., 3], 0.0, 1.0) if transparent else np.ones(combined.shape[:2], np.float32)
    lights = light_maps.light_map(
        passes["diffuse_direct"],
        passes["diffuse_indirect"],
        passes["glossy_colour"],
        passes["glossy_direct"],
        passes["glossy_indirect"],
        alpha,
    )
    return pixels, lights
