"""End to end in a headless Blender against a real in2n-server: capture, edit, preview, import.

Arguments: ZIP PORT [BASE_STEPS]. The extension is installed from its zip, then driven through its
operators; the timer function (results.drain) is called by hand: bpy.app.timers never fire in the bpy module.
"""

from __future__ import annotations

import sys
import time

import bpy
import numpy as np
from _common import emit, install

from benchmarks import ground_truth

zip_path, port = sys.argv[1], int(sys.argv[2])
ext = install(zip_path)
session = ext.session
capture = ext.capture
rig = ext.rig
MODULE = "bl_ext.user_default.blender_in2n"
prefs = bpy.context.preferences.addons[MODULE].preferences
prefs.port = port
status = bpy.context.window_manager.in2n
log: list[str] = []


def drive(until, timeout: float, what: str) -> float:
    """Call the timer function until `until()` holds; returns the seconds it took."""
    start = time.monotonic()
    while not until():
        ext.results.drain()
        if time.monotonic() - start > timeout:
            raise SystemExit(f"timed out after {timeout} s waiting for {what}; status: {dict_status()}")
        time.sleep(0.05)
    ext.results.drain()
    return time.monotonic() - start


def dict_status() -> dict:
    keys = (
        "connected",
        "message",
        "error",
        "scene_id",
        "job_id",
        "state",
        "phase",
        "step",
        "total_steps",
        "progress",
        "edits_done",
        "last_event_id",
        "previews_received",
        "preview_step",
        "imported_object",
    )
    return {key: getattr(status, key) for key in keys}


# A simple scene: the default cube and a sphere beside it, both selected; Cycles at a few samples.
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 8
scene.cycles.device = "CPU"
scene.render.resolution_x = scene.render.resolution_y = 512  # square views: 48x48 captures
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(2.2, 0.0, 0.0))
sphere = bpy.context.active_object
targets = [scene.objects["Cube"], sphere]
for ob in scene.objects:
    ob.select_set(ob in targets)
source_lo, source_hi = rig.world_bounds(targets)
true_surface = ground_truth.surface_samples(targets, 20000)
surface_diagonal = float(np.linalg.norm(true_surface.max(axis=0) - true_surface.min(axis=0)))

# 1. The server is reachable.
assert bpy.ops.in2n.check_server() == {"FINISHED"}
drive(lambda: status.connected, 30, "the health check")
health = {"device": status.device, "editor_available": status.editor_available, "model": status.editor_model}

# 2. Capture 16 views and start the edit with small iteration counts.
settings = scene.in2n
settings.source = "RIG"
settings.rig_kind = "HEMISPHERE"
settings.rig_views = 16
settings.with_depth = True  # the default; said here because the surface check below depends on it
settings.transparent_background = True
settings.resolution = 48
settings.instruction = "make it look like bronze"
settings.tier = "in2n-cpu"
settings.base_iterations = int(sys.argv[3]) if len(sys.argv) > 3 else 60
settings.edit_iterations = 30
settings.edit_rate = 10
settings.diffusion_steps = 2
settings.auto_preview = True
settings.preview_size = 40
settings.num_points = 20000
settings.mesh_resolution = 32
started = time.monotonic()
assert bpy.ops.in2n.start_edit() == {"FINISHED"}, status.error
capture_seconds = time.monotonic() - started
drive(lambda: bool(status.job_id), 300, "the upload and job creation")
scene_id = status.scene_id
states, phases, progress_seen = set(), set(), []


def job_finished() -> bool:
    states.add(status.state)
    phases.add(status.phase)
    progress_seen.append(status.progress)
    return status.state in ("completed", "failed", "cancelled") and not session.get_session().worker.watching


job_seconds = drive(job_finished, 1200, "the job to finish")
final = dict_status()

# 3. A preview from the active camera (a rig camera) updates the reused preview image.
scene.camera = bpy.data.objects["In2N Rig 003"]
before = status.previews_received
assert bpy.ops.in2n.preview() == {"FINISHED"}, status.error
drive(
    lambda: status.previews_received > before and not session.get_session().preview_in_flight,
    120,
    "a preview",
)
image = bpy.data.images[ext.previews.PREVIEW_IMAGE]
pixels = np.empty(image.size[0] * image.size[1] * 4, np.float32)
image.pixels.foreach_get(pixels)
preview = {
    "size": list(image.size),
    "std": float(pixels.reshape(-1, 4)[:, :3].std()),
    "images_named_preview": sum(
        1 for im in bpy.data.images if im.name.startswith(ext.previews.PREVIEW_IMAGE)
    ),
    "background": any(bg.image == image for bg in scene.camera.data.background_images),
    "packed": image.packed_file is not None,
}

