"""The FastAPI application: `create_app(settings)` wires the stores, the worker and the routes.

Heavy things (torch, the engine) are imported in the lifespan or on first use, never at import time,
so `in2n-server --help` and the OpenAPI schema are instant.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__
from .api import health, jobs, scenes
from .api.errors import error_response, install_error_handlers
from .api.schemas import ErrorBody
from .config import Settings
from .ingest import SceneIngest
from .jobs.events import EventHub
from .jobs.service import JobService
from .jobs.store import JobStore, SceneStore, Workspace

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    """ "auto" becomes "cuda" when a CUDA device is usable, else "cpu"; "cuda" without one is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available (use --device cpu)")
    return device


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        device = resolve_device(settings.device)
        workspace = Workspace(settings.workspace)
        scene_store = SceneStore(workspace)
        job_store = JobStore(workspace)
        hub = EventHub(asyncio.get_running_loop())
        service = JobService(
            settings, workspace, scene_store, job_store, device, publish=hub.publish_threadsafe
        )
        app.state.settings = settings
        app.state.device = device
        app.state.workspace = workspace
        app.state.scenes = scene_store
        app.state.ingest = SceneIngest(settings, workspace, scene_store)
        app.state.jobs = service
        app.state.hub = hub
        try:
            service.start()
        except Exception as error:  # e.g. Ray is unreachable or a node cannot see the workspace
            log.error("in2n-server cannot start: %s", error)
            raise
        log.info(
            "in2n-server %s: workspace %s, device %s, model %s",
            __version__,
            workspace.root,
            device,
            settings.model or "(tier default)",
        )
        try:
            yield
        finally:
            log.info("stopping: the running job checkpoints and resumes at the next start")
            await asyncio.to_thread(service.stop)

    app = FastAPI(
        title="in2n-server",
        version=__version__,
        description="Instruct-NeRF2NeRF edits for Blender and other clients (see docs/protocol.md).",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # Every route can answer 400 (malformed), 422 (invalid), 500, and 401 when a token is set.
    common = {status: {"model": ErrorBody} for status in (400, 422, 500, *((401,) if settings.token else ()))}
    for router in (health.router, scenes.router, jobs.router):
        app.include_router(router, responses=common)
    if settings.token:
        app.add_middleware(BearerTokenMiddleware, token=settings.token)
    return app


class BearerTokenMiddleware:
    """Every request must carry `Authorization: Bearer <token>` (compared in constant time)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or ()).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = error_response(
                    401, "unauthorized", "missing or wrong token (Authorization: Bearer ...)"
                )
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
