"""The reference the capture's render passes are checked against: one `scene.ray_cast` per pixel centre.

This is what the extension used to do for masks and depth (W*H Python calls per view, about 5 us each):
exact at the pixel centres and independent of the render engine, so it is the ground truth in the tests.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
from mathutils import Matrix, Vector


def ray_cast_maps(context: Any, frame: dict[str, Any], mask_names: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel centre of `frame`: z-depth along the camera's -Z (float64, 0 = no hit) and a bool mask
    (True where an object named in `mask_names` is the first hit)."""
    depsgraph = context.evaluated_depsgraph_get()
    scene = context.scene
    pose = Matrix(frame["transform_matrix"])
    origin = pose.translation
    rotation = pose.to_3x3()
    to_camera = rotation.transposed()
    w, h = frame["w"], frame["h"]
    mask = np.zeros((h, w), bool)
    depth = np.zeros((h, w), np.float64)
    for row in range(h):
        y = -((row + 0.5) - frame["cy"]) / frame["fl_y"]
        for col in range(w):
            x = ((col + 0.5) - frame["cx"]) / frame["fl_x"]
            direction = rotation @ Vector((x, y, -1.0))
            hit, location, _normal, _index, obj, _matrix = scene.ray_cast(
                depsgraph, origin, direction.normalized()
            )
            if not hit:
                continue
            depth[row, col] = -(to_camera @ (location - origin)).z
            source = obj.original if obj is not None else None
            mask[row, col] = source is not None and source.name in mask_names
    return mask, depth


DEPTH_RTOL = 1e-4
SAMPLE_OFFSET = 0.005  # px: Cycles' box filter of width 0.01 puts the sample within this of the centre


def within_sample_box(context, frame: dict, row: int, col: int, value: float) -> bool:
    """Whether `value` lies (to DEPTH_RTOL) between the ray-cast depths at the corners of the square the
    data render's sample may take inside pixel (row, col): on a grazing surface the depth changes faster
    than 1e-4 relative over 0.005 px, and that is the sample's position, not an error of the pass."""
    pose = Matrix(frame["transform_matrix"])
    origin, rotation = pose.translation, pose.to_3x3()
    depsgraph = context.evaluated_depsgraph_get()
    depths = []
    for du in (-SAMPLE_OFFSET, SAMPLE_OFFSET):
        for dv in (-SAMPLE_OFFSET, SAMPLE_OFFSET):
            x = ((col + 0.5 + du) - frame["cx"]) / frame["fl_x"]
            y = -((row + 0.5 + dv) - frame["cy"]) / frame["fl_y"]
            direction = (rotation @ Vector((x, y, -1.0))).normalized()
            hit, location, *_ = context.scene.ray_cast(depsgraph, origin, direction)
            if not hit:
                return False
            depths.append(-(rotation.transposed() @ (location - origin)).z)
    slack = DEPTH_RTOL * value
    return min(depths) - slack <= value <= max(depths) + slack


def png_color_type(path: str) -> int:
    """The PNG's IHDR colour type (2 = RGB, 6 = RGBA)."""
    with open(path, "rb") as fh:
        head = fh.read(33)
    return head[25]


def read_png(path: str) -> np.ndarray:
    """8-bit PNG (grey, RGB or RGBA, no interlace) as uint8 [H, W, C], top row first, decoded here."""
    with open(path, "rb") as fh:
        data = fh.read()
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, bits, color_type = ihdr[0], ihdr[1], ihdr[2], ihdr[3]
    assert bits == 8, bits
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * channels)
    out = np.zeros((h, w * channels), np.int32)
    prev = np.zeros(w * channels, np.int32)
    for row in range(h):
        kind, line = raw[row, 0], raw[row, 1:].astype(np.int32)
        cur = np.zeros_like(line)
        for i in range(len(line)):
            a = cur[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[i] = (line[i] + pred) & 255
        out[row], prev = cur, cur
    return out.reshape(h, w, channels).astype(np.uint8)


def erode(hit: np.ndarray, radius: int) -> np.ndarray:
    """Pixels whose whole (2r+1)^2 neighbourhood is True (off-image counts as False)."""
    padded = np.pad(hit, radius, constant_values=False)
    h, w = hit.shape
    out = np.ones_like(hit)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out &= padded[dy : dy + h, dx : dx + w]
    return out


def capture_files(result: Any) -> list[tuple[dict, str, str, str]]:
    """(frame, colour PNG, mask PNG, depth .npy) of each view of a capture."""
    frames = result.transforms["frames"]
    return list(zip(frames, result.images, result.masks, result.depths, strict=True))


def check_view(
    context: Any, frame: dict, mask_names: set[str], image_path: str, mask_path: str, depth_path: str
) -> dict:
    """A captured view's depth, mask and alpha against ray casts at its pixel centres, as figures."""
    ref_mask, ref_depth = ray_cast_maps(context, frame, mask_names)
    depth = np.load(depth_path, allow_pickle=False)
    mask = read_png(mask_path)[..., 0]
    rgba = read_png(image_path)
    both = (depth > 0) & (ref_depth > 0)
    relative = np.abs(depth[both] - ref_depth[both]) / ref_depth[both]
    over = both & (np.abs(depth - ref_depth) > DEPTH_RTOL * ref_depth)
    unexplained = sum(
        not within_sample_box(context, frame, r, c, float(depth[r, c])) for r, c in np.argwhere(over)
    )
    ref_hit = ref_depth > 0
    return {
        "depth_dtype": str(depth.dtype),
        "depth_shape": list(depth.shape),
        "mask_values": sorted(int(v) for v in np.unique(mask)),
        "hit_pixels": int(ref_hit.sum()),
        "masked_pixels": int(ref_mask.sum()),
        "both_hit": int(both.sum()),
        "hit_mismatch": int(((depth > 0) != ref_hit).sum()),
        "max_relative_depth_error": float(relative.max()) if relative.size else 0.0,
        "p99_relative_depth_error": float(np.quantile(relative, 0.99)) if relative.size else 0.0,
        "over_rtol": int(over.sum()),
        "over_rtol_unexplained": int(unexplained),
        "mask_mismatch": int(((mask == 255) != ref_mask).sum()),
        "background_depth_nonzero": int((depth[~ref_hit] != 0).sum()),
        "png_color_type": png_color_type(image_path),
        "alpha_background_max": int(rgba[..., 3][erode(~ref_hit, 2)].max(initial=0)),
        "alpha_interior_min": int(rgba[..., 3][erode(ref_hit, 2)].min(initial=255)),
        "background_pixels_checked": int(erode(~ref_hit, 2).sum()),
        "interior_pixels_checked": int(erode(ref_hit, 2).sum()),
    }
