"""Minimal PNG writer (zlib + struct + numpy) for masks (and 16-bit images such as legacy depth PNGs).

Blender's own image saving goes through colour management and its 16-bit path depends on scene settings;
the protocol wants exact values (8-bit masks), so they are written byte for byte. Depth now goes out as .npy.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (gray, gray+alpha, RGB, RGBA)


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an H x W (gray) or H x W x C array, uint8 or uint16, first row at the top."""
    array = np.asarray(pixels)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in _COLOR_TYPES or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"expected H x W or H x W x (1..4) pixels, got shape {array.shape}")
    if array.dtype == np.uint8:
        depth = 8
        raw = array
    elif array.dtype == np.uint16:
        depth = 16
        raw = array.astype(">u2")
    else:
        raise ValueError(f"expected uint8 or uint16 pixels, got {array.dtype}")
    height, width, channels = array.shape
    rows = raw.reshape(height, -1).view(np.uint8)
    # Filter type 0 (none) in front of every row.
    scanlines = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, depth, _COLOR_TYPES[channels], 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(scanlines, 6)),
            _chunk(b"IEND", b""),
        ]
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )
