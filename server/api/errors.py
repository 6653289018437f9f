"""The one place where errors become HTTP answers: `{"error": {"code", "message", "field"}}`, no traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..editor.loading import EditorUnavailableError
from ..export.errors import MasksMissingError, NothingToExportError, SurfacesMissingError
from ..jobs import errors

log = logging.getLogger(__name__)

STATUS_OF: dict[type[errors.ServerError], tuple[int, str]] = {
    errors.BadRequestError: (400, "bad_request"),
    errors.ForbiddenError: (403, "forbidden"),
    errors.NotFoundError: (404, "not_found"),
    errors.ConflictError: (409, "conflict"),
    errors.TooLargeError: (413, "too_large"),
    errors.InvalidInputError: (422, "validation_error"),
}
# Errors of the layers below, raised where they happen (they know nothing of HTTP): status, code, field.
STATUS_OF_DOMAIN: dict[type[Exception], tuple[int, str, str | None]] = {
    NothingToExportError: (409, "conflict", None),
    MasksMissingError: (422, "validation_error", "masked_only"),
    SurfacesMissingError: (422, "validation_error", "kind"),
    EditorUnavailableError: (503, "editor_unavailable", "model"),
}
CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation_error",
    503: "editor_unavailable",
}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """Pydantic's location `("body", "camera", "transform_matrix", 3)` as `camera.transform_matrix[3]`."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part not in ("function-after",) and not str(part).startswith(("function-", "literal[")):
            text += f".{part}" if text else str(part)
    return text or None


def _domain_handler(status: int, code: str, field: str | None) -> Any:
    async def handle(request: Request, error: Exception) -> JSONResponse:
        return error_response(status, code, str(error), field)

    return handle


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.ServerError)
    async def _domain(request: Request, error: errors.ServerError) -> JSONResponse:
        status, code = STATUS_OF.get(type(error), (500, "internal_error"))
        return error_response(status, code, error.message, error.field)

    for error_class, (status, code, field) in STATUS_OF_DOMAIN.items():
        app.add_exception_handler(error_class, _domain_handler(status, code, field))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        if not problems:
            return error_response(422, "validation_error", "invalid request")
        first = problems[0]
        if first.get("type") == "json_invalid":
            return error_response(400, "bad_request", f"body is not valid JSON: {first.get('msg', '')}")
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        field = field_path(first.get("loc", ()))
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
        return error_response(422, "validation_error", f"{field}: {message}" if field else message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = CODE_OF_STATUS.get(
            error.status_code, "internal_error" if error.status_code >= 500 else "bad_request"
        )
        message = error.detail if isinstance(error.detail, str) else "request failed"
        response = error_response(error.status_code, code, message)
        for key, value in (error.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error (details are in the server log)")
