"""The extension's main-thread controller: actions for the operators, and the timer that applies results.

Operators call the actions here; network work goes to the Worker thread; `drain()` (registered with
bpy.app.timers, and called directly by tests because timers never fire in the bpy module) takes results off
the queue and updates Blender: status, preview images, imported geometry, reports. Every error that reaches
this module ends as a status message and a report, never as an exception in Blender's UI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

import bpy
from mathutils import Matrix

from . import camera_math, capture, preferences, previews, scene_import, wire
from .client import Client, ClientError, FilePart, ServerError, is_loopback
from .worker import RESULT_CONNECTION, RESULT_DONE, RESULT_EVENT, RESULT_FAILED, Worker

DATASET_COLLECTION = "In2N Dataset Cameras"
HEALTH_RETRY_SECONDS = 5.0  # while not connected
HEARTBEAT_SECONDS = 15.0  # while connected: notices a server that died or restarted
DRAIN_BATCH = 50


class ActionError(ValueError):
    """An action that cannot start (bad input, nothing selected, no job): the operator reports it."""


class Session:
    """Everything this Blender session holds outside bpy data: threads, a started server, temp files."""

    def __init__(self) -> None:
        self.worker = Worker()
        self.server_process: subprocess.Popen[bytes] | None = None
        self.server_log: str = ""
        self.preview_in_flight = False
        self.preview_wanted = False
        self.temp_dirs: list[str] = []
        self.last_health = 0.0
        self.client: Client | None = None

    def temp_dir(self, prefix: str) -> str:
        path = tempfile.mkdtemp(prefix=prefix)
        self.temp_dirs.append(path)
        return path

    def close(self) -> None:
        self.worker.stop()
        if self.server_process is not None and self.server_process.poll() is None:
            self.server_process.terminate()
            try:
                self.server_process.wait(10)
            except subprocess.TimeoutExpired:
                self.server_process.kill()
                self.server_process.wait(5)
        self.server_process = None
        for path in self.temp_dirs:
            shutil.rmtree(path, ignore_errors=True)
        self.temp_dirs.clear()


_session: Session | None = None


def get_session() -> Session:
    global _session
    if _session is None:
        _session = Session()
    return _session


def shutdown() -> None:
    """Stop threads and a server this session started; called from unregister."""
    global _session
    if _session is not None:
        _session.close()
        _session = None


def status(context: Any = None) -> Any:
    return (context or bpy.context).window_manager.in2n


def make_client(context: Any) -> Client:
    """A client for the server in the preferences; refuses non-loopback hosts without online access."""
    settings = preferences.server_settings(context)
    client = Client(
        settings.host,
        settings.port,
        settings.token,
        online_access=bool(getattr(bpy.app, "online_access", False)),
    )
    get_session().client = client
    return client


# -- actions (main thread) --------------------------------------------------------------------------------


def check_server(context: Any) -> None:
    client = make_client(context)
    status(context).checked = True
    _set_busy(context, "checking the server")
    get_session().worker.submit("health", client.health)


def start_local_server(context: Any) -> None:
    """Start `in2n-server` from the interpreter named in the preferences, on the configured loopback port."""
    settings = preferences.server_settings(context)
    session = get_session()
    if session.server_process is not None and session.server_process.poll() is None:
        raise ActionError("a local server started from Blender is already running")
    if not settings.python or not os.path.isfile(settings.python):
        raise ActionError("set 'Server Python' in the extension's preferences to a Python with in2n-server")
    if not is_loopback(settings.host):
        raise ActionError(
            f"a local server listens on this machine; set the host to 127.0.0.1, not {settings.host}"
        )
    workspace = settings.workspace or session.temp_dir("in2n-workspace-")
    os.makedirs(workspace, exist_ok=True)
    command = [
        settings.python,
        "-c",
        "import sys; from in2n_server.cli import main; sys.exit(main())",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workspace",
        workspace,
    ]
    if settings.model:
        command += ["--model", settings.model]
    if settings.device:
        command += ["--device", settings.device]
    session.server_log = os.path.join(workspace, "in2n-server.log")
    with open(session.server_log, "ab") as log:
        session.server_process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    client = make_client(context)
    _set_busy(context, "starting the local server")
    process = session.server_process
    session.worker.submit("health", lambda: _wait_healthy(client, process, 300.0))


def _wait_healthy(client: Client, process: subprocess.Popen[bytes] | None, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.health()
        except ClientError:
            if process is not None and process.poll() is not None:
                raise ClientError(f"the local server exited with code {process.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def capture_scene(context: Any) -> capture.Capture:
    """Render the views the settings ask for (on the main thread: rendering needs bpy)."""
    settings = context.scene.in2n
    if settings.source == "CAMERAS":
        cameras = capture.selected_cameras(context)
        if not cameras:
            raise ActionError("select the camera objects to capture, or choose the generated rig")
    elif settings.source == "RIG":
        cameras = capture.make_rig(context, settings.rig_kind, settings.rig_views, settings.rig_radius)
    else:
        raise ActionError("the scene source is a server dataset: nothing to capture")
    targets = capture.selected_targets(context)
    directory = get_session().temp_dir("in2n-capture-")
    return capture.capture(
        context,
        cameras,
        directory,
        max_size=settings.resolution,
        masks_of=targets,
        with_masks=settings.with_masks,
        with_depth=settings.with_depth,
        transparent_background=settings.transparent_background,
    )


def upload(context: Any, captured: capture.Capture, then_edit: bool = False) -> None:
    """Upload a capture (on the worker); optionally start the edit as soon as the scene exists."""
    client = make_client(context)
    params = job_params(context, "") if then_edit else None

    def task() -> tuple[dict[str, Any], dict[str, Any] | None]:
        images = [_file_part(path) for path in captured.images]
        masks = [_file_part(path) for path in captured.masks]
        depths = [_file_part(path) for path in captured.depths]
        scene = client.upload_scene(captured.transforms, images, masks, depths)
        shutil.rmtree(captured.directory, ignore_errors=True)
        job = client.create_job({**params, "scene_id": scene["scene_id"]}) if params is not None else None
        return scene, job

    _set_busy(context, f"uploading {len(captured.images)} views")
    get_session().worker.submit("scene", task)


def use_dataset(context: Any) -> None:
    path = context.scene.in2n.dataset_path.strip()
    if not path:
        raise ActionError("type the dataset folder's path on the server")
    client = make_client(context)
    _set_busy(context, "opening the dataset on the server")
    get_session().worker.submit("dataset", lambda: client.scene_from_path(path))


def start_edit(context: Any) -> None:
    """Start an edit of the current scene; captures and uploads first when there is no scene yet."""
    settings = context.scene.in2n
    if not settings.instruction.strip():
        raise ActionError("type an instruction first, e.g. 'make it look like autumn'")
    st = status(context)
    if st.state in ("queued", "running"):
        raise ActionError("a job is running; cancel it first")
    if not st.scene_id:
        if settings.source == "SERVER_PATH":
            raise ActionError("open the server dataset first")
        upload(context, capture_scene(context), then_edit=True)
        return
    client = make_client(context)
    params = job_params(context, st.scene_id)
    _set_busy(context, "starting the edit")
    get_session().worker.submit("job", lambda: client.create_job(params))


def job_params(context: Any, scene_id: str) -> dict[str, Any]:
    settings = context.scene.in2n
    params: dict[str, Any] = {
        "scene_id": scene_id,
        "instruction": settings.instruction.strip(),
        "tier": settings.tier,
        "guidance_scale": settings.guidance_scale,
        "image_guidance_scale": settings.image_guidance_scale,
        "diffusion_steps": settings.diffusion_steps,
        "seed": settings.seed,
        "base_iterations": settings.base_iterations,
        "edit_iterations": settings.edit_iterations,
        "edit_rate": settings.edit_rate,
        # Blender's cameras are exact: refining them would only move the result off the source objects.
        "optimize_cameras": settings.source == "SERVER_PATH",
    }
    st = status(context)
    if settings.continue_edit and st.job_id and st.state == "completed":
        params["base_job_id"] = st.job_id
        params["continue_from_edit"] = True
    return params


def cancel_job(context: Any) -> None:
    job_id = _require_job(context)
    client = make_client(context)
    get_session().worker.submit("job", lambda: client.cancel_job(job_id))


def resume_job(context: Any) -> None:
    job_id = _require_job(context)
    client = make_client(context)
    get_session().worker.submit("job", lambda: client.resume_job(job_id))


def request_preview(context: Any, automatic: bool = False) -> None:
    """Ask for a preview from the active camera or the viewport; one request in flight at a time.

    Automatic previews (one per checkpoint) fail quietly: a job that is just finishing may refuse one, and
    the next checkpoint or the final preview follows anyway.
    """
    job_id = _require_job(context)
    session = get_session()
    if session.preview_in_flight:
        session.preview_wanted = True
        return
    camera, width, height = preview_camera(context)
    client = make_client(context)
    session.preview_in_flight = True
    session.worker.submit(
        "auto-preview" if automatic else "preview", lambda: client.preview(job_id, camera, width, height)
    )


def preview_camera(context: Any) -> tuple[dict[str, Any], int, int]:
    """The camera to preview from, and the preview size (longer side = the preview size setting)."""
    settings = context.scene.in2n
    if settings.preview_from == "VIEWPORT":
        region, r3d = _find_viewport(context)
        intr = camera_math.intrinsics_from_projection(r3d.window_matrix, region.width, region.height)
        camera = intr.as_dict()
        camera["transform_matrix"] = camera_math.pose_without_scale(r3d.view_matrix.inverted())
    else:
        ob = context.scene.camera
        if ob is None:
            raise ActionError("the scene has no active camera; set one or preview from the viewport")
        camera = camera_math.camera_from_blender(ob, context.scene.render)
    longer = max(camera["w"], camera["h"])
    scale = settings.preview_size / longer
    return camera, max(1, round(camera["w"] * scale)), max(1, round(camera["h"] * scale))


def _find_viewport(context: Any) -> tuple[Any, Any]:
    areas = [context.area] if context.area is not None and context.area.type == "VIEW_3D" else []
    for window in context.window_manager.windows:
        areas += [a for a in window.screen.areas if a.type == "VIEW_3D"]
    for area in areas:
        region = next((r for r in area.regions if r.type == "WINDOW"), None)
        r3d = area.spaces.active.region_3d
        if region is not None and r3d is not None:
            if not r3d.is_perspective:
                raise ActionError("the viewport is orthographic; switch it to perspective to preview")
            return region, r3d
    raise ActionError("no 3D viewport is open to preview from")


def fetch_edited(context: Any, index: int) -> None:
    job_id = _require_job(context)
    client = make_client(context)
    get_session().worker.submit("edited", lambda: client.job_image(job_id, index))


def import_result(context: Any, kind: str, fmt: str = "ply") -> None:
    """Download the job's point cloud or mesh (worker) and import it (drain, main thread)."""
    job_id = _require_job(context)
    settings = context.scene.in2n
    num_points, resolution = settings.num_points, settings.mesh_resolution  # read here: no bpy on the worker
    client = make_client(context)
    directory = get_session().temp_dir("in2n-result-")

    def task() -> tuple[str, str]:
        name, data = client.export(job_id, kind, fmt, num_points=num_points, resolution=resolution)
        path = os.path.join(directory, name)
        with open(path, "wb") as fh:
            fh.write(data)
        return kind, path

    _set_busy(context, f"exporting the {kind.replace('_', ' ')}")
    get_session().worker.submit("export", task)


