"""The edit parameters, defined once: `EditParams`. Everything else that names them derives from it.

- the API's `JobCreate` (server/api/schemas.py), with these defaults, bounds and docstrings;
- `in2n-edit` (engine/cli.py): `add_arguments()`, one option per field;
- the nerfstudio pipeline config and the editor's settings (engine/session.py, engine/pipeline.py):
  `PIPELINE_FIELDS` and `EDITOR_FIELDS` say which fields they take;
- the Blender extension's property ranges: `wire_table()` and `wire_switches()` (the extension carries
  this module in its zip: blender_in2n/protocol.py).

Each field has a one-line docstring under it (read with `field_docs`, as nerfstudio's configs are read by
tyro) and its bounds as field metadata (`ge`, `le`, `min_length`, `max_length`). Standard library only.
A `None` value of a *model-tuned* field (guidance, image guidance, the highest start noise, the edit rate:
the fields with a `fallback`) means "the editor model's recommended value, else the fallback"
(`with_model_defaults`).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import textwrap
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import wire

Tier = Literal[wire.TIERS]  # type: ignore[valid-type]
Schedule = Literal[wire.SCHEDULES]  # type: ignore[valid-type]
EditRegion = Literal[wire.EDIT_REGIONS]  # type: ignore[valid-type]
JOINT_ATTENTION_MODES = ("off", "anchor", "all")  # editor/joint_attention.py; not on the wire (no panel)
JointAttention = Literal[JOINT_ATTENTION_MODES]  # type: ignore[valid-type]

JOB = "job"  # a field a job sets (in JobCreate)
SERVER = "server"  # a field the server sets from its own flags (in2n-server --model, --max-image-size)


def _param(default: Any, *, scope: str = JOB, fallback: Any = None, **bounds: Any) -> Any:
    metadata = {"scope": scope, **bounds}
    if fallback is not None:
        metadata["fallback"] = fallback
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class EditParams:
    """Everything a user can set for one edit job (the defaults are the original in2n's)."""

    instruction: str = field(metadata={"scope": JOB, "min_length": 1, "max_length": 1000})
    """What to change, e.g. "make it look like autumn"."""
    tier: Tier = _param(wire.DEFAULT_TIER)
    """Quality/memory preset: in2n (24 GB GPU), in2n-small, in2n-tiny, in2n-cpu (tests, demos)."""
    guidance_scale: float | None = _param(None, ge=0.0, le=50.0, fallback=7.5)
    """Text guidance: how strongly to follow the instruction (unset: the model's recommended value)."""
    image_guidance_scale: float | None = _param(None, ge=0.0, le=50.0, fallback=1.5)
    """Image guidance: how closely to keep the original view (unset: the model's recommended value)."""
    diffusion_steps: int = _param(20, ge=1, le=200)
    """DDIM steps per edit."""
    lower_bound: float = _param(0.02, ge=0.0, le=1.0)
    """Lowest noise level an edit starts from, as a fraction of the 1000-step schedule."""
    upper_bound: float | None = _param(None, ge=0.0, le=1.0, fallback=0.98)
    """Highest noise level an edit starts from, above lower_bound (unset: the model's recommended value)."""
    seed: int = _param(0, ge=0, le=2**31 - 1)
    """Seeds the view order and the editor's noise."""
    base_iterations: int = _param(3000, ge=0, le=1_000_000)
    """NeRF steps on the original views before editing (skipped when starting from a base job)."""
    edit_iterations: int = _param(15000, ge=0, le=1_000_000)
    """NeRF steps of the Iterative Dataset Update."""
    edit_rate: int | None = _param(None, ge=1, le=100_000, fallback=10)
    """NeRF steps between edit steps, rolling (unset: the model's recommended value times edit_count)."""
    edit_count: int = _param(1, ge=1, le=1000)
    """Views edited at each edit step (rolling schedule), in one batched editor call."""
    joint_attention: JointAttention = _param("off")
    """Views of one batched call attend to each other: off; anchor (to the call's first view); all."""
    schedule: Schedule = _param(wire.DEFAULT_SCHEDULE)
    """rolling: the original's; sweep: every view every sweep_every steps; once: edit all, then train."""
    sweep_every: int = _param(2500, ge=1, le=1_000_000)
    """NeRF steps between whole-dataset edits (sweep schedule)."""
    anneal: bool = _param(False)
    """Lower the highest start noise over the edit phase, from upper_bound down to anneal_to."""
    anneal_to: float = _param(0.5, ge=0.0, le=1.0)
    """Highest start noise at the end of the edit phase when annealing (at least lower_bound)."""
    scale_steps: bool = _param(False)
    """Fewer DDIM steps for less noise: every edit keeps the step size of one from upper_bound."""
    warp_start: bool = _param(False)
    """Start each edit from the nearest edited view's latest edit, warped through the depth maps."""
    optimize_cameras: bool = _param(True)
    """Refine the camera poses; off for exact cameras such as Blender renders."""
    edit_region: EditRegion = _param(wire.DEFAULT_EDIT_REGION)
    """all: the instruction may change every pixel; masked: only the scene's masks (the selected objects)."""
    crop_to_mask: bool = _param(False)
    """Edit a square around each view's mask at the editor's working size, pasted back (needs masks)."""
    max_image_size: int = _param(512, scope=SERVER, ge=8, le=8192)
    """Longer image side after downscaling, in pixels (IP2P slows and runs out of memory above 512)."""
    model: str | None = _param(None, scope=SERVER)
    """InstructPix2Pix hub id, local pipeline directory or a bundled name ("demo"); unset: the default."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_bounds(f.name, getattr(self, f.name))
        if self.tier not in wire.TIERS:
            raise ValueError(f"tier: choose one of {', '.join(wire.TIERS)}, got {self.tier!r}")
        if self.schedule not in wire.SCHEDULES:
            raise ValueError(f"schedule: choose one of {', '.join(wire.SCHEDULES)}, got {self.schedule!r}")
        if self.edit_region not in wire.EDIT_REGIONS:
            raise ValueError(
                f"edit_region: choose one of {', '.join(wire.EDIT_REGIONS)}, got {self.edit_region!r}"
            )
        if self.joint_attention not in JOINT_ATTENTION_MODES:
            modes = ", ".join(JOINT_ATTENTION_MODES)
            raise ValueError(f"joint_attention: choose one of {modes}, got {self.joint_attention!r}")
        if self.upper_bound is not None and self.lower_bound >= self.upper_bound:
            raise ValueError("lower_bound must be below upper_bound")
        if self.anneal and self.anneal_to < self.lower_bound:
            raise ValueError("anneal_to must be at least lower_bound")

    def with_model_defaults(self, recommended: Mapping[str, Any]) -> EditParams:
        """Every unset model-tuned field filled: the model's recommended value, else the fallback."""
        return dataclasses.replace(self, **resolve_model_defaults(self.to_dict(), recommended))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EditParams:
        """From a job's or a session's params; keys that are not edit parameters are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# What the nerfstudio pipeline config takes, under its own names (ns-train's `--pipeline.prompt`).
PIPELINE_FIELDS = {
    "instruction": "prompt",
    "guidance_scale": "guidance_scale",
    "image_guidance_scale": "image_guidance_scale",
    "diffusion_steps": "diffusion_steps",
    "lower_bound": "lower_bound",
    "upper_bound": "upper_bound",
    "edit_iterations": "edit_iterations",
    "edit_rate": "edit_rate",
    "edit_count": "edit_count",
    "joint_attention": "joint_attention",
    "schedule": "schedule",
    "sweep_every": "sweep_every",
    "anneal": "anneal",
    "anneal_to": "anneal_to",
    "scale_steps": "scale_steps",
    "warp_start": "warp_start",
    "seed": "seed",
    "edit_region": "edit_region",
    "crop_to_mask": "crop_to_mask",
}
# What one edit call needs (editor/ip2p.py EditSettings).
EDITOR_FIELDS = (
    "guidance_scale",
    "image_guidance_scale",
    "diffusion_steps",
    "lower_bound",
    "upper_bound",
    "scale_steps",
    "joint_attention",
)


def params_fields(scope: str | None = None) -> tuple[dataclasses.Field, ...]:
    return tuple(f for f in dataclasses.fields(EditParams) if scope is None or f.metadata["scope"] == scope)


@functools.cache
def field_docs(cls: type = EditParams) -> dict[str, str]:
    """The docstring under each field of a dataclass (what tyro shows as help)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


@functools.cache
def field_types() -> dict[str, Any]:
    return typing.get_type_hints(EditParams)


def default(name: str) -> Any:
    f = EditParams.__dataclass_fields__[name]
    return dataclasses.MISSING if f.default is dataclasses.MISSING else f.default


def check_bounds(name: str, value: Any) -> None:
    """Raise ValueError naming the field when `value` is outside its bounds (None is always allowed)."""
    meta = EditParams.__dataclass_fields__[name].metadata
    if value is None:
        return
    if "ge" in meta and value < meta["ge"]:
        raise ValueError(f"{name}: must be at least {meta['ge']}, got {value!r}")
    if "le" in meta and value > meta["le"]:
        raise ValueError(f"{name}: must be at most {meta['le']}, got {value!r}")
    if "min_length" in meta and len(value.strip()) < meta["min_length"]:
        raise ValueError(f"{name}: must not be empty")
    if "max_length" in meta and len(value) > meta["max_length"]:
        raise ValueError(f"{name}: at most {meta['max_length']} characters, got {len(value)}")


def model_tuned_fields() -> tuple[str, ...]:
    """Fields whose unset value means "the editor model's recommended value" (those with a fallback)."""
    return tuple(f.name for f in dataclasses.fields(EditParams) if "fallback" in f.metadata)


def batched_edit_rate(per_view_rate: int, edit_count: int) -> int:
    """NeRF steps between edit steps of `edit_count` views that edit each view as often as one view every
    `per_view_rate` steps: batching saves editor calls instead of multiplying the edits."""
    return per_view_rate * edit_count


def resolve_model_defaults(values: Mapping[str, Any], recommended: Mapping[str, Any]) -> dict[str, Any]:
    """The model-tuned fields to use: the ones set, else the model's recommended ones, else the fallbacks.

    An unset edit rate keeps the model's rate *per view* (`batched_edit_rate`).
    """
    resolved = {}
    for name in model_tuned_fields():
        value = values.get(name)
        if value is None:
            value = recommended.get(name, EditParams.__dataclass_fields__[name].metadata["fallback"])
            if name == "edit_rate":
                value = batched_edit_rate(value, int(values.get("edit_count") or 1))
        resolved[name] = value
    return resolved


def unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """`X | None` -> (X, True); anything else -> (annotation, False)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


# -- the command line -------------------------------------------------------------------------------------


def option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, aliases: Mapping[str, tuple[str, ...]] = {}) -> None:
    """One option per field, e.g. `--guidance-scale`; help, type, choices and bounds from the field.

    Every option defaults to None ("not given"), so `params_from_args` leaves the dataclass's own defaults
    in place; the help shows them.
    """
    docs = field_docs()
    for f in params_fields():
        inner, _ = unwrap_optional(field_types()[f.name])
        help_text = docs[f.name].replace("%", "%%")
        if f.default is not dataclasses.MISSING and f.default is not None:
            help_text += f" (default: {f.default})"
        names = (option_name(f.name), *aliases.get(f.name, ()))
        if inner is bool:
            parser.add_argument(*names, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif typing.get_origin(inner) is Literal:
            parser.add_argument(*names, choices=typing.get_args(inner), default=None, help=help_text)
        else:
            parser.add_argument(*names, type=_bounded(f.name, inner), default=None, help=help_text)


def _bounded(name: str, kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
            check_bounds(name, value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its error message
    return parse


def params_from_args(args: argparse.Namespace, **overrides: Any) -> EditParams:
    """EditParams from the options `add_arguments` added; options not given keep the defaults."""
    given = {
        f.name: getattr(args, f.name) for f in params_fields() if getattr(args, f.name, None) is not None
    }
    return EditParams(**{**given, **overrides})


# -- the Blender extension's table ------------------------------------------------------------------------


def wire_table() -> dict[str, dict[str, Any]]:
    """The numeric job fields: default, bounds, fallback: what the panel's properties take."""
    table = {}
    for f in params_fields(JOB):
        if "ge" not in f.metadata:
            continue
        entry = {"default": f.default, "min": f.metadata["ge"], "max": f.metadata["le"]}
        if "fallback" in f.metadata:
            entry["fallback"] = f.metadata["fallback"]
        table[f.name] = entry
    return table


def wire_switches() -> dict[str, bool]:
    """The on/off job fields and their defaults: the panel's checkboxes."""
    return {f.name: f.default for f in params_fields(JOB) if field_types()[f.name] is bool}
