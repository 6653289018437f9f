"""What a new job must satisfy before anything is written: its parameters, its editor, its scene's data.

Each check raises the error the API maps to a status (422 naming the field, 503 for an editor that cannot
load), so a refused job leaves the workspace as it was.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .errors import InvalidInputError


def resolved_params(params: dict[str, Any], model: str | None) -> dict[str, Any]:
    """A job's parameters as the engine will run them, checked and resolved once: `EditParams` applies
    every bound and cross-field rule (a 422 naming the fields), and the model-tuned values left unset
    become `model`'s recommended ones (the job stores them resolved)."""
    from in2n_protocol.edit_params import EditParams

    from ..editor.loading import recommended_settings

    try:
        edit = EditParams.from_dict(params).with_model_defaults(recommended_settings(model))
    except ValueError as exc:
        raise InvalidInputError(str(exc), field=first_field_named(str(exc), params)) from exc
    return {**params, **{name: getattr(edit, name) for name in params if hasattr(edit, name)}}


def first_field_named(message: str, params: dict[str, Any]) -> str | None:
    """The request field a validation message names first (it may name several: "a must be below b")."""
    found = [(match.start(), name) for name in params if (match := re.search(rf"\b{name}\b", message))]
    return min(found)[1] if found else None


def check_editor(model: str | None) -> None:
    """Refuse a job up front when its editor cannot load here (offline without weights, a bad path)."""
    from ..editor.loading import EditorUnavailableError, describe_model, resolve_model

    available, message = describe_model(model)
    if available:
        return
    local = Path(resolve_model(model)).expanduser().exists()
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "")
    if local or offline:
        raise EditorUnavailableError(message)


def check_scene_data(params: dict[str, Any], dataset_dir: Path) -> None:
    """A masked or cropped edit needs a scene whose every view has a mask, a warped start one whose every
    view has depth (422 naming the field)."""
    from ..engine.dataset import (
        DEPTHS_MISSING,
        MASKS_MISSING,
        has_depths,
        has_masks,
        needs_masks,
        read_transforms,
    )

    region, crop = params.get("edit_region", "all"), bool(params.get("crop_to_mask", False))
    warp = bool(params.get("warp_start", False))
    if not needs_masks(region, crop) and not warp:
        return
    meta = read_transforms(dataset_dir)
    if needs_masks(region, crop) and not has_masks(meta):
        raise InvalidInputError(MASKS_MISSING, field="edit_region" if region == "masked" else "crop_to_mask")
    if warp and not has_depths(meta):
        raise InvalidInputError(DEPTHS_MISSING, field="warp_start")
