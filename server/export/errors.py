"""What an export can fail with; `api/errors.py` maps it to an HTTP status (export knows nothing of HTTP)."""

from __future__ import annotations

NO_SURFACE_YET = "the reconstruction has no opaque surface to export yet; let it train longer"


class NothingToExportError(RuntimeError):
    """The reconstruction has no surface to export yet (too early in training, or all of it cropped)."""


class MasksMissingError(ValueError):
    """`masked_only` on a scene whose views have no masks: nothing says what the edited objects are."""


class SurfacesMissingError(ValueError):
    """A `textures` export of a scene that carries no surfaces (meshes with UV maps) to bake into."""
