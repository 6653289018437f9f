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


def resampled_depth(depth: np.ndarray, height: int, width: int, same_surface: float) -> np.ndarray:
    """`depth` [h, w] at another size [height, width], sampled at the new pixel centres.

    Inverse depth is linear across the image of a plane, so where the four capture pixels around a sample
    all hit a surface and agree (within `same_surface`, a share of the depth) it is interpolated bilinearly:
    a plane comes out exact, with no staircase of nearest-neighbour steps. Elsewhere (a silhouette, an
    occlusion edge, nothing hit) the nearest pixel's depth is taken: depth never blends two surfaces.
    """
    depth = np.asarray(depth, np.float64)
    rows_in, cols_in = depth.shape
    if (rows_in, cols_in) == (height, width):
        return depth.astype(np.float32)
    y = (np.arange(height) + 0.5) * rows_in / height - 0.5
    x = (np.arange(width) + 0.5) * cols_in / width - 0.5
    top = np.clip(np.floor(y).astype(np.int64), 0, rows_in - 1)
    left = np.clip(np.floor(x).astype(np.int64), 0, cols_in - 1)
    bottom, right = np.minimum(top + 1, rows_in - 1), np.minimum(left + 1, cols_in - 1)
    fy = np.clip(y - top, 0.0, 1.0)[:, None]
    fx = np.clip(x - left, 0.0, 1.0)[None, :]
    corners = np.stack(
        [
            depth[top[:, None], left[None, :]],
            depth[top[:, None], right[None, :]],
            depth[bottom[:, None], left[None, :]],
            depth[bottom[:, None], right[None, :]],
        ]
    )  # [4, H, W]
    weights = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx])
    low, high = corners.min(axis=0), corners.max(axis=0)
    smooth = (low > 0) & (high <= low * (1 + same_surface))
    inverse = (weights / np.where(corners > 0, corners, 1.0)).sum(axis=0)
    nearest = depth[nearest_pixels(rows_in, height)[:, None], nearest_pixels(cols_in, width)[None, :]]
    return np.where(smooth, 1.0 / np.where(smooth, inverse, 1.0), nearest).astype(np.float32)


def nearest_pixels(count_in: int, count_out: int) -> np.ndarray:
    """For each of `count_out` pixels along an axis, the one of `count_in` whose extent holds its centre
    (nearest-neighbour resampling on pixel centres)."""
    return np.minimum(((np.arange(count_out) + 0.5) * count_in / count_out).astype(np.int64), count_in - 1)
