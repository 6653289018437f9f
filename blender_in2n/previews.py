"""Preview images from the server: one Blender image per purpose, updated in place.

Creating or packing an image per preview fills the file with datablocks and costs hundreds of milliseconds
(`pack()`); instead the same generated image is resized when needed and its pixels replaced with one
`foreach_set` of a contiguous float32 array. PNGs are decoded by Blender itself (a temporary file loaded
into a temporary image), since the standard library has no PNG decoder.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import bpy
import numpy as np

PREVIEW_IMAGE = "In2N Preview"
EDITED_IMAGE = "In2N Edited View"


class PreviewError(ValueError):
    """Image bytes that Blender cannot decode."""


def decode_png(data: bytes) -> tuple[int, int, np.ndarray]:
    """(width, height, float32 RGBA pixels bottom row first) of PNG bytes, decoded by Blender."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise PreviewError("the server's image is not a PNG")
    fd, path = tempfile.mkstemp(prefix="in2n-", suffix=".png")
    image = None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        image = bpy.data.images.load(path, check_existing=False)
        width, height = image.size
        if width == 0 or height == 0:
            raise PreviewError("the server's PNG could not be decoded")
        pixels = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(pixels)
        return width, height, pixels
    except RuntimeError as exc:
        raise PreviewError(f"the server's PNG could not be decoded: {exc}") from exc
    finally:
        if image is not None:
            bpy.data.images.remove(image)
        os.remove(path)


def update_image(name: str, width: int, height: int, pixels: np.ndarray) -> Any:
    """Write RGBA pixels into the generated image `name`, creating or resizing it only when needed."""
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    if pixels.size != width * height * 4:
        raise PreviewError(f"expected {width * height * 4} pixel values, got {pixels.size}")
    image = bpy.data.images.get(name)
    if image is not None and image.source != "GENERATED":
        image.name = f"{name} (old)"  # someone replaced it with a file image: keep theirs, make ours
        image = None
    if image is None:
        image = bpy.data.images.new(name, width, height, alpha=True)
    elif tuple(image.size) != (width, height):
        image.scale(width, height)
    image.pixels.foreach_set(pixels)
    image.update()
    return image


def show_png(name: str, data: bytes) -> Any:
    """Decode PNG bytes into the reused image `name` and return it."""
    width, height, pixels = decode_png(data)
    return update_image(name, width, height, pixels)


def show_in_image_editors(window_manager: Any, image: Any) -> None:
    """Point open Image Editors that show nothing, or one of our images, at `image`."""
    ours = {PREVIEW_IMAGE, EDITED_IMAGE}
    for window in window_manager.windows:
        for area in window.screen.areas:
            if area.type != "IMAGE_EDITOR":
                continue
            space = area.spaces.active
            if space.image is None or space.image.name in ours:
                space.image = image
            area.tag_redraw()


def set_camera_background(camera_object: Any, image: Any, alpha: float = 1.0) -> None:
    """Show `image` as the camera's background image (one slot, reused)."""
    if camera_object is None or camera_object.type != "CAMERA":
        return
    data = camera_object.data
    slot = next((bg for bg in data.background_images if bg.image == image), None)
    if slot is None:
        slot = data.background_images.new()
        slot.image = image
    slot.alpha = alpha
    slot.display_depth = "FRONT"
    data.show_background_images = True


def tag_redraw(window_manager: Any) -> None:
    for window in window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "IMAGE_EDITOR"}:
                area.tag_redraw()
