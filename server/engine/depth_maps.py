"""Depth maps as the protocol carries them, read into one form: float32 z-depth in scene units.

Accepted files (docs/protocol.md):
- `.npy`: a 2-D float16/float32/float64 array, z-depth along the camera's -Z axis in scene units. Read with
  `allow_pickle=False`: an upload can never run code.
- 16-bit PNG: z-depth in millimetres (the earlier format; it clips at 65.535 m).
In both, 0, negative or non-finite values mean "no surface here" and come out as 0.
This module needs only numpy and Pillow, so the server's ingest can check uploads without torch.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

NPY_MAGIC = b"\x93NUMPY"
PNG_DEPTH_MODES = ("I;16", "I;16B", "I")
MILLIMETRE = 1e-3
MAX_DEPTH_SIDE = 16384


class DepthMapError(ValueError):
    """A depth file that is not one of the accepted forms; the message says which rule it breaks."""


def read_depth_map(source: Path | BinaryIO, name: str = "depth map") -> np.ndarray:
    """The depth map in `source` as float32 [H, W] scene units, 0 where no surface was hit."""
    data = Path(source).read_bytes() if isinstance(source, Path) else source.read()
    depth = _read_npy(data, name) if data.startswith(NPY_MAGIC) else _read_png_millimetres(data, name)
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)
    return depth


def _read_npy(data: bytes, name: str) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DepthMapError(f"{name}: not a readable .npy array ({error})") from error
    if array.ndim != 2 or min(array.shape) < 1 or max(array.shape) > MAX_DEPTH_SIDE:
        raise DepthMapError(f"{name}: expected a 2-D [H, W] depth array, got shape {array.shape}")
    if array.dtype not in (np.float16, np.float32, np.float64):
        raise DepthMapError(f"{name}: expected float16/float32/float64 depth, got {array.dtype}")
    return array.astype(np.float32)


def _read_png_millimetres(data: bytes, name: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG" or image.mode not in PNG_DEPTH_MODES:
                raise DepthMapError(
                    f"{name}: depth maps are .npy float arrays (scene units) or 16-bit PNG (millimetres)"
                )
            image.load()
            return np.asarray(image, dtype=np.float32) * MILLIMETRE
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise DepthMapError(f"{name}: not a readable depth map ({error})") from error


def depth_map_size(source: Path | BinaryIO, name: str = "depth map") -> tuple[int, int]:
    """(width, height) of a valid depth map, as images report their size."""
    height, width = read_depth_map(source, name).shape
    return width, height


def resize_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize to (width, height): depth must never blend a surface with the background."""
    if (depth.shape[1], depth.shape[0]) == size:
        return depth
    image = Image.fromarray(depth.astype(np.float32), mode="F")
    return np.asarray(image.resize(size, Image.Resampling.NEAREST), dtype=np.float32)
