"""Domain errors of the server; `api/errors.py` maps each to one HTTP status, in one place."""

from __future__ import annotations


class ServerError(Exception):
    """Base: `field` names the offending part of the request when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInputError(ServerError):
    """The request is well-formed but a value is wrong (422)."""


class BadRequestError(ServerError):
    """The request cannot be parsed (malformed JSON, not multipart, ...) (400)."""


class NotFoundError(ServerError):
    """An unknown scene, job, image index or route (404)."""


class ConflictError(ServerError):
    """The request does not fit the job's or scene's current state (409)."""


class TooLargeError(ServerError):
    """An upload over the server's limits: bytes, image count or image size (413)."""


class ForbiddenError(ServerError):
    """A server-side path outside the allowed roots (403)."""
