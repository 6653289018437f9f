"""The wire protocol shared by the Blender extension and the server (docs/protocol.md).

Standard library only: Blender imports this without torch (a copy inside the extension zip), and the server
imports it without bpy.
Everything that both sides must agree on (versions, routes, names, camera shape) is defined here once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

API_VERSION = 1
API_PREFIX = f"/v{API_VERSION}"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
TOKEN_HEADER = "Authorization"  # value: "Bearer <token>"
TOKEN_ENV = "IN2N_TOKEN"

# Tiers, lightest last; "in2n-cpu" is the preset small enough for CPU tests and demos.
TIERS = ("in2n", "in2n-small", "in2n-tiny", "in2n-cpu")
DEFAULT_TIER = "in2n"

# Job lifecycle: queued -> running -> completed | failed | cancelled; cancelled and failed ones resume.
QUEUED, RUNNING, CANCELLED, FAILED, COMPLETED = "queued", "running", "cancelled", "failed", "completed"
JOB_STATES = (QUEUED, RUNNING, CANCELLED, FAILED, COMPLETED)
ACTIVE_STATES = (QUEUED, RUNNING)  # the job holds its scene (and its base job) until it leaves these
RESUMABLE_STATES = (CANCELLED, FAILED)
FINAL_STATES = (CANCELLED, FAILED, COMPLETED)
PHASES = (QUEUED, "base", "edit", "done")  # a job's phase; an engine session is in one of the last three
ENGINE_PHASES = PHASES[1:]

# Edit schedules: "rolling" (the original in2n), "sweep" (Instruct-GS2GS), "once" (a baseline).
# Which views the Iterative Dataset Update edits when (server/engine/schedule.py), with the panel's help text.
SCHEDULE_HELP = {
    "rolling": "One view every few NeRF steps, in random order (the original in2n)",
    "sweep": "Every view at once, every few thousand steps (Instruct-GS2GS)",
    "once": "Every view once, then train on the edits (fastest, least consistent)",
}
SCHEDULES = tuple(SCHEDULE_HELP)
DEFAULT_SCHEDULE = "rolling"
# Where an edit may change the scene: every pixel, or only the dataset's masks (the selected objects).
EDIT_REGIONS = ("all", "masked")
DEFAULT_EDIT_REGION = "all"

# Server-Sent Event kinds (the SSE `event:` field); `data:` is always one JSON object.
EVENT_STATE = "state"  # {"state", "phase", "message"}
EVENT_PROGRESS = "progress"  # {"phase", "step", "total_steps", "progress", "eta_seconds", "losses"}
EVENT_EDIT = "edit"  # {"image_index", "edits_done", "url"}
EVENT_PREVIEW = "preview"  # {"step"}: a preview render at this step is available
EVENT_ERROR = "error"  # {"code", "message"}
EVENT_DONE = "done"  # {"state"}: the job reached a final state; the stream ends after it
EVENT_KINDS = (EVENT_STATE, EVENT_PROGRESS, EVENT_EDIT, EVENT_PREVIEW, EVENT_ERROR, EVENT_DONE)

EXPORT_KINDS = ("point_cloud", "mesh", "splats", "textures")
# mesh: glb (texture embedded), obj (a zip of OBJ + MTL + PNG), ply (vertex colours); textures: a zip of
# one PNG per object of the scene's surfaces and a manifest (docs/protocol.md, Export).
EXPORT_FORMATS = {
    "point_cloud": ("ply",),
    "mesh": ("ply", "obj", "glb"),
    "splats": ("ply",),
    "textures": ("zip",),
}


@dataclass(frozen=True)
class Bounded:
    """A whole-number request parameter: its default, its bounds and what it means (the API's schema, the
    client's defaults and the panel's property range all read it from here)."""

    default: int
    min: int
    max: int
    doc: str


EXPORT_PARAMS = {
    "num_points": Bounded(200_000, 1, 10_000_000, "point cloud and splats: points (Gaussians) to keep"),
    "resolution": Bounded(128, 16, 256, "mesh: voxels along the longest side"),
    "sh_degree": Bounded(
        3, 0, 3, "splats: spherical-harmonics degree (0: colour only; 1..3 add view-dependent colour)"
    ),
    "refine_steps": Bounded(
        300, 0, 10_000, "splats: steps of optimising them against the NeRF's renders (0: placed only)"
    ),
    "texture_size": Bounded(1024, 64, 4096, "textures and textured meshes: texels along each side"),
    "faces": Bounded(200_000, 100, 5_000_000, "mesh: at most this many triangles (quadric decimation)"),
}
SURFACES_KEY = "in2n_surfaces"  # transforms.json's key naming the capture's surfaces file
SURFACES_FILE = "surfaces.npz"
LIGHT_KEY = "light_path"  # a frame's key naming its light map
SURFACES_MAX_OBJECTS = 64  # objects a capture's surfaces may hold (docs/protocol.md, Surfaces)
SURFACES_MAX_TRIANGLES = 4_000_000  # in all objects together (about 190 MB of float32 corners)
SURFACES_MAX_NAME = 63  # characters of an object's name (Blender's limit)
PREVIEW_MAX_SIDE = 1024  # px: the most a preview render may have along either side (aspect kept)
PREVIEW_SIDE = Bounded(256, 16, PREVIEW_MAX_SIDE, "longer side of a preview render, px")

CAMERA_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "transform_matrix")


class WireError(ValueError):
    """A message that does not follow the protocol; `field` names the offending part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_camera(camera: Mapping[str, Any], field: str = "camera") -> dict[str, Any]:
    """Validate one camera in transforms.json form and return a clean copy.

    Intrinsics in pixels (`fl_x`, `fl_y`, `cx`, `cy`, `w`, `h`) and a 4x4 camera-to-world
    `transform_matrix` in the OpenGL convention (camera looks down -Z, +Y up), as Blender's
    `matrix_world` without scale.
    """
    if not isinstance(camera, Mapping):
        raise WireError(field, f"expected an object, got {type(camera).__name__}")
    missing = [key for key in CAMERA_KEYS if key not in camera]
    if missing:
        raise WireError(field, f"missing {', '.join(missing)}")
    clean: dict[str, Any] = {}
    for key in ("fl_x", "fl_y", "cx", "cy"):
        clean[key] = _finite_number(camera[key], f"{field}.{key}")
    for key in ("w", "h"):
        value = camera[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise WireError(f"{field}.{key}", f"expected a positive integer, got {value!r}")
        clean[key] = value
    if clean["fl_x"] <= 0 or clean["fl_y"] <= 0:
        raise WireError(f"{field}.fl_x", "focal lengths must be positive")
    clean["transform_matrix"] = check_pose(camera["transform_matrix"], f"{field}.transform_matrix")
    return clean


def check_pose(matrix: Any, field: str = "transform_matrix") -> list[list[float]]:
    """A 4x4 rigid camera-to-world matrix: finite, last row (0, 0, 0, 1), rotation orthonormal."""
    if not isinstance(matrix, Sequence) or len(matrix) != 4:
        raise WireError(field, "expected a 4x4 list of lists")
    rows: list[list[float]] = []
    for i, row in enumerate(matrix):
        if not isinstance(row, Sequence) or len(row) != 4:
            raise WireError(field, f"row {i} must have 4 numbers")
        rows.append([_finite_number(v, f"{field}[{i}]") for v in row])
    if any(abs(a - b) > 1e-4 for a, b in zip(rows[3], (0.0, 0.0, 0.0, 1.0), strict=True)):
        raise WireError(field, "last row must be [0, 0, 0, 1]")
    rot = [r[:3] for r in rows[:3]]
    for i in range(3):
        for j in range(3):
            dot = sum(rot[k][i] * rot[k][j] for k in range(3))
            if abs(dot - (1.0 if i == j else 0.0)) > 1e-3:
                raise WireError(field, "rotation part must be orthonormal (remove scale; no shear)")
    det = (
        rot[0][0] * (rot[1][1] * rot[2][2] - rot[1][2] * rot[2][1])
        - rot[0][1] * (rot[1][0] * rot[2][2] - rot[1][2] * rot[2][0])
        + rot[0][2] * (rot[1][0] * rot[2][1] - rot[1][1] * rot[2][0])
    )
    if det < 0:
        raise WireError(field, "rotation must not mirror (determinant is negative)")
    return rows


def _finite_number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WireError(field, f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise WireError(field, f"expected a finite number, got {value!r}")
    return float(value)


def route(*parts: str | int) -> str:
    """`route("jobs", job_id, "events")` -> "/v1/jobs/<id>/events"."""
    return API_PREFIX + "".join(f"/{part}" for part in parts)
