"""The nerfstudio pipeline config: EditParams' edit fields written out, and model defaults resolved once."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from in2n_protocol import edit_params
from in2n_server.editor import loading
from in2n_server.engine.pipeline import (
    DEFAULT_PROMPT,
    PIPELINE_FIELDS,
    In2NPipelineConfig,
    editor_settings,
    fill_unset_model_defaults,
)
from in2n_server.engine.types import EditParams

DEMO = loading.recommended_settings("demo")  # the bundled demo editor's in2n_recommended.json
OTHER = {"guidance_scale": 5.5, "image_guidance_scale": 1.1, "upper_bound": 0.7, "edit_rate": 7}


def _edit_values(source: object) -> dict[str, typing.Any]:
    """The pipeline's edit fields under EditParams' names, from a config or from EditParams."""
    return {
        name: getattr(source, name if isinstance(source, EditParams) else attr)
        for name, attr in PIPELINE_FIELDS.items()
        if name != "instruction"
    }


def test_the_config_declares_the_edit_fields_as_edit_params_does() -> None:
    """Same types, defaults and docstrings (ns-train's help), under the names PIPELINE_FIELDS gives them."""
    hints = typing.get_type_hints(In2NPipelineConfig)
    docs = edit_params.field_docs(In2NPipelineConfig)
    defaults = {f.name: f.default for f in dataclasses.fields(In2NPipelineConfig)}
    for name, attr in PIPELINE_FIELDS.items():
        assert hints[attr] == edit_params.field_types()[name], name
        assert docs[attr] == edit_params.field_docs()[name], name
        assert defaults[attr] == (DEFAULT_PROMPT if name == "instruction" else edit_params.default(name)), (
            name
        )
    assert {"ip2p_model", "ip2p_half_precision"} <= set(docs)  # the config's own fields have help too


@pytest.fixture
def model_asked(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Records every time the engine asks a model for its recommended settings; each model says OTHER."""
    asked: list[str | None] = []

    def recommended(model: str | None) -> dict[str, float]:
        asked.append(model)
        return dict(OTHER)

    monkeypatch.setattr(loading, "recommended_settings", recommended)
    return asked


def test_the_pipeline_keeps_a_sessions_resolved_numbers(model_asked: list[str | None]) -> None:
    """A session's values were resolved when it was created: the pipeline and its editor take them as they
    are, without asking the model again (which now recommends other values)."""
    params = EditParams(instruction="x", model="demo", edit_count=4, guidance_scale=3.0).with_model_defaults(
        DEMO
    )
    assert params.edit_rate == DEMO["edit_rate"] * 4  # the model's rate per view, for 4 views a call
    resolved = _edit_values(params)
    config = In2NPipelineConfig(ip2p_model="demo", **{PIPELINE_FIELDS[k]: v for k, v in resolved.items()})
    fill_unset_model_defaults(config)
    assert _edit_values(config) == resolved
    settings = editor_settings(config)
    assert {n: getattr(settings, n) for n in edit_params.EDITOR_FIELDS} == {
        n: resolved[n] for n in edit_params.EDITOR_FIELDS
    }
    assert model_asked == []


def test_ns_train_resolves_the_unset_values_from_the_model_once(model_asked: list[str | None]) -> None:
    """ns-train builds the pipeline from its own flags: there the pipeline fills what is unset."""
    config = In2NPipelineConfig(ip2p_model="demo", edit_count=3, guidance_scale=4.0)
    fill_unset_model_defaults(config)
    assert model_asked == ["demo"]
    assert config.guidance_scale == 4.0  # set on the command line: kept
    assert (config.image_guidance_scale, config.upper_bound) == (
        OTHER["image_guidance_scale"],
        OTHER["upper_bound"],
    )
    assert config.edit_rate == OTHER["edit_rate"] * 3
    assert editor_settings(config).guidance_scale == 4.0
    fill_unset_model_defaults(config)  # resolved now: not again
    assert model_asked == ["demo"]


def test_an_unresolved_value_never_reaches_the_editor_as_a_silent_default() -> None:
    with pytest.raises(ValueError, match="guidance_scale is unset"):
        editor_settings(In2NPipelineConfig())
