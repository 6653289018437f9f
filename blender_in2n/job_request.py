"""The body of a job request from the panel's settings, and the settings' ranges. No bpy.

The ranges and defaults come from `wire.EDIT_PARAMS`, the table generated from the server's one definition
of the edit parameters (server/edit_params.py). Guidance is left out unless the artist overrides it, so the
server's model's recommended values apply (the bundled demo editor wants others than InstructPix2Pix).
"""

from __future__ import annotations

from typing import Any

from . import wire

# Panel settings sent as they are (each a JobCreate field of the same name).
SENT_AS_IS = ("tier", "diffusion_steps", "seed", "base_iterations", "edit_iterations", "edit_rate")
GUIDANCE = ("guidance_scale", "image_guidance_scale")


def property_range(name: str) -> dict[str, Any]:
    """`default`, `min`, `max` keyword arguments for the Blender property of edit parameter `name`.

    A parameter whose default is "the model's recommended value" (None) shows IP2P's value, used only when
    the artist overrides it.
    """
    entry = wire.EDIT_PARAMS[name]
    value = entry["default"] if entry["default"] is not None else entry["fallback"]
    return {"default": value, "min": entry["min"], "max": entry["max"]}


def job_body(
    settings: Any,
    scene_id: str,
    *,
    exact_cameras: bool,
    base_job_id: str | None = None,
) -> dict[str, Any]:
    """A JobCreate body from the panel's settings (any object with the settings' attributes).

    `exact_cameras` (Blender renders) freezes the poses: refining them would only move the result off the
    source objects. `base_job_id` continues from that finished job's edited images.
    """
    body: dict[str, Any] = {"scene_id": scene_id, "instruction": settings.instruction.strip()}
    body.update({name: getattr(settings, name) for name in SENT_AS_IS})
    if settings.override_guidance:
        body.update({name: float(getattr(settings, name)) for name in GUIDANCE})
    body["optimize_cameras"] = not exact_cameras
    if base_job_id:
        body["base_job_id"] = base_job_id
        body["continue_from_edit"] = True
    return body
