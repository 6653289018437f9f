"""Capture 4 rig views with masks and depth maps and upload them through the panel's Capture & Upload.

Arguments: ZIP PORT. The server must accept the masks and depths the capture writes.
"""

from __future__ import annotations

import sys
import time

import bpy
from _common import emit, install

zip_path, port = sys.argv[1], int(sys.argv[2])
ext = install(zip_path)
MODULE = "bl_ext.user_default.blender_in2n"
bpy.context.preferences.addons[MODULE].preferences.port = port
status = bpy.context.window_manager.in2n
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 2
scene.render.resolution_x = scene.render.resolution_y = 256
for ob in scene.objects:
    ob.select_set(ob.name == "Cube")
settings = scene.in2n
settings.source = "RIG"
settings.rig_views = 4
settings.resolution = 24
settings.with_masks = True
settings.with_depth = True
assert bpy.ops.in2n.capture() == {"FINISHED"}, status.error
start = time.monotonic()
while not (status.scene_id or status.error) and time.monotonic() - start < 120:
    ext.results.drain()
    time.sleep(0.05)
summary = ext.client.Client("127.0.0.1", port).get_scene(status.scene_id) if status.scene_id else {}
emit(
    {
        "error": status.error,
        "num_images": summary.get("num_images"),
        "width": summary.get("width"),
        "height": summary.get("height"),
    }
)
