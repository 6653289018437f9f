"""Open a dataset that sits on the server and check its cameras appear in Blender exactly.

Arguments: ZIP PORT DATASET_PATH. Each created camera object, read back through the same exporter the
capture uses, must reproduce the server's camera (intrinsics and pose).
"""

from __future__ import annotations

import sys
import time

import bpy
from _common import emit, install

zip_path, port, dataset = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ext = install(zip_path)
session = ext.session
MODULE = "bl_ext.user_default.blender_in2n"
bpy.context.preferences.addons[MODULE].preferences.port = port
status = bpy.context.window_manager.in2n
scene = bpy.context.scene
scene.in2n.source = "SERVER_PATH"

# A path outside the allowed roots is refused with the server's message.
scene.in2n.dataset_path = "/etc"
assert bpy.ops.in2n.use_dataset() == {"FINISHED"}
start = time.monotonic()
while not status.error and time.monotonic() - start < 60:
    ext.results.drain()
    time.sleep(0.05)
refused_error = status.error
status.error = ""

scene.in2n.dataset_path = dataset
assert bpy.ops.in2n.use_dataset() == {"FINISHED"}
start = time.monotonic()
while not status.scene_id and time.monotonic() - start < 120:
    ext.results.drain()
    if status.error:
        raise SystemExit(f"opening the dataset failed: {status.error}")
    time.sleep(0.05)
server_scene = ext.client.Client("127.0.0.1", port).get_scene(status.scene_id)
cameras = sorted(bpy.data.collections[ext.dataset_cameras.DATASET_COLLECTION].objects, key=lambda ob: ob.name)
worst_intrinsics = 0.0
worst_pose = 0.0
for ob, expected in zip(cameras, server_scene["cameras"], strict=True):
    got = ext.camera_math.camera_from_blender(ob, scene.render)
    worst_intrinsics = max(
        worst_intrinsics, *(abs(got[k] - expected[k]) for k in ("fl_x", "fl_y", "cx", "cy"))
    )
    worst_pose = max(
        worst_pose,
        *(
            abs(got["transform_matrix"][r][c] - expected["transform_matrix"][r][c])
            for r in range(4)
            for c in range(4)
        ),
    )
    assert (got["w"], got["h"]) == (expected["w"], expected["h"])
emit(
    {
        "refused_error": refused_error,
        "num_cameras": len(cameras),
        "num_server_cameras": len(server_scene["cameras"]),
        "scene_images": status.scene_images,
        "worst_intrinsics_px": worst_intrinsics,
        "worst_pose": worst_pose,
    }
)
