"""The timer: applies the worker's results to Blender on the main thread.

`drain()` is registered with bpy.app.timers (and called directly by tests: timers never fire in the bpy
module). Each result is `(kind, payload)` (worker.RESULT_*); finished tasks carry their `Tag`. Every error
that reaches this module ends as a status message and a report, never as an exception in Blender's UI.
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
import zipfile
from typing import Any

import bpy

from . import camera_math, previews, scene_import, surfaces, textures
from .actions import request_preview
from .client import ClientError, ServerError
from .dataset_cameras import show_dataset_cameras
from .notifications import notify
from .protocol import wire
from .session import ActionError, Session, current, get_session, make_client, status
from .worker import RESULT_CONNECTION, RESULT_DONE, RESULT_EVENT, RESULT_FAILED, Tag

HEALTH_RETRY_SECONDS = 5.0  # while not connected
HEARTBEAT_SECONDS = 15.0  # while connected: notices a server that died or restarted
DRAIN_BATCH = 50
PREVIEW_TAGS = (Tag.PREVIEW, Tag.AUTO_PREVIEW)
HEALTH_TAGS = (Tag.HEALTH, Tag.HEARTBEAT)


def drain() -> float:
    """Apply queued results to Blender; returns the delay until the next call (bpy.app.timers protocol)."""
    session = current()
    if session is None:
        return 0.5
    context = bpy.context
    handled = 0
    while handled < DRAIN_BATCH:
        try:
            kind, payload = session.worker.results.get_nowait()
        except Exception:  # queue.Empty
            break
        handled += 1
        try:
            _apply(context, session, kind, payload)
        except Exception as exc:  # nothing may raise into Blender's timer
            traceback.print_exc()
            notify(context, "ERROR", f"In2N: {type(exc).__name__}: {exc}")
    st = status(context)
    st.busy = session.worker.busy
    _heartbeat(context, session)
    return 0.1 if (session.worker.busy or session.worker.watching or handled) else 0.5


def _heartbeat(context: Any, session: Session) -> None:
    """After a first check, poll the server's health: often while not connected, now and then while connected.

    This is how a dead server shows as "not connected" and a restarted one reconnects (the job's event stream
    reconnects by itself, resuming after its last event id).
    """
    st = status(context)
    if not st.checked or session.worker.busy:
        return
    now = time.monotonic()
    if now - session.last_health < (HEARTBEAT_SECONDS if st.connected else HEALTH_RETRY_SECONDS):
        return
    session.last_health = now
    try:
        client = make_client(context)
    except ClientError:
        return
    session.worker.submit(Tag.HEARTBEAT, client.health)


def _apply(context: Any, session: Session, kind: str, payload: Any) -> None:
    st = status(context)
    if kind == RESULT_CONNECTION:
        connected, message = payload
        st.connected = connected
        if not connected:
            st.message = "not connected: " + message
        elif st.message.startswith("not connected"):
            st.message = "reconnected"
    elif kind == RESULT_EVENT:
        job_id, event = payload
        if job_id == st.job_id:
            _apply_event(context, session, event)
    elif kind == RESULT_FAILED:
        tag, exc = payload
        if tag in PREVIEW_TAGS:
            session.preview_in_flight = False
        if tag == Tag.AUTO_PREVIEW:
            st.message = f"preview skipped: {exc}"
            return
        if tag in HEALTH_TAGS:
            st.connected = False
        if tag == Tag.HEARTBEAT:
            st.message = f"not connected: {exc}"
            return  # polled quietly; the panel shows it
        message = exc.message if isinstance(exc, ServerError) else str(exc)
        notify(context, "ERROR", f"In2N {tag}: {message}")
    elif kind == RESULT_DONE:
        tag, value = payload
        _apply_done(context, session, tag, value)


def _apply_done(context: Any, session: Session, tag: str, value: Any) -> None:
    st = status(context)
    if tag in HEALTH_TAGS:
        session.last_health = time.monotonic()
        was_connected = st.connected
        st.connected = True
        st.device = str(value.get("device_name") or value.get("device") or "")
        editor = value.get("editor") or {}
        st.editor_model = str(editor.get("model") or "")
        st.editor_available = bool(editor.get("available"))
        st.editor_message = str(editor.get("message") or "")
        if tag == Tag.HEALTH or not was_connected:
            st.message = "connected"
        if st.job_id and st.state in wire.ACTIVE_STATES and not session.worker.watching:
            _watch(context, st.job_id)
    elif tag == Tag.SCENE:
        scene, job, masked = value
        st.connected = True
        st.scene_id = scene["scene_id"]
        st.scene_images = int(scene.get("num_images", 0))
        st.scene_masked = masked
        st.message = f"scene {st.scene_id}: {st.scene_images} views"
        if job is not None:
            _set_job(context, job)
    elif tag == Tag.DATASET:
        st.scene_id = value["scene_id"]
        st.scene_images = int(value.get("num_images", 0))
        st.scene_masked = False  # a server dataset's own masks: the job sends no edit region
        show_dataset_cameras(context, value.get("cameras") or [])
        st.message = f"dataset {st.scene_id}: {st.scene_images} views"
    elif tag == Tag.JOB:
        _set_job(context, value)
    elif tag in PREVIEW_TAGS:
        session.preview_in_flight = False
        image = previews.show_png(previews.PREVIEW_IMAGE, value)
        st.previews_received += 1
        previews.show_in_image_editors(context.window_manager, image)
        if context.scene.in2n.preview_from == "CAMERA":
            previews.set_camera_background(context.scene.camera, image)
        previews.tag_redraw(context.window_manager)
        if session.preview_wanted:
            session.preview_wanted = False
            request_preview(context, automatic=True)
    elif tag == Tag.EDITED:
        image = previews.show_png(previews.EDITED_IMAGE, value)
        previews.show_in_image_editors(context.window_manager, image)
    elif tag == Tag.EXPORT and value[0] == "textures":
        _apply_textures(context, value[1])
    elif tag == Tag.EXPORT:
        kind, path = value
        ob = scene_import.import_geometry(path, kind=kind, name=f"In2N {kind.replace('_', ' ').title()}")
        st.imported_object = ob.name
        st.message = f"imported {ob.name}"
        if kind == "splats" and ob.type != "POINTCLOUD":
            notify(context, "WARNING", f"In2N: {scene_import.SPLATS_NEED}; imported {ob.name} as points")
        else:
            notify(context, "INFO", f"In2N: imported {ob.name}")


def _apply_textures(context: Any, path: str) -> None:
    """Put the downloaded textures on duplicates of their objects, with the UV maps the capture recorded."""
    st = status(context)
    try:
        uv_maps = json.loads(context.scene.in2n.surface_uv_maps or "{}")
    except json.JSONDecodeError:
        uv_maps = {}  # not recorded in this file: each object's active UV map, or a generated one
    try:
        applied = textures.apply_textures(context, path, uv_maps)
    except (textures.TexturesError, surfaces.SurfaceError, zipfile.BadZipFile) as exc:
        notify(context, "ERROR", f"In2N: cannot apply the textures: {exc}")
        return
    for warning in applied.warnings:
        notify(context, "WARNING", f"In2N: {warning}")
    st.imported_object = applied.duplicates[0] if applied.duplicates else ""
    st.message = f"textured {len(applied.duplicates)} duplicates in {scene_import.RESULT_COLLECTION}"
    notify(context, "INFO", f"In2N: {st.message}")


def _set_job(context: Any, job: dict[str, Any]) -> None:
    st = status(context)
    new_job = job["job_id"] != st.job_id
    st.job_id = job["job_id"]
    _apply_job_fields(st, job)
    if job.get("state") not in wire.FINAL_STATES and (new_job or not get_session().worker.watching):
        if new_job:
            st.last_event_id = 0
        _watch(context, st.job_id)


def _apply_job_fields(st: Any, job: dict[str, Any]) -> None:
    st.state = str(job.get("state") or "")
    st.phase = str(job.get("phase") or "")
    st.step = int(job.get("step") or 0)
    st.total_steps = int(job.get("total_steps") or 0)
    st.progress = min(max(float(job.get("progress") or 0.0), 0.0), 1.0)
    eta = job.get("eta_seconds")
    st.eta_seconds = float(eta) if eta is not None else -1.0
    st.edits_done = int(job.get("edits_done") or 0)
    error = job.get("error")
    if error:
        st.error = str(error.get("message") or error)


def _watch(context: Any, job_id: str) -> None:
    st = status(context)
    client = make_client(context)
    get_session().worker.watch(client, job_id, st.last_event_id)


def _apply_event(context: Any, session: Session, event: Any) -> None:
    st = status(context)
    if event.id <= st.last_event_id and event.id != 0:
        return  # already applied (a reconnect replays nothing new, but be safe)
    st.last_event_id = max(st.last_event_id, event.id)
    data = event.data
    if event.kind == wire.EVENT_STATE:
        st.state = str(data.get("state") or st.state)
        st.phase = str(data.get("phase") or st.phase)
        if data.get("message"):
            st.message = str(data["message"])
    elif event.kind == wire.EVENT_PROGRESS:
        st.phase = str(data.get("phase") or st.phase)
        st.step = int(data.get("step") or 0)
        st.total_steps = int(data.get("total_steps") or 0)
        st.progress = min(max(float(data.get("progress") or 0.0), 0.0), 1.0)
        eta = data.get("eta_seconds")
        st.eta_seconds = float(eta) if eta is not None else -1.0
    elif event.kind == wire.EVENT_EDIT:
        st.edits_done = int(data.get("edits_done") or st.edits_done)
    elif event.kind == wire.EVENT_PREVIEW:
        st.preview_step = int(data.get("step") or 0)
        if context.scene.in2n.auto_preview:
            try:
                request_preview(context, automatic=True)
            except (ActionError, ClientError, camera_math.CameraError) as exc:
                st.message = f"no preview: {exc}"
    elif event.kind == wire.EVENT_ERROR:
        notify(context, "ERROR", f"In2N job: {data.get('message', 'unknown error')}")
    elif event.kind == wire.EVENT_DONE:
        st.state = str(data.get("state") or st.state)
        if st.state == wire.COMPLETED:
            st.phase = "done"
            st.progress = 1.0
            if context.scene.in2n.auto_preview:  # the finished scene, once
                with contextlib.suppress(ActionError, ClientError, camera_math.CameraError):
                    request_preview(context, automatic=True)
        notify(context, "INFO", f"In2N: edit {st.state}")