def _require_job(context: Any) -> str:
    job_id = status(context).job_id
    if not job_id:
        raise ActionError("no edit job yet: press Edit first")
    return job_id


def _file_part(path: str) -> FilePart:
    """A file to upload; `.npy` depth maps are not images, so they do not claim to be PNG."""
    with open(path, "rb") as fh:
        data = fh.read()
    content_type = "application/octet-stream" if path.endswith(".npy") else "image/png"
    return FilePart("images", os.path.basename(path), data, content_type)


def _set_busy(context: Any, message: str) -> None:
    st = status(context)
    st.busy = True
    st.message = message
    st.error = ""


# -- the timer: apply results on the main thread ----------------------------------------------------------


def drain() -> float:
    """Apply queued results to Blender; returns the delay until the next call (bpy.app.timers protocol)."""
    session = _session
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
    session.worker.submit("heartbeat", client.health)


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
        if tag in ("preview", "auto-preview"):
            session.preview_in_flight = False
        if tag == "auto-preview":
            st.message = f"preview skipped: {exc}"
            return
        if tag in ("health", "heartbeat"):
            st.connected = False
        if tag == "heartbeat":
            st.message = f"not connected: {exc}"
            return  # polled quietly; the panel shows it
        message = exc.message if isinstance(exc, ServerError) else str(exc)
        notify(context, "ERROR", f"In2N {tag}: {message}")
    elif kind == RESULT_DONE:
        tag, value = payload
        _apply_done(context, session, tag, value)


