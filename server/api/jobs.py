"""Job routes: create, status, events (SSE), preview, images, cancel/resume/delete, export."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import FileResponse
from PIL import Image
from sse_starlette import EventSourceResponse, ServerSentEvent

from in2n_protocol.wire import EVENT_DONE, PREVIEW_MAX_SIDE, route

from ..jobs.errors import BadRequestError
from ..jobs.events import Event, EventHub
from ..jobs.service import JobService
from ..jobs.store import JobRecord
from . import deps
from .schemas import ExportRequest, JobCreate, JobPublic, PreviewRequest, error_responses

router = APIRouter(tags=["jobs"])
PNG = {200: {"content": {"image/png": {}}}}


def public(record: JobRecord) -> dict[str, Any]:
    return record.to_dict()


@router.post(
    route("jobs"), status_code=202, response_model=JobPublic, responses=error_responses(404, 409, 422, 503)
)
def create_job(body: JobCreate, jobs: JobService = Depends(deps.jobs)) -> dict[str, Any]:
    """Queue an edit of a scene; it runs when the device is free.

    Model-tuned values the client leaves out take the server model's recommended ones (the bundled demo
    editor wants more image guidance than InstructPix2Pix), else the original in2n defaults; the job
    stores them resolved.
    """
    return public(jobs.create(body.model_dump()))


@router.get(route("jobs"), response_model=list[JobPublic])
def list_jobs(jobs: JobService = Depends(deps.jobs)) -> list[dict[str, Any]]:
    return [public(r) for r in jobs.list_jobs()]


@router.get(route("jobs", "{job_id}"), response_model=JobPublic, responses=error_responses(404))
def get_job(job_id: str, jobs: JobService = Depends(deps.jobs)) -> dict[str, Any]:
    return public(jobs.get_job(job_id))


@router.post(
    route("jobs", "{job_id}", "cancel"), response_model=JobPublic, responses=error_responses(404, 409)
)
def cancel_job(job_id: str, jobs: JobService = Depends(deps.jobs)) -> dict[str, Any]:
    """Stop after the current step (the last checkpoint is kept: the job can be resumed)."""
    return public(jobs.cancel(job_id))


@router.post(
    route("jobs", "{job_id}", "resume"), response_model=JobPublic, responses=error_responses(404, 409)
)
def resume_job(job_id: str, jobs: JobService = Depends(deps.jobs)) -> dict[str, Any]:
    """Queue a cancelled or failed job again; it continues from its last checkpoint."""
    return public(jobs.resume(job_id))


@router.delete(route("jobs", "{job_id}"), status_code=204, responses=error_responses(404, 409))
async def delete_job(job_id: str, jobs: JobService = Depends(deps.jobs)) -> Response:
    """Cancel (if running) and remove the job with its checkpoints, images and exports."""
    await asyncio.to_thread(jobs.delete, job_id)
    return Response(status_code=204)


@router.get(
    route("jobs", "{job_id}", "images", "{index}"),
    response_class=FileResponse,
    responses={**PNG, **error_responses(404)},
)
def get_job_image(job_id: str, index: int, jobs: JobService = Depends(deps.jobs)) -> FileResponse:
    """The current training image `index` (edited once the dataset update reached it)."""
    return FileResponse(jobs.image_path(job_id, index), media_type="image/png")


@router.post(
    route("jobs", "{job_id}", "preview"),
    response_class=Response,
    responses={**PNG, **error_responses(404, 409, 422)},
)
async def preview(job_id: str, body: PreviewRequest, jobs: JobService = Depends(deps.jobs)) -> Response:
    """A PNG of the job's NeRF from any camera (in the scene's frame), while it trains or after."""
    from ..engine.types import CameraSpec

    camera = CameraSpec.from_wire(body.camera.model_dump())
    width, height = preview_size(camera.width, camera.height, body.width, body.height)
    camera = camera.resized(width, height)
    future = await asyncio.to_thread(
        jobs.call_session, job_id, lambda session: session.render(camera).image()
    )
    rgb = await asyncio.wrap_future(future)
    return Response(content=encode_png(rgb), media_type="image/png")


@router.post(
    route("jobs", "{job_id}", "export"),
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **error_responses(404, 409, 422)},
)
async def export(job_id: str, body: ExportRequest, jobs: JobService = Depends(deps.jobs)) -> FileResponse:
    """A point cloud, mesh or 3D Gaussian splats in the scene's own world frame, with colours. Never loads
    the editor."""
    future = await asyncio.to_thread(jobs.export, job_id, body.model_dump())
    path = await asyncio.wrap_future(future)
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


@router.get(
    route("jobs", "{job_id}", "events"),
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(400, 404)},
)
async def events(
    request: Request,
    job_id: str,
    after: int | None = Query(None, ge=0, description="replay events after this id (as Last-Event-ID)"),
    last_event_id: str | None = Header(None, alias="Last-Event-ID"),
    jobs: JobService = Depends(deps.jobs),
    hub: EventHub = Depends(deps.hub),
) -> EventSourceResponse:
    """Server-Sent Events of the job; reconnect with `Last-Event-ID` to get everything missed."""
    jobs.get_job(job_id)
    start = after or 0
    if last_event_id is not None and last_event_id.strip():
        if not last_event_id.strip().isdigit():
            raise BadRequestError(
                "Last-Event-ID must be an event id (a non-negative integer)", field="Last-Event-ID"
            )
        start = max(start, int(last_event_id.strip()))
    settings = request.app.state.settings
    return EventSourceResponse(
        stream_events(jobs, hub, job_id, start),
        ping=settings.ping_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="ping"),
    )


async def stream_events(
    jobs: JobService, hub: EventHub, job_id: str, after: int
) -> AsyncIterator[ServerSentEvent]:
    """Replay from the log, then follow live events; stop after a `done` that is the latest event."""
    subscription = hub.subscribe(job_id)  # subscribe first, so nothing falls between replay and live
    event_log = jobs.event_log(job_id)
    last = after
    try:
        backlog = await asyncio.to_thread(event_log.read_after, last)
        while True:
            for event in backlog:
                if event.seq <= last:
                    continue
                last = event.seq
                yield to_sse(event)
                if event.kind == EVENT_DONE and event.seq == event_log.last_seq:
                    return
            if not backlog and last == event_log.last_seq and jobs.is_over(job_id):
                return  # nothing after the client's id and the job is over
            event = await subscription.queue.get()
            if subscription.lagged:  # fell behind: the log has everything
                subscription.lagged = False
                backlog = await asyncio.to_thread(event_log.read_after, last)
            else:
                backlog = [event]
    finally:
        hub.unsubscribe(subscription)


def to_sse(event: Event) -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps(event.data), event=event.kind, id=str(event.seq))


def preview_size(cam_w: int, cam_h: int, width: int | None, height: int | None) -> tuple[int, int]:
    """Requested size; one side alone keeps the camera's aspect ratio; at most PREVIEW_MAX_SIDE per side
    (aspect kept)."""
    if width is None and height is None:
        width, height = cam_w, cam_h
    elif height is None:
        height = max(1, round(width * cam_h / cam_w))
    elif width is None:
        width = max(1, round(height * cam_w / cam_h))
    shrink = min(1.0, PREVIEW_MAX_SIDE / max(width, height))
    return max(1, round(width * shrink)), max(1, round(height * shrink))


def encode_png(rgb: Any) -> bytes:
    array = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    buffer = io.BytesIO()
    Image.fromarray((array * 255.0 + 0.5).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
