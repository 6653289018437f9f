"""The body of a job request from the panel's settings, and the settings' ranges. No bpy.

The ranges and defaults come from the one definition of the edit parameters, `EditParams` in the shared
protocol (in2n_protocol/edit_params.py). The model-tuned parameters (guidance, image guidance, the
highest start noise, the edit rate: those whose default is None) are left out unless the artist overrides
them, so the server's model's recommended values apply (the bundled demo editor wants others than IP2P's).

*Edit Selected Objects Only* (on by default) makes a capture of the selected objects include their masks, and
a job on such a scene asks for a local edit (`edit_region: "masked"`, `crop_to_mask: true`); off, or with
nothing selected, the job sends neither and the server's defaults (edit everything) apply.
"""

from __future__ import annotations

from typing import Any

from .protocol import edit_params

EDIT_PARAMS = edit_params.wire_table()  # numeric job fields: default, min, max, fallback
EDIT_SWITCHES = edit_params.wire_switches()  # on/off job fields: default

# Panel settings sent as they are (each a JobCreate field of the same name).
SENT_AS_IS = (
    "tier",
    "schedule",
    "edit_count",
    "anneal",
    "anneal_to",
    "scale_steps",
    "warp_start",
    "grow_margin",
    "diffusion_steps",
    "seed",
    "base_iterations",
    "edit_iterations",
)
# Sent only with *Override Model Settings*: the fields whose default is "the model's recommended value".
MODEL_TUNED = tuple(name for name, entry in EDIT_PARAMS.items() if entry["default"] is None)
CAPTURED_SOURCES = ("RIG", "CAMERAS")  # sources the extension renders itself (masks are possible)
LOCAL_EDIT = {"edit_region": "masked", "crop_to_mask": True}


def property_range(name: str) -> dict[str, Any]:
    """`default`, `min`, `max` keyword arguments for the Blender property of edit parameter `name`.

    A parameter whose default is "the model's recommended value" (None) shows IP2P's value, used only when
    the artist overrides it. An on/off parameter gets only its `default`.
    """
    if name in EDIT_SWITCHES:
        return {"default": EDIT_SWITCHES[name]}
    entry = EDIT_PARAMS[name]
    value = entry["default"] if entry["default"] is not None else entry["fallback"]
    return {"default": value, "min": entry["min"], "max": entry["max"]}


def capture_masks(settings: Any, has_targets: bool) -> bool:
    """Whether a capture renders masks of the selected objects: asked for, or needed by a local edit."""
    if settings.with_masks:
        return True
    return bool(settings.edit_selected_only and has_targets and settings.source in CAPTURED_SOURCES)


def job_body(
    settings: Any,
    scene_id: str,
    *,
    exact_cameras: bool,
    base_job_id: str | None = None,
    scene_masked: bool = False,
) -> dict[str, Any]:
    """A JobCreate body from the panel's settings (any object with the settings' attributes).

    `exact_cameras` (Blender renders) freezes the poses: refining them would only move the result off the
    source objects. `base_job_id` continues from that finished job's edited images. `scene_masked`: the
    scene was captured with masks of the selected objects; with *Edit Selected Objects Only* on, the edit
    then stays inside them (LOCAL_EDIT).
    """
    body: dict[str, Any] = {"scene_id": scene_id, "instruction": settings.instruction.strip()}
    body.update({name: getattr(settings, name) for name in SENT_AS_IS})
    if settings.override_model_settings:
        body.update({name: getattr(settings, name) for name in MODEL_TUNED})
    body["optimize_cameras"] = not exact_cameras
    if settings.edit_selected_only and scene_masked:
        body.update(LOCAL_EDIT)
    if base_job_id:
        body["base_job_id"] = base_job_id
        body["continue_from_edit"] = True
    return body
