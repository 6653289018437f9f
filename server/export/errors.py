"""What an export can fail with; `api/errors.py` maps it to an HTTP status (export knows nothing of HTTP)."""

from __future__ import annotations


class NothingToExportError(RuntimeError):
    """The reconstruction has no surface to export yet (too early in training, or all of it cropped)."""


class MasksMissingError(ValueError):
    """`masked_only` on a scene whose views have no masks: nothing says what the edited objects are."""
