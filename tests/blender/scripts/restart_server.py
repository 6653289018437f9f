"""A local server started by the extension dies mid-job and is restarted: status and events recover.

Arguments: ZIP PORT MODEL_DIR WORKSPACE. The extension starts `in2n-server` itself (Start Local Server, with
this Python), an edit starts, the server process is killed after a few events, the panel must show "not
connected", the server is started again on the same workspace, the resumed job is cancelled and resumed
from the panel, and it must finish with its event stream continued after the last event seen. Disabling the
extension must stop the server it started.
"""

from __future__ import annotations

import sys
import time

import bpy
from _common import emit, install

zip_path, port, model_dir, workspace = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ext = install(zip_path)
session = ext.session
MODULE = "bl_ext.user_default.blender_in2n"
prefs = bpy.context.preferences.addons[MODULE].preferences
prefs.port = port
prefs.python = sys.executable
prefs.workspace = workspace
prefs.model = model_dir
prefs.device = "cpu"
status = bpy.context.window_manager.in2n


def drive(until, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not until():
        ext.results.drain()
        if time.monotonic() - start > timeout:
            raise SystemExit(
                f"timed out after {timeout} s waiting for {what}: {status.message} {status.error}"
            )
        time.sleep(0.05)
    return time.monotonic() - start


scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 4
for ob in scene.objects:
    ob.select_set(ob.name == "Cube")
settings = scene.in2n
settings.source = "RIG"
settings.rig_views = 8
settings.resolution = 32
settings.instruction = "make it red"
settings.tier = "in2n-cpu"
settings.base_iterations = 40
settings.edit_iterations = 20
settings.edit_rate = 10
settings.diffusion_steps = 2
settings.auto_preview = False

assert bpy.ops.in2n.start_server() == {"FINISHED"}, status.error
first_start = drive(lambda: status.connected, 300, "the local server")
first_process = session.get_session().server_process
assert bpy.ops.in2n.start_edit() == {"FINISHED"}, status.error
drive(lambda: status.last_event_id >= 3 and status.state == "running", 300, "the job to run")
events_before_kill = status.last_event_id
first_process.kill()
first_process.wait(30)
drive(lambda: not status.connected, 60, "the panel to show 'not connected'")
disconnected_message = status.message
assert bpy.ops.in2n.start_server() == {"FINISHED"}, status.error
drive(lambda: status.connected, 300, "the restarted server")
reconnected_message = status.message
drive(
    lambda: status.state == "running" and status.last_event_id > events_before_kill + 1,
    600,
    "the resumed job",
)
assert bpy.ops.in2n.cancel() == {"FINISHED"}, status.error
drive(
    lambda: status.state == "cancelled" and not session.get_session().worker.watching, 300, "the cancellation"
)
cancelled_at_event = status.last_event_id
assert bpy.ops.in2n.resume() == {"FINISHED"}, status.error
drive(lambda: status.state in ("queued", "running"), 120, "the job to be queued again")
drive(
    lambda: (
        status.state in ("completed", "failed", "cancelled") and not session.get_session().worker.watching
    ),
    900,
    "the resumed job",
)
final = {"state": status.state, "error": status.error, "last_event_id": status.last_event_id}
second_process = session.get_session().server_process
bpy.ops.preferences.addon_disable(module=MODULE)
emit(
    {
        "first_start_seconds": first_start,
        "events_before_kill": events_before_kill,
        "disconnected_message": disconnected_message,
        "reconnected_message": reconnected_message,
        "cancelled_at_event": cancelled_at_event,
        "final": final,
        "server_stopped_on_disable": second_process.poll() is not None,
    }
)