def _apply_done(context: Any, session: Session, tag: str, value: Any) -> None:
    st = status(context)
    if tag in ("health", "heartbeat"):
        session.last_health = time.monotonic()
        was_connected = st.connected
        st.connected = True
        st.device = str(value.get("device_name") or value.get("device") or "")
        editor = value.get("editor") or {}
        st.editor_model = str(editor.get("model") or "")
        st.editor_available = bool(editor.get("available"))
        st.editor_message = str(editor.get("message") or "")
        if tag == "health" or not was_connected:
            st.message = "connected"
        if st.job_id and st.state in ("queued", "running") and not session.worker.watching:
            _watch(context, st.job_id)
    elif tag == "scene":
        scene, job = value
        st.connected = True
        st.scene_id = scene["scene_id"]
        st.scene_images = int(scene.get("num_images", 0))
        st.message = f"scene {st.scene_id}: {st.scene_images} views"
        if job is not None:
            _set_job(context, job)
    elif tag == "dataset":
        st.scene_id = value["scene_id"]
        st.scene_images = int(value.get("num_images", 0))
        show_dataset_cameras(context, value.get("cameras") or [])
        st.message = f"dataset {st.scene_id}: {st.scene_images} views"
    elif tag == "job":
        _set_job(context, value)
    elif tag in ("preview", "auto-preview"):
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
    elif tag == "edited":
        image = previews.show_png(previews.EDITED_IMAGE, value)
        previews.show_in_image_editors(context.window_manager, image)
    elif tag == "export":
        kind, path = value
        ob = scene_import.import_geometry(path, kind=kind, name=f"In2N {kind.replace('_', ' ').title()}")
        st.imported_object = ob.name
        st.message = f"imported {ob.name}"
        notify(context, "INFO", f"In2N: imported {ob.name}")


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
        if st.state == "completed":
            st.phase = "done"
            st.progress = 1.0
            if context.scene.in2n.auto_preview:  # the finished scene, once
                with contextlib.suppress(ActionError, ClientError, camera_math.CameraError):
                    request_preview(context, automatic=True)
        notify(context, "INFO", f"In2N: edit {st.state}")


