"""Scene routes: create (upload or server path), list, get, original images, delete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from in2n_protocol.wire import route

from ..ingest import SceneIngest, SourceFile
from ..jobs.errors import BadRequestError, NotFoundError, TooLargeError
from ..jobs.service import JobService
from ..jobs.store import SceneStore
from . import deps
from .schemas import ScenePathCreate, ScenePublic, SceneSummary, error_responses

router = APIRouter(tags=["scenes"])

UPLOAD_SCHEMA = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["transforms", "images"],
                "properties": {
                    "transforms": {
                        "type": "string",
                        "description": "transforms.json text (cameras + file_path)",
                    },
                    "images": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "masks": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "depths": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "lights": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "surfaces": {"type": "string", "format": "binary"},
                },
            }
        }
    },
}


@router.post(
    route("scenes"),
    status_code=201,
    response_model=ScenePublic,
    openapi_extra={"requestBody": UPLOAD_SCHEMA},
    responses=error_responses(400, 413, 422),
)
async def create_scene(request: Request, ingest: SceneIngest = Depends(deps.ingest)) -> dict[str, Any]:
    """Upload cameras (`transforms`) and images; the scene is prepared (downscaled) on the server."""
    settings = ingest.settings
    form = await read_multipart(request, settings.max_upload_bytes, max_files=4 * settings.max_images + 4)
    try:
        transforms = form.get("transforms")
        if transforms is None:
            raise BadRequestError("the `transforms` field is missing", field="transforms")
        if isinstance(transforms, UploadFile):
            transforms = await transforms.read()
        files = {kind: _files(form.getlist(kind), kind) for kind in ("images", "masks", "depths", "lights")}
        surfaces = _files(form.getlist("surfaces"), "surfaces")
        if len(surfaces) > 1:
            raise BadRequestError("send at most one surfaces file", field="surfaces")
        return await asyncio.to_thread(
            ingest.from_upload,
            transforms,
            files["images"],
            files["masks"],
            files["depths"],
            files["lights"],
            surfaces[0] if surfaces else None,
        )
    finally:
        await form.close()


@router.post(
    route("scenes", "from-path"),
    status_code=201,
    response_model=ScenePublic,
    responses=error_responses(403, 413, 422),
)
async def create_scene_from_path(
    body: ScenePathCreate, ingest: SceneIngest = Depends(deps.ingest)
) -> dict[str, Any]:
    """Prepare a nerfstudio dataset folder on the server (it must lie inside an `--allow-root`)."""
    return await asyncio.to_thread(ingest.from_path, body.path)


@router.get(route("scenes"), response_model=list[SceneSummary])
def list_scenes(scenes: SceneStore = Depends(deps.scenes)) -> list[dict[str, Any]]:
    return scenes.list()


@router.get(route("scenes", "{scene_id}"), response_model=ScenePublic, responses=error_responses(404))
def get_scene(scene_id: str, scenes: SceneStore = Depends(deps.scenes)) -> dict[str, Any]:
    return scenes.get(scene_id)


@router.get(
    route("scenes", "{scene_id}", "images", "{index}"),
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}, **error_responses(404)},
)
def get_scene_image(scene_id: str, index: int, scenes: SceneStore = Depends(deps.scenes)) -> FileResponse:
    """The prepared (downscaled) original image `index`."""
    record = scenes.get(scene_id)
    if not 0 <= index < record["num_images"]:
        raise NotFoundError(f"image index {index} is outside 0..{record['num_images'] - 1}", field="index")
    path = scenes.dataset_dir(scene_id) / record["cameras"][index]["file_path"]
    return FileResponse(path, media_type="image/png")


@router.delete(route("scenes", "{scene_id}"), status_code=204, responses=error_responses(404, 409))
def delete_scene(scene_id: str, jobs: JobService = Depends(deps.jobs)) -> Response:
    jobs.delete_scene(scene_id)
    return Response(status_code=204)


async def read_multipart(request: Request, limit: int, max_files: int) -> Any:
    """Parse a multipart body, refusing it (413) as soon as it grows past `limit` bytes."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise BadRequestError("expected a multipart/form-data body", field="body")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(
            f"the upload is {int(declared)} bytes; this server accepts at most {limit}", field="body"
        )

    async def limited() -> AsyncIterator[bytes]:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise TooLargeError(
                    f"the upload is larger than this server's limit of {limit} bytes", field="body"
                )
            yield chunk

    parser = MultiPartParser(
        request.headers, limited(), max_files=max_files, max_fields=16, max_part_size=64 * 1024 * 1024
    )
    try:
        return await parser.parse()
    except MultiPartException as error:
        raise BadRequestError(f"malformed multipart body: {error.message}", field="body") from error


def _files(items: list[Any], kind: str) -> list[SourceFile]:
    files = []
    for i, item in enumerate(items):
        if not isinstance(item, UploadFile):
            raise BadRequestError(f"{kind}[{i}] must be a file upload", field=f"{kind}[{i}]")
        files.append(SourceFile(item.filename or "", stream=item.file))
    return files
