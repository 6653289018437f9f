"""Request and response bodies, named by direction (`JobCreate` comes in, `JobPublic` goes out)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from in2n_protocol import edit_params
from in2n_protocol.wire import (
    EXPORT_FORMATS,
    EXPORT_KINDS,
    EXPORT_PARAMS,
    JOB_STATES,
    PHASES,
    PREVIEW_MAX_SIDE,
    WireError,
    check_pose,
)

JobState = Literal[JOB_STATES]  # type: ignore[valid-type]
JobPhase = Literal[PHASES]  # type: ignore[valid-type]
ExportKind = Literal[EXPORT_KINDS]  # type: ignore[valid-type]
ExportFormat = Literal[tuple(dict.fromkeys(f for fs in EXPORT_FORMATS.values() for f in fs))]  # type: ignore[valid-type]


def edit_param_fields() -> dict[str, tuple[Any, Any]]:
    """`create_model` arguments of EditParams' job-scope fields: type, default, bounds, docstring."""
    docs = edit_params.field_docs()
    fields: dict[str, tuple[Any, Any]] = {}
    for f in edit_params.params_fields(edit_params.JOB):
        bounds = {k: v for k, v in f.metadata.items() if k in ("ge", "le", "min_length", "max_length")}
        inner, optional = edit_params.unwrap_optional(edit_params.field_types()[f.name])
        annotation = Annotated[inner, Field(**bounds)] if bounds else inner
        if optional:
            annotation = annotation | None
        default_value = ... if f.default is dataclasses.MISSING else f.default
        fields[f.name] = (annotation, Field(default_value, description=docs[f.name]))
    return fields


class Strict(BaseModel):
    """Unknown fields are errors (a typo in a parameter name should not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Camera(Strict):
    """A pinhole camera in transforms.json form, in the scene's own world frame (OpenGL axes)."""

    fl_x: float = Field(gt=0, le=1e6, description="focal length in pixels (x)")
    fl_y: float = Field(gt=0, le=1e6, description="focal length in pixels (y)")
    cx: float = Field(ge=-1e6, le=1e6, description="principal point x in pixels (pixel centres at +0.5)")
    cy: float = Field(ge=-1e6, le=1e6, description="principal point y in pixels")
    w: int = Field(gt=0, le=8192, description="image width in pixels")
    h: int = Field(gt=0, le=8192, description="image height in pixels")
    transform_matrix: list[list[float]] = Field(
        description="4x4 camera-to-world, rigid, OpenGL convention (looks down -Z, +Y up)",
        min_length=4,
        max_length=4,
    )

    @field_validator("transform_matrix")
    @classmethod
    def _rigid(cls, value: list[list[float]]) -> list[list[float]]:
        try:
            return check_pose(value, "transform_matrix")
        except WireError as error:
            raise ValueError(error.message) from error


class CameraPublic(BaseModel):
    fl_x: float
    fl_y: float
    cx: float
    cy: float
    w: int
    h: int
    transform_matrix: list[list[float]]
    file_path: str


class SceneSummary(BaseModel):
    scene_id: str
    num_images: int
    width: int
    height: int
    created_at: str


class ScenePublic(SceneSummary):
    cameras: list[CameraPublic]
    source: str


class ScenePathCreate(Strict):
    path: str = Field(min_length=1, max_length=4096, description="a nerfstudio dataset folder on the server")


class _JobFields(Strict):
    """The job's own fields; the edit parameters are added from `EditParams` (in2n_protocol)."""

    scene_id: str = Field(min_length=1, max_length=64)
    base_job_id: str | None = Field(
        None, max_length=64, description="reuse this finished job's reconstruction"
    )
    continue_from_edit: bool = Field(
        False, description="with base_job_id: its edited images become originals"
    )

    @model_validator(mode="after")
    def _consistent(self) -> _JobFields:
        upper = self.upper_bound  # type: ignore[attr-defined]
        if upper is not None and self.lower_bound >= upper:  # type: ignore[attr-defined]
            raise ValueError("lower_bound must be below upper_bound")
        if self.continue_from_edit and self.base_job_id is None:
            raise ValueError("continue_from_edit needs base_job_id")
        return self


JobCreate = create_model(
    "JobCreate",
    __base__=_JobFields,
    __doc__="An edit job on a scene; every field but `scene_id` and `instruction` is optional. "
    "Guidance values left out (or null) take the server model's recommended ones.",
    __module__=__name__,
    **edit_param_fields(),
)


class JobError(BaseModel):
    code: str
    message: str


class JobPublic(BaseModel):
    job_id: str
    scene_id: str
    state: JobState
    phase: JobPhase
    step: int
    total_steps: int
    progress: float = Field(description="0..1 of the whole job, counted from this job's own start")
    eta_seconds: float | None
    edits_done: int
    losses: dict[str, float]
    error: JobError | None
    message: str = Field("", description="a human-readable line about the current state")
    params: JobCreate
    created_at: str
    updated_at: str


def export_field(name: str) -> Any:
    """The pydantic field of an export parameter, from its one definition (`wire.EXPORT_PARAMS`)."""
    param = EXPORT_PARAMS[name]
    return Field(param.default, ge=param.min, le=param.max, description=param.doc)


class PreviewRequest(Strict):
    camera: Camera
    width: int | None = Field(
        None, ge=1, le=PREVIEW_MAX_SIDE, description="resample the camera to this width"
    )
    height: int | None = Field(
        None, ge=1, le=PREVIEW_MAX_SIDE, description="resample the camera to this height"
    )


class ExportRequest(Strict):
    kind: ExportKind = "point_cloud"
    format: ExportFormat = "ply"
    num_points: int = export_field("num_points")
    resolution: int = export_field("resolution")
    crop: bool = Field(
        True,
        description="keep only geometry inside the scene's bounds (unknown: the sphere the cameras surround)",
    )
    masked_only: bool = Field(
        False, description="keep only geometry the views' masks cover: the edited objects (needs masks)"
    )
    sh_degree: int = export_field("sh_degree")
    refine_steps: int = export_field("refine_steps")
    texture_size: int = export_field("texture_size")
    faces: int = export_field("faces")
    vertex_colors: bool = Field(
        False,
        description="mesh as GLB or OBJ: vertex colours instead of a UV-mapped texture (PLY always has them)",
    )

    @model_validator(mode="after")
    def _format_fits_kind(self) -> ExportRequest:
        if self.format not in EXPORT_FORMATS[self.kind]:
            raise ValueError(f"a {self.kind} exports as {' or '.join(EXPORT_FORMATS[self.kind])}")
        return self


class EditorHealth(BaseModel):
    model: str
    available: bool
    message: str


class HealthPublic(BaseModel):
    api_version: int
    server_version: str
    device: str
    device_name: str
    editor: EditorHealth
    tiers: list[str]


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error statuses a route can answer."""
    return {status: {"model": ErrorBody} for status in statuses}