# -- showing server datasets ------------------------------------------------------------------------------


def show_dataset_cameras(context: Any, cameras: list[dict[str, Any]]) -> list[Any]:
    """Create camera objects for a server dataset's cameras (replacing earlier ones) in their collection."""
    collection = bpy.data.collections.get(DATASET_COLLECTION) or bpy.data.collections.new(DATASET_COLLECTION)
    if collection.name not in context.scene.collection.children:
        context.scene.collection.children.link(collection)
    for ob in list(collection.objects):
        data = ob.data
        bpy.data.objects.remove(ob)
        if data is not None and data.users == 0:
            bpy.data.cameras.remove(data)
    created = []
    for i, cam in enumerate(cameras):
        settings = camera_math.blender_settings(
            cam["fl_x"], cam["fl_y"], cam["cx"], cam["cy"], cam["w"], cam["h"]
        )
        data = bpy.data.cameras.new(f"In2N Dataset {i:03d}")
        data.lens = settings.lens
        data.sensor_width = settings.sensor_width
        data.sensor_fit = settings.sensor_fit
        data.shift_x, data.shift_y = settings.shift_x, settings.shift_y
        ob = bpy.data.objects.new(f"In2N Dataset {i:03d}", data)
        ob.matrix_world = Matrix(cam["transform_matrix"])
        collection.objects.link(ob)
        created.append(ob)
        if i == 0:
            render = context.scene.render
            render.resolution_x, render.resolution_y = settings.resolution_x, settings.resolution_y
            render.resolution_percentage = 100
            render.pixel_aspect_x, render.pixel_aspect_y = settings.pixel_aspect_x, settings.pixel_aspect_y
    return created


# -- reports ----------------------------------------------------------------------------------------------


def notify(context: Any, level: str, message: str) -> None:
    """Show a message from outside an operator: status line in the panel, Blender's report, the console."""
    st = status(context)
    if level == "ERROR":
        st.error = message
    else:
        st.message = message
    print(message, file=sys.stderr if level == "ERROR" else sys.stdout)
    # Without a window (headless) the report operator fails: the status line and console carry the message.
    with contextlib.suppress(RuntimeError, AttributeError, TypeError):
        bpy.ops.in2n.report("EXEC_DEFAULT", level=level, message=message)
