"""The render settings a capture changes, and how they go back exactly as they were."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import CaptureError

# Restored in this order: each may reset the ones after it.
IMAGE_SETTINGS = ("media_type", "file_format", "color_mode", "color_depth", "exr_codec", "color_management")


class Overrides:
    """Scene settings changed for a capture, put back exactly as they were (also when a render fails).

    Each attribute is saved the first time it is changed, and restored in the order of those first changes
    (so `media_type` goes back before `file_format`, which it would otherwise reset).
    """

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []
        self._keys: set[tuple[int, str]] = set()

    def remember(self, owner: Any, attrs: Sequence[str]) -> None:
        """Save attributes now, to be restored in this order, whether or not they change later.

        For settings that depend on each other (setting `media_type` or `file_format` resets
        `color_depth`), so that they go back in an order Blender accepts.
        """
        for attr in attrs:
            key = (owner.as_pointer(), attr)
            if hasattr(owner, attr) and key not in self._keys:
                self._keys.add(key)
                self._saved.append((owner, attr, getattr(owner, attr)))

    def set(self, owner: Any, attr: str, value: Any) -> None:
        """Set `owner.attr`, remembering its first value; attributes this Blender lacks are skipped."""
        if not hasattr(owner, attr):
            return  # e.g. image_settings.media_type, new in Blender 5.0
        if getattr(owner, attr) == value:
            return  # nothing to change (and nothing to write on a linked, read-only object)
        key = (owner.as_pointer(), attr)
        if key not in self._keys:
            self._keys.add(key)
            self._saved.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, value)

    def restore(self) -> None:
        """Put every saved value back; one value that cannot be restored does not stop the others."""
        failed = []
        for owner, attr, value in self._saved:
            try:
                setattr(owner, attr, value)
            except (AttributeError, TypeError, ValueError, ReferenceError) as exc:
                failed.append(f"{attr}: {exc}")
        self._saved.clear()
        self._keys.clear()
        if failed:
            raise CaptureError("could not restore scene settings after the capture: " + "; ".join(failed))


def colour_settings(overrides: Overrides, scene: Any, transparent: bool) -> None:
    """8-bit PNG through the scene's own view transform; RGBA with a transparent film, unless opaque."""
    render = scene.render
    overrides.set(render, "film_transparent", transparent)
    settings = render.image_settings
    overrides.set(settings, "media_type", "IMAGE")
    overrides.set(settings, "file_format", "PNG")
    overrides.set(settings, "color_mode", "RGBA" if transparent else "RGB")
    overrides.set(settings, "color_depth", "8")
    overrides.set(settings, "color_management", "FOLLOW_SCENE")


def capture_size(resolution_x: int, resolution_y: int, max_size: int) -> tuple[int, int]:
    """Keep the scene's aspect with the longer side at `max_size`."""
    if resolution_x >= resolution_y:
        return max_size, max(1, round(max_size * resolution_y / resolution_x))
    return max(1, round(max_size * resolution_x / resolution_y)), max_size
