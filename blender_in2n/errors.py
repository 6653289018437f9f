"""The extension's own errors that the operators report to the artist (no bpy)."""

from __future__ import annotations


class CaptureError(ValueError):
    """The scene cannot be captured as asked (no cameras, nothing selected, ...)."""
