"""Access to the app's services from a request (set up by the lifespan in `app.py`)."""

from __future__ import annotations

from fastapi import Request

from ..config import Settings
from ..ingest import SceneIngest
from ..jobs.events import EventHub
from ..jobs.service import JobService
from ..jobs.store import SceneStore


def jobs(request: Request) -> JobService:
    return request.app.state.jobs


def scenes(request: Request) -> SceneStore:
    return request.app.state.scenes


def ingest(request: Request) -> SceneIngest:
    return request.app.state.ingest


def hub(request: Request) -> EventHub:
    return request.app.state.hub


def settings(request: Request) -> Settings:
    return request.app.state.settings
