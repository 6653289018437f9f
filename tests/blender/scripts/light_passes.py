"""Capture 2 views at 32x24 with light passes of a lit scene (Cycles, 8 samples, no denoiser).

Checks that Cycles composes the Combined pass as DiffCol x (DiffDir + DiffInd) + GlossCol x (GlossDir +
GlossInd) on this scene, that the capture's PNGs are what Blender itself writes through the Standard view,
that its light maps are the passes it rendered, and that every scene setting comes back.
An EEVEE scene is refused with a message naming why.
"""

from __future__ import annotations

import os
import tempfile
import time

import bpy
import numpy as np
from _common import emit
from _raycast import read_png

from blender_in2n import capture, light_maps, light_passes, rig

work = tempfile.mkdtemp(prefix="in2n-lights-test-")
context = bpy.context
scene = context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 8
scene.cycles.use_denoising = False
scene.cycles.device = "CPU"
scene.render.resolution_x, scene.render.resolution_y = 640, 480
scene.view_settings.view_transform = "AgX"  # the capture encodes Standard whatever the scene shows

cube = scene.objects["Cube"]
glossy = bpy.data.materials.new("Glossy Red")
principled = glossy.node_tree.nodes["Principled BSDF"]
principled.inputs["Base Color"].default_value = (0.8, 0.1, 0.05, 1.0)
principled.inputs["Roughness"].default_value = 0.25
cube.data.materials.append(glossy)
bpy.ops.mesh.primitive_plane_add(size=8.0, location=(0.0, 0.0, -1.0))
floor = context.active_object
bpy.ops.object.light_add(type="SUN", location=(2.0, -2.0, 5.0), rotation=(0.6, 0.3, 0.2))
context.active_object.data.energy = 3.0
for ob in scene.objects:
    ob.select_set(ob == cube)
cameras = rig.make_rig(context, "HEMISPHERE", 2, 0.0)


def settings_snapshot() -> dict:
    render, layer, image = scene.render, context.view_layer, scene.render.image_settings
    return {
        "passes": {name: getattr(layer, name) for name in light_passes.PASS_SWITCHES},
        "use_compositing": render.use_compositing,
        "film_transparent": render.film_transparent,
        "resolution": [render.resolution_x, render.resolution_y, render.resolution_percentage],
        "media_type": getattr(image, "media_type", None),
        "file_format": image.file_format,
        "color_depth": image.color_depth,
        "exr_codec": image.exr_codec,
        "filepath": render.filepath,
        "camera": scene.camera.name if scene.camera else None,
        "view_transform": scene.view_settings.view_transform,
    }


recorded = []
render_passes = light_passes.render_passes


def recording(*args, **kwargs):
    passes = render_passes(*args, **kwargs)
    recorded.append(passes)
    return passes


light_passes.render_passes = recording
before = settings_snapshot()
start = time.perf_counter()
result = capture.capture(
    context,
    cameras,
    os.path.join(work, "cap"),
    max_size=32,
    masks_of=[cube],
    with_masks=True,
    with_depth=True,
    with_lights=True,
    surfaces_of=[cube],
)
seconds_with_lights = time.perf_counter() - start
after = settings_snapshot()
light_passes.render_passes = render_passes

# Blender's own PNG of a light capture's render through the Standard view (no dither), against the
# capture's (a capture without masks and depth: its colour render is the last one in Render Result).
alone = capture.capture(context, cameras[-1:], os.path.join(work, "alone"), max_size=32, with_lights=True)
reference = os.path.join(work, "reference.png")
scene.view_settings.view_transform = "Standard"
scene.view_settings.look = "None"
scene.view_settings.exposure, scene.view_settings.gamma = 0.0, 1.0
scene.render.dither_intensity = 0.0
settings = scene.render.image_settings
settings.file_format, settings.color_mode, settings.color_depth = "PNG", "RGBA", "8"
bpy.data.images["Render Result"].save_render(filepath=reference)
ours = read_png(alone.images[0]).astype(int)
blenders = read_png(reference).astype(int)

views = []
for i, passes in enumerate(recorded):
    combined = passes["combined"]
    diffuse = passes["diffuse_colour"] * (passes["diffuse_direct"] + passes["diffuse_indirect"])
    glossy_part = passes["glossy_colour"] * (passes["glossy_direct"] + passes["glossy_indirect"])
    covered = combined[..., 3] > 0
    residual = np.abs(combined[..., :3] - diffuse - glossy_part)[covered]
    lights = np.load(result.lights[i], allow_pickle=False)
    pixels, expected = light_passes.colour_and_lights(passes, True)
    views.append(
        {
            "covered_pixels": int(covered.sum()),
            "combined_mean": float(combined[..., :3][covered].mean()),
            "glossy_mean": float(glossy_part[covered].mean()),
            "max_residual": float(residual.max()),
            "mean_residual": float(residual.mean()),
            "lights_dtype": str(lights.dtype),
            "lights_shape": list(lights.shape),
            "lights_min": float(lights.min()),
            "lights_equal_passes": bool(np.array_equal(lights, expected)),
            "png_equal_passes": bool(np.array_equal(read_png(result.images[i]), pixels)),
        }
    )

# Where the light passes cannot run: another engine.
engines = {item.identifier for item in scene.render.bl_rna.properties["engine"].enum_items}
scene.render.engine = (
    "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in engines else "BLENDER_EEVEE"
)  # 4.2: NEXT
try:
    capture.capture(context, cameras[:1], os.path.join(work, "eevee"), max_size=32, with_lights=True)
    refusal = ""
except capture.CaptureError as exc:
    refusal = str(exc)
scene.render.engine = "CYCLES"

start = time.perf_counter()
capture.capture(
    context,
    cameras,
    os.path.join(work, "plain"),
    max_size=32,
    masks_of=[cube],
    with_masks=True,
    with_depth=True,
    surfaces_of=[cube],
)
seconds_without_lights = time.perf_counter() - start

emit(
    {
        "frames": result.transforms["frames"],
        "surfaces": result.transforms.get("in2n_surfaces"),
        "lights": [os.path.relpath(p, result.directory) for p in result.lights],
        "views": views,
        "png_max_difference": int(np.abs(ours - blenders).max()),
        "png_shapes": [list(ours.shape), list(blenders.shape)],
        "before": before,
        "after": after,
        "refusal": refusal,
        "leftover_exr": sorted(n for n in os.listdir(result.directory) if n.endswith(".exr")),
        "seconds_with_lights": seconds_with_lights,
        "seconds_without_lights": seconds_without_lights,
        "oetf_check": light_maps.srgb_oetf(np.array([0.0, 0.0031308, 0.18, 1.0, 2.0])).tolist(),
    }
)
