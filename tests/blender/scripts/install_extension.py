"""Install the built zip, check what registers, disable it, check that nothing is left behind."""

from __future__ import annotations

import sys
import threading

import bpy
from _common import emit, install

MODULE = "bl_ext.user_default.blender_in2n"
CLASSES = (
    "IN2N_PT_server",
    "IN2N_PT_capture",
    "IN2N_PT_edit",
    "IN2N_PT_results",
    "IN2N_OT_start_edit",
    "IN2N_OT_import_result",
    "IN2N_OT_apply_textures",
    "IN2N_OT_report",
)


def registered() -> dict:
    return {
        "classes": [name for name in CLASSES if hasattr(bpy.types, name)],
        "scene_prop": hasattr(bpy.types.Scene, "in2n"),
        "wm_prop": hasattr(bpy.types.WindowManager, "in2n"),
        "threads": sorted(t.name for t in threading.enumerate() if t.name.startswith("in2n")),
    }


ext = install(sys.argv[1])
before = registered()
before["enabled"] = MODULE in bpy.context.preferences.addons
before["timer"] = bpy.app.timers.is_registered(ext.results.drain)
before["prefs_host"] = bpy.context.preferences.addons[MODULE].preferences.host
before["protocol"] = ext.protocol.wire.__name__  # the copy inside the zip, not a checkout's
# Start the worker threads (a check against a port where nothing listens), so disabling must stop them.
prefs = bpy.context.preferences.addons[MODULE].preferences
prefs.port = int(sys.argv[2])
bpy.ops.in2n.check_server()
before["threads"] = sorted(t.name for t in threading.enumerate() if t.name.startswith("in2n"))
drain = ext.results.drain
bpy.ops.preferences.addon_disable(module=MODULE)
after = registered()
after["enabled"] = MODULE in bpy.context.preferences.addons
after["timer"] = bpy.app.timers.is_registered(drain)
after["session"] = ext.session._session is not None
emit({"before": before, "after": after})
