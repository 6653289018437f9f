"""What the operators do, on the main thread: read the settings, hand network work to the worker thread.

Each action raises ActionError for input it cannot use; the operator reports it. Results come back through
the worker's queue and are applied by `results.drain`.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from . import camera_math, capture, job_request, light_passes, rig, surfaces
from .client import FilePart
from .notifications import notify
from .protocol import wire
from .session import ActionError, get_session, make_client, require_job, set_busy, status
from .worker import Tag


def check_server(context: Any) -> None:
    client = make_client(context)
    status(context).checked = True
    set_busy(context, "checking the server")
    get_session().worker.submit(Tag.HEALTH, client.health)


def capture_scene(context: Any) -> capture.Capture:
    """Render the views the settings ask for (on the main thread: rendering needs bpy).

    *Capture for Textures* adds masks, depth, the selected meshes' surfaces and, where this scene and
    Blender allow it, the light passes (else a warning: the textures will keep the capture's lighting).
    """
    settings = context.scene.in2n
    if settings.source == "CAMERAS":
        cameras = rig.selected_cameras(context)
        if not cameras:
            raise ActionError("select the camera objects to capture, or choose the generated rig")
    elif settings.source == "RIG":
        cameras = rig.make_rig(context, settings.rig_kind, settings.rig_views, settings.rig_radius)
    else:
        raise ActionError("the scene source is a server dataset: nothing to capture")
    targets = rig.selected_targets(context)
    textures = settings.capture_textures
    if textures and not surfaces.surface_objects(targets):
        raise ActionError("Capture for Textures needs selected mesh objects: their surfaces get the textures")
    directory = get_session().temp_dir("in2n-capture-")
    captured = capture.capture(
        context,
        cameras,
        directory,
        max_size=settings.resolution,
        masks_of=targets,
        with_masks=textures or job_request.capture_masks(settings, bool(targets)),
        with_depth=textures or settings.with_depth,
        transparent_background=settings.transparent_background,
        with_lights=textures and _light_passes_possible(context),
        surfaces_of=targets if textures else (),
    )
    if textures:  # which UV map each object's texture is baked on, for Apply as Textures (saved in the file)
        settings.surface_uv_maps = json.dumps(captured.uv_maps)
    return captured


def _light_passes_possible(context: Any) -> bool:
    """Whether this scene's light passes can be captured here; warns why not (the capture goes on)."""
    reason = light_passes.unavailable_reason(context.scene)
    if reason:
        notify(
            context,
            "WARNING",
            f"In2N: capturing without light passes ({reason}); the textures will keep the views' lighting",
        )
    return not reason


def upload(context: Any, captured: capture.Capture, then_edit: bool = False) -> None:
    """Upload a capture (on the worker); optionally start the edit as soon as the scene exists."""
    client = make_client(context)
    masked = bool(captured.masks)
    params = job_params(context, "", scene_masked=masked) if then_edit else None

    def task() -> tuple[dict[str, Any], dict[str, Any] | None, bool]:
        images = [_file_part(path) for path in captured.images]
        masks = [_file_part(path) for path in captured.masks]
        depths = [_file_part(path) for path in captured.depths]
        lights = [_file_part(path) for path in captured.lights]
        surfaces_file = _file_part(captured.surfaces) if captured.surfaces else None
        scene = client.upload_scene(captured.transforms, images, masks, depths, lights, surfaces_file)
        shutil.rmtree(captured.directory, ignore_errors=True)
        job = client.create_job({**params, "scene_id": scene["scene_id"]}) if params is not None else None
        return scene, job, masked

    set_busy(context, f"uploading {len(captured.images)} views")
    get_session().worker.submit(Tag.SCENE, task)


def use_dataset(context: Any) -> None:
    path = context.scene.in2n.dataset_path.strip()
    if not path:
        raise ActionError("type the dataset folder's path on the server")
    client = make_client(context)
    set_busy(context, "opening the dataset on the server")
    get_session().worker.submit(Tag.DATASET, lambda: client.scene_from_path(path))


def start_edit(context: Any) -> None:
    """Start an edit of the current scene; captures and uploads first when there is no scene yet."""
    settings = context.scene.in2n
    if not settings.instruction.strip():
        raise ActionError("type an instruction first, e.g. 'make it look like autumn'")
    st = status(context)
    if st.state in wire.ACTIVE_STATES:
        raise ActionError("a job is running; cancel it first")
    if not st.scene_id:
        if settings.source == "SERVER_PATH":
            raise ActionError("open the server dataset first")
        upload(context, capture_scene(context), then_edit=True)
        return
    client = make_client(context)
    params = job_params(context, st.scene_id)
    set_busy(context, "starting the edit")
    get_session().worker.submit(Tag.JOB, lambda: client.create_job(params))


def job_params(context: Any, scene_id: str, scene_masked: bool | None = None) -> dict[str, Any]:
    """The JobCreate body for the panel's settings (job_request.job_body: guidance only when overridden).

    `scene_masked` (default: the uploaded scene's) says whether the scene has masks of the selected objects;
    with *Edit Selected Objects Only* on, the job is then a local edit.
    """
    settings = context.scene.in2n
    st = status(context)
    base = st.job_id if settings.continue_edit and st.job_id and st.state == wire.COMPLETED else None
    return job_request.job_body(
        settings,
        scene_id,
        exact_cameras=settings.source != "SERVER_PATH",
        base_job_id=base,
        scene_masked=st.scene_masked if scene_masked is None else scene_masked,
    )


def cancel_job(context: Any) -> None:
    job_id = require_job(context)
    client = make_client(context)
    get_session().worker.submit(Tag.JOB, lambda: client.cancel_job(job_id))


def resume_job(context: Any) -> None:
    job_id = require_job(context)
    client = make_client(context)
    get_session().worker.submit(Tag.JOB, lambda: client.resume_job(job_id))


def request_preview(context: Any, automatic: bool = False) -> None:
    """Ask for a preview from the active camera or the viewport; one request in flight at a time.

    Automatic previews (one per checkpoint) fail quietly: a job that is just finishing may refuse one, and
    the next checkpoint or the final preview follows anyway.
    """
    job_id = require_job(context)
    session = get_session()
    if session.preview_in_flight:
        session.preview_wanted = True
        return
    camera, width, height = preview_camera(context)
    client = make_client(context)
    session.preview_in_flight = True
    session.worker.submit(
        Tag.AUTO_PREVIEW if automatic else Tag.PREVIEW, lambda: client.preview(job_id, camera, width, height)
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
    job_id = require_job(context)
    client = make_client(context)
    get_session().worker.submit(Tag.EDITED, lambda: client.job_image(job_id, index))


def import_result(context: Any, kind: str, fmt: str = "ply") -> None:
    """Download the job's point cloud, mesh, splats or textures (worker) and import or apply them (drain,
    main thread)."""
    job_id = require_job(context)
    settings = context.scene.in2n
    num_points, resolution = settings.num_points, settings.mesh_resolution  # read here: no bpy on the worker
    masked_only, sh_degree = settings.export_masked_only, settings.splat_sh_degree
    texture_size, refine_steps = settings.texture_size, settings.splat_refine_steps
    client = make_client(context)
    directory = get_session().temp_dir("in2n-result-")

    def task() -> tuple[str, str]:
        name, data = client.export(
            job_id,
            kind,
            fmt,
            num_points=num_points,
            resolution=resolution,
            masked_only=masked_only,
            sh_degree=sh_degree,
            refine_steps=refine_steps,
            texture_size=texture_size,
        )
        path = os.path.join(directory, name)
        with open(path, "wb") as fh:
            fh.write(data)
        return kind, path

    set_busy(context, f"exporting the {kind.replace('_', ' ')}")
    get_session().worker.submit(Tag.EXPORT, task)


def _file_part(path: str) -> FilePart:
    """A file to upload; `.npy` depth and light maps and the `.npz` surfaces are not images, so they do not
    claim to be PNG."""
    with open(path, "rb") as fh:
        data = fh.read()
    content_type = "application/octet-stream" if path.endswith((".npy", ".npz")) else "image/png"
    return FilePart("images", os.path.basename(path), data, content_type)
