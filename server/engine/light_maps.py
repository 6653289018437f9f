"""Light maps a Blender capture carries per view: the light Cycles shaded each pixel with.

A `.npy` [H, W, 6] (docs/protocol.md, *Light maps*): channels 0-2 the diffuse light (DiffDir + DiffInd),
3-5 the glossy part of the colour (GlossCol x (GlossDir + GlossInd)), linear. The texture bake turns a lit
colour C back into the albedo Blender's lights expect as (C - glossy) / diffuse light. numpy and Pillow
only (the server's ingest checks them without torch).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from in2n_protocol.wire import LIGHT_KEY

__all__ = ["LIGHT_KEY", "LightMapError", "read_light_map", "resize_light_map"]

CHANNELS = 6
DIFFUSE = slice(0, 3)
GLOSSY = slice(3, 6)
MAX_SIDE = 16384


class LightMapError(ValueError):
    """A light map that breaks a rule; the message says which."""


def read_light_map(source: Path | BinaryIO, name: str = "light map") -> np.ndarray:
    """The light map as float32 [H, W, 6], validated (finite, non-negative)."""
    data = Path(source).read_bytes() if isinstance(source, Path) else source.read()
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise LightMapError(f"{name}: not a readable .npy array ({error})") from error
    if (
        array.ndim != 3
        or array.shape[2] != CHANNELS
        or min(array.shape[:2]) < 1
        or max(array.shape) > MAX_SIDE
    ):
        raise LightMapError(f"{name}: expected a [H, W, {CHANNELS}] array, got shape {array.shape}")
    if array.dtype not in (np.float16, np.float32, np.float64):
        raise LightMapError(f"{name}: expected float16/float32/float64, got {array.dtype}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all() or (array < 0).any():
        raise LightMapError(f"{name}: light must be finite and non-negative")
    return array


def light_map_size(source: Path | BinaryIO, name: str = "light map") -> tuple[int, int]:
    """(width, height), as images report their size."""
    height, width, _ = read_light_map(source, name).shape
    return width, height


def resize_light_map(light: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-averaged resize to (width, height), as the colour images are downscaled."""
    if (light.shape[1], light.shape[0]) == size:
        return light
    channels = [
        np.asarray(
            Image.fromarray(light[..., c].astype(np.float32), mode="F").resize(size, Image.Resampling.BOX)
        )
        for c in range(light.shape[2])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)
