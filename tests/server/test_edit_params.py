"""One definition of the edit parameters (in2n_protocol/edit_params.py): API, CLI and extension agree."""

from __future__ import annotations

import dataclasses
import re
import types
import typing

import pytest

from blender_in2n import job_request
from in2n_protocol import edit_params, wire
from in2n_server.api.schemas import ExportRequest, JobCreate, JobPublic
from in2n_server.engine import cli

JOB_ONLY = {"scene_id", "base_job_id", "continue_from_edit"}  # the job's own fields, not edit parameters


def _schema() -> dict:
    return JobCreate.model_json_schema()["properties"]


def _bounds(prop: dict) -> tuple:
    """(minimum, maximum) of a JSON-schema property, optional (anyOf with null) or not."""
    inner = next((p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"), prop)
    return inner.get("minimum"), inner.get("maximum")


def test_the_extension_reads_the_one_definition() -> None:
    """The panel's tables are computed from EditParams (no copy to go stale): a field's bounds are its own."""
    assert edit_params.wire_switches() == job_request.EDIT_SWITCHES
    meta = edit_params.EditParams.__dataclass_fields__["edit_count"].metadata
    assert job_request.EDIT_PARAMS["edit_count"] == {"default": 1, "min": meta["ge"], "max": meta["le"]}
    assert job_request.EDIT_PARAMS["guidance_scale"]["fallback"] == 7.5
    assert "instruction" not in job_request.EDIT_PARAMS and "anneal" not in job_request.EDIT_PARAMS


def test_job_create_is_the_definitions_job_fields_with_their_defaults_bounds_and_docs() -> None:
    schema = _schema()
    job_fields = {f.name: f for f in edit_params.params_fields(edit_params.JOB)}
    assert set(JobCreate.model_fields) - JOB_ONLY == set(job_fields)
    docs = edit_params.field_docs()
    for name, f in job_fields.items():
        prop = schema[name]
        assert prop["description"] == docs[name]
        if f.default is not dataclasses.MISSING:
            assert JobCreate.model_fields[name].default == f.default, name
        if "ge" in f.metadata:
            assert _bounds(prop) == (f.metadata["ge"], f.metadata["le"]), name
    # the server's own settings are not a job's to choose
    assert not {f.name for f in edit_params.params_fields(edit_params.SERVER)} & set(JobCreate.model_fields)


def test_every_field_has_a_docstring() -> None:
    assert set(edit_params.field_docs()) == {f.name for f in dataclasses.fields(edit_params.EditParams)}


def _non_default(f: dataclasses.Field) -> typing.Any:
    """A valid value other than the default, for every kind of field."""
    hint = edit_params.field_types()[f.name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is typing.Literal:
        return next(v for v in typing.get_args(hint) if v != f.default)
    if hint is bool:
        return not f.default
    if hint is str:
        return "make it blue"
    if f.name == "lower_bound":
        return 0.1
    return f.metadata["le"] if hint is int else round(f.metadata["le"] / 2, 3)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def test_every_job_create_field_is_accepted_by_in2n_edit() -> None:
    fields = [f for f in edit_params.params_fields() if f.name in JobCreate.model_fields]
    argv, expected = [], {}
    for f in fields:
        value = _non_default(f)
        expected[f.name] = value
        if isinstance(value, bool):
            argv.append(_option(f.name) if value else "--no-" + f.name.replace("_", "-"))
        else:
            argv += [_option(f.name), str(value)]
    params = cli.parse_args(["data", *argv]).params()
    assert {name: getattr(params, name) for name in expected} == expected
    assert "--sweep-every" in argv
    # and the same body is a valid JobCreate
    JobCreate(scene_id="s-1", **expected)


def test_unset_cli_options_keep_the_definitions_defaults() -> None:
    command = cli.parse_args(["data", "-i", "make it blue", "--freeze-cameras"])
    params = command.params()
    assert params == edit_params.EditParams(instruction="make it blue", optimize_cameras=False)
    assert params.guidance_scale is None and params.image_guidance_scale is None
    assert cli.parse_args(["data", "-i", "x", "--no-optimize-cameras"]).params().optimize_cameras is False
    assert cli.parse_args(["data", "-i", "x"]).params().optimize_cameras is True


def test_in2n_edit_help_shows_every_option_with_its_docstring(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: the docstrings are not wrapped
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", capsys.readouterr().out).split())
    own = edit_params.field_docs(cli.EditCommand)
    assert {"demo", "resume", "load_dir", "continue_edit", "checkpoint_every", "freeze_cameras"} <= set(own)
    for name, doc in {**edit_params.field_docs(), **own}.items():
        if name != "data":  # the positional DATA
            assert _option(name) in text, name
        assert doc in text, (name, doc)
    assert "-i TEXT, --instruction TEXT" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "DATA and --instruction are required"),
        (["data"], "DATA and --instruction are required"),
        (["data", "-i", "x", "--anneal", "--anneal-to", "0.01", "--lower-bound", "0.3"], "anneal_to"),
        (["data", "-i", "x", "--lower-bound", "0.5", "--upper-bound", "0.4"], "lower_bound"),
    ],
)
def test_in2n_edit_refuses_a_bad_command_line_with_exit_code_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("in2n-edit: ") and message in err and "Traceback" not in err


@pytest.mark.parametrize("name", sorted(job_request.EDIT_PARAMS))
def test_one_range_everywhere(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """API bounds == the CLI's == the extension's property range (from wire) == the definition's."""
    meta = edit_params.EditParams.__dataclass_fields__[name].metadata
    low, high = meta["ge"], meta["le"]
    assert _bounds(_schema()[name]) == (low, high)
    prop = job_request.property_range(name)
    assert (prop["min"], prop["max"]) == (low, high)
    assert low <= prop["default"] <= high
    option = _option(name)
    kind = int if isinstance(high, int) else float
    for value in (low, high):  # parsed as given (cross-field rules aside, e.g. upper_bound 0.0)
        assert cli.parse_args(["data", "-i", "x", option, str(value)]).edit[name] == kind(value)
    step = 1 if kind is int else 0.5
    for value in (low - step, high + step):
        assert cli.main(["data", "-i", "x", option, str(value)]) == 2
        assert name in capsys.readouterr().err
        with pytest.raises(ValueError, match=name):
            JobCreate(scene_id="s", instruction="x", **{name: value}).model_dump()  # pydantic's error
        with pytest.raises(ValueError, match=name):
            edit_params.EditParams(instruction="x", **{name: value})


class _Settings:
    """Stands in for the panel's property group (job_body reads attributes only)."""

    def __init__(self, **overrides: typing.Any) -> None:
        self.instruction = " make it blue "
        self.override_model_settings = False
        self.edit_selected_only = True
        self.with_masks = False
        self.source = "RIG"
        choices = {"tier": wire.DEFAULT_TIER, "schedule": wire.DEFAULT_SCHEDULE}
        for name in (*job_request.SENT_AS_IS, *job_request.MODEL_TUNED):
            value = choices[name] if name in choices else job_request.property_range(name)["default"]
            setattr(self, name, value)
        self.__dict__.update(overrides)


def test_blender_sends_no_model_tuned_value_unless_the_artist_overrides_them() -> None:
    assert edit_params.model_tuned_fields() == job_request.MODEL_TUNED
    tuned = {"guidance_scale", "image_guidance_scale", "upper_bound", "edit_rate"}
    assert set(job_request.MODEL_TUNED) == tuned
    body = job_request.job_body(_Settings(guidance_scale=12.0, edit_rate=3), "s-1", exact_cameras=True)
    assert not set(job_request.MODEL_TUNED) & set(body)
    assert body["instruction"] == "make it blue" and body["optimize_cameras"] is False
    assert body["schedule"] == "rolling"
    job = JobCreate(**body)
    assert job.guidance_scale is None and job.upper_bound is None and job.edit_rate is None
    assert "guidance_scale" not in job.model_fields_set  # what lets the server apply its model's values

    body = job_request.job_body(
        _Settings(override_model_settings=True, guidance_scale=12.0, image_guidance_scale=2.0, edit_rate=3),
        "s-1",
        exact_cameras=False,
    )
    assert (body["guidance_scale"], body["image_guidance_scale"], body["edit_rate"]) == (12.0, 2.0, 3)
    assert body["upper_bound"] == 0.98
    assert body["optimize_cameras"] is True
    assert JobCreate(**body).guidance_scale == 12.0


def test_blender_continues_from_a_base_job() -> None:
    body = job_request.job_body(_Settings(), "s-1", exact_cameras=True, base_job_id="j-1")
    assert body["base_job_id"] == "j-1" and body["continue_from_edit"] is True
    JobCreate(**body)


def test_an_explicit_guidance_body_still_works() -> None:
    job = JobCreate(scene_id="s", instruction="x", guidance_scale=7.5, image_guidance_scale=1.5)
    assert (job.guidance_scale, job.image_guidance_scale) == (7.5, 1.5)


def test_unset_model_tuned_values_resolve_to_the_models_recommended_ones_else_ip2ps() -> None:
    from in2n_server.editor.loading import NAMED_MODELS, recommended_settings

    demo = recommended_settings("demo")
    assert demo and demo == recommended_settings(NAMED_MODELS["demo"])  # by name or by folder
    resolved = edit_params.resolve_model_defaults({}, demo)
    assert {k: resolved[k] for k in demo} == demo
    assert edit_params.resolve_model_defaults({"guidance_scale": 3.0}, demo)["guidance_scale"] == 3.0
    assert edit_params.resolve_model_defaults({}, recommended_settings(None)) == {
        "guidance_scale": 7.5,
        "image_guidance_scale": 1.5,
        "upper_bound": 0.98,
        "edit_rate": 10,
    }
    params = edit_params.EditParams(instruction="x").with_model_defaults(demo)
    assert all(getattr(params, name) is not None for name in edit_params.model_tuned_fields())


def test_batching_views_keeps_the_models_edit_rate_per_view_unless_the_rate_is_set() -> None:
    """Five views per call every 5 x the model's rate: a fifth of the calls, as many view edits."""
    demo = {"edit_rate": 5}
    batched = edit_params.EditParams(instruction="x", edit_count=5).with_model_defaults(demo)
    assert batched.edit_rate == 25
    explicit = edit_params.EditParams(instruction="x", edit_count=5, edit_rate=7).with_model_defaults(demo)
    assert explicit.edit_rate == 7
    assert edit_params.resolve_model_defaults({"edit_count": 3}, {})["edit_rate"] == 30  # IP2P's 10, x3


def _literal(prop: dict) -> tuple:
    return tuple(prop["enum"])


def test_schema_literals_are_the_wire_constants() -> None:
    assert _literal(_schema()["tier"]) == wire.TIERS
    assert _literal(_schema()["schedule"]) == wire.SCHEDULES
    public = JobPublic.model_json_schema()["properties"]
    assert _literal(public["state"]) == wire.JOB_STATES
    assert _literal(public["phase"]) == wire.PHASES
    export = ExportRequest.model_json_schema()["properties"]
    assert _literal(export["kind"]) == wire.EXPORT_KINDS
    assert set(_literal(export["format"])) == {f for fs in wire.EXPORT_FORMATS.values() for f in fs}


def test_blender_asks_for_a_local_edit_of_the_selected_objects_only_when_their_masks_were_captured() -> None:
    """'Edit Selected Objects Only' (on by default): masks captured, then edit_region masked + crop."""
    assert job_request.capture_masks(_Settings(), has_targets=True)  # forced, though Masks is off
    assert not job_request.capture_masks(_Settings(), has_targets=False)  # nothing selected
    assert not job_request.capture_masks(_Settings(edit_selected_only=False), has_targets=True)
    assert job_request.capture_masks(_Settings(edit_selected_only=False, with_masks=True), has_targets=True)
    assert not job_request.capture_masks(_Settings(source="SERVER_PATH"), has_targets=True)

    body = job_request.job_body(_Settings(), "s-1", exact_cameras=True, scene_masked=True)
    assert (body["edit_region"], body["crop_to_mask"]) == ("masked", True)
    job = JobCreate(**body)
    assert (job.edit_region, job.crop_to_mask) == ("masked", True)

    # off, or a scene without masks of the selection: neither is sent, the server's defaults apply
    for settings, masked in ((_Settings(edit_selected_only=False), True), (_Settings(), False)):
        body = job_request.job_body(settings, "s-1", exact_cameras=True, scene_masked=masked)
        assert "edit_region" not in body and "crop_to_mask" not in body
        job = JobCreate(**body)
        assert (job.edit_region, job.crop_to_mask) == (wire.DEFAULT_EDIT_REGION, False)
    assert job_request.LOCAL_EDIT["edit_region"] in wire.EDIT_REGIONS
