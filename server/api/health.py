"""`GET /v1/health`: versions, device, and whether the editor model can be loaded."""

from __future__ import annotations

import platform

from fastapi import APIRouter, Request

from in2n_protocol.wire import API_VERSION, TIERS, route

from .. import __version__
from .schemas import EditorHealth, HealthPublic

router = APIRouter(tags=["health"])


@router.get(route("health"), response_model=HealthPublic)
def get_health(request: Request) -> HealthPublic:
    settings = request.app.state.settings
    device = request.app.state.device
    available, message = editor_status(settings.model)
    return HealthPublic(
        api_version=API_VERSION,
        server_version=__version__,
        device=device,
        device_name=device_name(device),
        editor=EditorHealth(model=settings.model or "(tier default)", available=available, message=message),
        tiers=list(TIERS),
    )


def editor_status(model: str | None) -> tuple[bool, str]:
    from ..editor.loading import describe_model

    return describe_model(model)


def device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    return platform.processor() or platform.machine() or "CPU"
