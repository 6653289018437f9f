"""End to end for textures: Capture for Textures, a tiny edit on a real server, Apply as Textures.

Arguments: ZIP PORT. The default cube (its own UV map) and a cube without a UV map, both selected, under a
sun, Cycles: the capture carries surfaces, masks, depth and light maps; after the edit *Apply as Textures*
must put textured duplicates into the results collection and leave the originals byte-identical.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time
import zipfile

import _fingerprint
import bpy
import numpy as np
from _common import emit, install
from _raycast import read_png

zip_path, port = sys.argv[1], int(sys.argv[2])
ext = install(zip_path)
MODULE = "bl_ext.user_default.blender_in2n"
bpy.context.preferences.addons[MODULE].preferences.port = port
status = bpy.context.window_manager.in2n
worker = ext.session.get_session().worker


def drive(until, timeout: float, what: str) -> float:
    """Call the timer function until `until()` holds; returns the seconds it took."""
    start = time.monotonic()
    while not until():
        ext.results.drain()
        if time.monotonic() - start > timeout:
            raise SystemExit(
                f"timed out after {timeout} s waiting for {what}: {status.message} {status.error}"
            )
        time.sleep(0.05)
    ext.results.drain()
    return time.monotonic() - start


scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 8
scene.cycles.device = "CPU"
scene.render.resolution_x = scene.render.resolution_y = 512
cube = scene.objects["Cube"]
box = bpy.data.meshes.new("Box")
box.from_pydata(
    [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)],
    [],
    [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)],
)
no_uv = bpy.data.objects.new("Box", box)
bpy.data.collections["Collection"].objects.link(no_uv)
no_uv.location = (1.5, -0.5, -1.0)
for ob in scene.objects:
    ob.select_set(ob in {cube, no_uv})
bpy.context.view_layer.update()
before = _fingerprint.scene_data([cube, no_uv])

settings = scene.in2n
settings.source = "RIG"
settings.rig_views = 8
settings.resolution = 32
settings.capture_textures = True
settings.instruction = "make it blue"
settings.tier = "in2n-cpu"
settings.base_iterations = 60
settings.edit_iterations = 20
settings.edit_rate = 10
settings.diffusion_steps = 2
settings.auto_preview = False
settings.texture_size = 64
assert bpy.ops.in2n.start_edit() == {"FINISHED"}, status.error
drive(lambda: bool(status.job_id) or bool(status.error), 300, "the upload and job creation")
scene_summary = ext.client.Client("127.0.0.1", port).get_scene(status.scene_id)
job_seconds = drive(
    lambda: status.state in ("completed", "failed", "cancelled") and not worker.watching, 1200, "the job"
)

status.imported_object = ""
status.error = ""
start = time.monotonic()
assert bpy.ops.in2n.apply_textures() == {"FINISHED"}, status.error
drive(lambda: bool(status.imported_object) or bool(status.error), 600, "the textures")
apply_seconds = time.monotonic() - start
downloaded = glob.glob(os.path.join(ext.session.get_session().temp_dirs[-1], "*.zip"))
with zipfile.ZipFile(downloaded[0]) as archive:
    manifest = json.loads(archive.read("manifest.json"))

after = _fingerprint.scene_data([cube, no_uv])
results = bpy.data.collections["In2N Results"]
duplicates = {}
for ob in results.objects:
    images = [
        node.image
        for slot in ob.material_slots
        for node in slot.material.node_tree.nodes
        if node.bl_idname == "ShaderNodeTexImage"
        and node.image is not None
        and node.image.name.startswith("In2N")
    ]
    pixels = np.empty(len(images[0].pixels), np.float32)
    images[0].pixels.foreach_get(pixels)
    duplicates[ob["in2n_source"]] = {
        "name": ob.name,
        "image": images[0].name,
        "packed": images[0].packed_file is not None,
        "image_mean": pixels.reshape(-1, 4)[:, :3].mean(axis=0).tolist(),
    }


def render(exclude: str) -> np.ndarray:
    """The scene's camera at 32x32, one collection excluded (how the artist toggles original and edit)."""
    children = bpy.context.view_layer.layer_collection.children
    for child in children:
        child.exclude = child.name == exclude
    path = os.path.join(os.path.dirname(downloaded[0]), f"without-{exclude}.png")
    scene.render.resolution_x = scene.render.resolution_y = 32
    scene.render.filepath = path
    scene.render.film_transparent = True
    scene.render.image_settings.color_mode = "RGBA"
    bpy.ops.render.render(write_still=True)
    for child in children:
        child.exclude = False
    return read_png(path) / 255.0


camera = bpy.data.objects["In2N Rig 000"]
scene.camera = camera
edited = render("Collection")  # the originals' collection (the light too: the world lights the scene)
original = render("In2N Results")
covered = (edited[..., 3] > 0.5) & (original[..., 3] > 0.5)

emit(
    {
        "error": status.error,
        "message": status.message,
        "state": status.state,
        "scene": {k: scene_summary.get(k) for k in ("num_images", "width", "height")},
        "job_seconds": job_seconds,
        "apply_seconds": apply_seconds,
        "manifest": manifest,
        "changed": sorted(k for k in before if after.get(k) != before[k]),
        "fingerprints": len(before),
        "duplicates": duplicates,
        "uv_maps": json.loads(settings.surface_uv_maps),
        "covered_pixels": int(covered.sum()),
        "edited_silhouette": int((edited[..., 3] > 0.5).sum()),
        "original_silhouette": int((original[..., 3] > 0.5).sum()),
        "mean_difference": float(np.abs(edited[..., :3] - original[..., :3])[covered].mean()),
    }
)
bpy.ops.preferences.addon_disable(module=MODULE)