# 4. An edited dataset image, and a server error that reaches the status as the server's message.
assert bpy.ops.in2n.show_edited(index=0) == {"FINISHED"}
drive(lambda: ext.previews.EDITED_IMAGE in bpy.data.images, 60, "an edited image")
edited_size = list(bpy.data.images[ext.previews.EDITED_IMAGE].size)
status.error = ""
assert bpy.ops.in2n.show_edited(index=999) == {"FINISHED"}
drive(lambda: bool(status.error), 60, "the server's error for a missing image")
server_error = status.error


def capture_rig() -> list:
    return list(bpy.data.collections[rig.RIG_COLLECTION].objects)


# 5. Import the point cloud and the mesh; the points must lie on the source objects' surfaces.
def import_kind(kind: str, fmt: str = "ply") -> dict:
    status.imported_object = ""
    status.error = ""
    assert bpy.ops.in2n.import_result(kind=kind, format=fmt) == {"FINISHED"}, status.error
    drive(lambda: bool(status.imported_object) or bool(status.error), 600, f"the {kind} import")
    if status.error:
        raise SystemExit(f"{kind} import failed: {status.error}")
    ob = bpy.data.objects[status.imported_object]
    lo, hi = rig.world_bounds([ob])
    inter = [max(0.0, min(hi[i], source_hi[i]) - max(lo[i], source_lo[i])) for i in range(3)]
    source_volume = np.prod([source_hi[i] - source_lo[i] for i in range(3)])
    if kind == "point_cloud":
        evaluated = ob.evaluated_get(bpy.context.evaluated_depsgraph_get()).evaluated_geometry()
        count = len(evaluated.pointcloud.points) if evaluated.pointcloud is not None else 0
        points = np.empty(len(ob.data.vertices) * 3, np.float32)
        ob.data.vertices.foreach_get("co", points)
        points = points.reshape(-1, 3)
        inside = np.all((points >= np.array(source_lo) - 0.5) & (points <= np.array(source_hi) + 0.5), axis=1)
        inside_fraction = float(inside.mean()) if len(points) else 0.0
        centres = np.array([list(ob.matrix_world.translation) for ob in capture_rig()])
        nearest_camera = np.min(np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=2), axis=1)
        centre = (np.array(source_lo) + np.array(source_hi)) / 2.0
        sample = points[np.random.default_rng(0).choice(len(points), min(len(points), 4000), replace=False)]
        to_surface = ground_truth.nearest_distances(sample, true_surface) / surface_diagonal
        distances = {
            "precision_2pct": float(np.mean(to_surface <= 0.02)),
            "precision_5pct": float(np.mean(to_surface <= 0.05)),
            "median_to_surface_over_diagonal": float(np.median(to_surface)),
            "median_to_nearest_camera": float(np.median(nearest_camera)),
            "median_to_source_centre": float(np.median(np.linalg.norm(points - centre, axis=1))),
            "rig_radius": float(np.median(np.linalg.norm(centres - centre, axis=1))),
        }
    else:
        count = len(ob.data.polygons)
        inside_fraction = None
        distances = None
    return {
        "name": ob.name,
        "collection": [c.name for c in ob.users_collection],
        "count": count,
        "bounds": [list(lo), list(hi)],
        "overlap_of_source": float(np.prod(inter) / source_volume),
        "inside_fraction": inside_fraction,
        "distances": distances,
        "modifiers": [m.type for m in ob.modifiers],
        "materials": [m.name for m in ob.data.materials if m is not None],
    }


point_cloud = import_kind("point_cloud")
mesh = import_kind("mesh")
# The same mesh as OBJ (scene frame, Z up) and glTF binary (Y up, converted back by Blender's importer).
mesh_obj = import_kind("mesh", "obj")
mesh_glb = import_kind("mesh", "glb")

emit(
    {
        "health": health,
        "scene_id": scene_id,
        "capture_and_submit_seconds": capture_seconds,
        "job_seconds": job_seconds,
        "final": final,
        "states": sorted(states),
        "phases": sorted(phases),
        "progress_monotonic_max": max(progress_seen),
        "preview": preview,
        "edited_size": edited_size,
        "server_error": server_error,
        "point_cloud": point_cloud,
        "mesh": mesh,
        "mesh_obj": mesh_obj,
        "mesh_glb": mesh_glb,
        "source_bounds": [list(source_lo), list(source_hi)],
    }
)
bpy.ops.preferences.addon_disable(module=MODULE)
