"""Small pure pieces of the API: preview sizing, error field paths, loopback detection, settings checks."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from in2n_server.api.errors import field_path, install_error_handlers
from in2n_server.api.jobs import preview_size
from in2n_server.config import Settings, is_loopback_host
from in2n_server.editor.loading import EditorUnavailableError
from in2n_server.export.errors import MasksMissingError, NothingToExportError
from in2n_server.jobs.errors import ConflictError


@pytest.mark.parametrize(
    ("request_size", "expected"),
    [
        ((None, None), (64, 48)),
        ((256, None), (256, 192)),
        ((None, 96), (128, 96)),
        ((300, 100), (300, 100)),
        ((1024, None), (1024, 768)),
    ],
)
def test_preview_size(request_size: tuple, expected: tuple) -> None:
    assert preview_size(64, 48, *request_size) == expected


def test_preview_size_keeps_aspect_when_capped() -> None:
    assert preview_size(4000, 2000, None, None) == (1024, 512)


def test_field_paths_read_like_the_request() -> None:
    assert field_path(("body", "camera", "transform_matrix", 3)) == "camera.transform_matrix[3]"
    assert field_path(("body",)) is None
    assert field_path(("query", "after")) == "after"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.org", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_settings_refuse_unsafe_or_impossible_configurations(tmp_path) -> None:
    with pytest.raises(ValueError, match="without a token"):
        Settings(host="0.0.0.0", workspace=tmp_path).check()
    Settings(host="0.0.0.0", token="t", workspace=tmp_path).check()
    with pytest.raises(ValueError, match="not a directory"):
        Settings(workspace=tmp_path, allow_roots=[tmp_path / "missing"]).check()


@pytest.mark.parametrize(
    ("error", "status", "code", "field"),
    [
        (NothingToExportError("no surface yet"), 409, "conflict", None),
        (MasksMissingError("this scene has no masks"), 422, "validation_error", "masked_only"),
        (EditorUnavailableError("no weights here"), 503, "editor_unavailable", "model"),
        (ConflictError("busy", field="base_job_id"), 409, "conflict", "base_job_id"),
        (RuntimeError("secret detail"), 500, "internal_error", None),
    ],
)
def test_errors_of_every_layer_map_to_one_status(error: Exception, status: int, code: str, field) -> None:
    """Export and editor errors are their own classes; `api/errors.py` alone turns them into HTTP."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fail")
    def fail() -> None:
        raise error

    response = TestClient(app, raise_server_exceptions=False).get("/fail")
    assert response.status_code == status
    body = response.json()["error"]
    assert (body["code"], body["field"]) == (code, field)
    assert (str(error) in body["message"]) == (status != 500)  # a 500 never shows the exception


def test_export_and_preview_parameters_come_from_the_protocol() -> None:
    """The API's bounds and defaults, the client's defaults and the preview cap are the protocol's."""
    import inspect

    from blender_in2n.client import Client
    from in2n_protocol import wire
    from in2n_server.api.schemas import ExportRequest, PreviewRequest

    schema = ExportRequest.model_json_schema()["properties"]
    client_defaults = inspect.signature(Client.export).parameters
    for name, param in wire.EXPORT_PARAMS.items():
        field = schema[name]
        assert (field["default"], field["minimum"], field["maximum"]) == (param.default, param.min, param.max)
        assert field["description"] == param.doc
        assert client_defaults[name].default == param.default
    preview = PreviewRequest.model_json_schema()["properties"]
    for side in ("width", "height"):
        bounds = next(option for option in preview[side]["anyOf"] if option.get("type") == "integer")
        assert bounds["maximum"] == wire.PREVIEW_MAX_SIDE
    assert preview_size(4000, 2000, None, None)[0] == wire.PREVIEW_MAX_SIDE
