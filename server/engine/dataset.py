"""Turn a user's dataset (transforms.json + images) into the one the engine trains on.

Why a copy: IP2P needs images no larger than ~512 px (it slows and runs out of memory above), all of
one size, and nerfstudio's own downscaling only knows integer factors and shells out to ffmpeg. Here the
images are resized with their intrinsics and every frame gets explicit intrinsics. What Blender knows is
kept in forms training uses: alpha stays in the images (RGBA PNG: empty where alpha is 0; when any view
has alpha, every view is written RGBA), depth becomes float32 `.npy` z-depth in scene units, and the box
around the surfaces the depth maps saw is recorded as `in2n_bounds` (scene frame). Masks and depth maps are
carried under keys that nerfstudio ignores (its `mask_path` would *exclude* pixels from training, which is
not what they mean here).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from in2n_protocol.wire import WireError, check_camera

from .depth_maps import DepthMapError, read_depth_map, resize_depth
from .geometry import BOUNDS_KEY, bounds_from_depths, check_bounds
from .light_maps import LIGHT_KEY, LightMapError, read_light_map, resize_light_map
from .surfaces import SURFACES_FILE, SURFACES_KEY, SurfaceError, read_surfaces, write_surfaces
from .types import CameraSpec

INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h")
SHARED_KEYS = (*INTRINSIC_KEYS, "camera_angle_x")
"""Keys a frame takes from the top level of transforms.json when it does not give its own."""
MAX_NESTING = 64
"""Deepest nesting accepted in transforms.json (a camera needs 5 levels; deeper is garbage or an attack)."""
MASK_KEY = "in2n_mask_path"
DEPTH_KEY = "in2n_depth_path"
ALPHA_KEY = "in2n_alpha"
"""True in a prepared dataset whose images are RGBA: training then fills empty pixels with random colours."""


class DatasetError(ValueError):
    """The dataset cannot be used; `field` names the offending part (e.g. `frames[3].file_path`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def read_transforms(dataset_dir: Path) -> dict[str, Any]:
    path = Path(dataset_dir) / "transforms.json"
    if not path.is_file():
        raise DatasetError("transforms.json", f"not found in {dataset_dir}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError("transforms.json", f"not valid JSON ({error})") from error
    meta = parse_transforms(text)
    if not isinstance(meta, dict):
        raise DatasetError("frames", "transforms.json must hold an object with a non-empty list `frames`")
    check_frame_list(meta)
    return meta


def parse_transforms(text: str | bytes) -> Any:
    """JSON text -> its value, nested at most MAX_NESTING deep (DatasetError otherwise)."""
    try:
        value = json.loads(text)
    except RecursionError as error:  # json's own limit: far deeper than MAX_NESTING
        raise DatasetError("transforms.json", f"nested deeper than {MAX_NESTING} levels") from error
    except (UnicodeDecodeError, ValueError) as error:
        raise DatasetError("transforms.json", f"not valid JSON ({error})") from error
    if nesting_depth(value) > MAX_NESTING:
        raise DatasetError("transforms.json", f"nested deeper than {MAX_NESTING} levels")
    return value


def nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in a JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:  # deeper than that is already an answer
            stack.extend((child, depth + 1) for child in children)
    return deepest


def check_frame_list(meta: Mapping[str, Any]) -> list[Any]:
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        raise DatasetError("frames", "transforms.json must hold a non-empty list `frames`")
    return frames


def frame_cameras(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every frame's camera, validated, with its intrinsics resolved (see `frame_camera`)."""
    return [frame_camera(meta, frame, index) for index, frame in enumerate(check_frame_list(meta))]


def frame_camera(meta: Mapping[str, Any], frame: Any, index: int) -> dict[str, Any]:
    """One frame's camera (`check_camera`'s clean form), with the dataset's rules for what is left out.

    Each of `SHARED_KEYS` comes from the frame, else from the top level. Without `fl_x`, a
    `camera_angle_x` (nerf-synthetic's horizontal field of view, radians) gives it; without `fl_y`,
    pixels are square (`fl_y = fl_x`); without `cx`/`cy`, the principal point is the image centre.
    """
    field = f"frames[{index}]"
    if not isinstance(frame, Mapping):
        raise DatasetError(field, "expected an object")
    merged = {key: frame[key] if key in frame else meta.get(key) for key in SHARED_KEYS}
    merged["transform_matrix"] = frame.get("transform_matrix")
    merged = {key: value for key, value in merged.items() if value is not None}
    angle = merged.pop("camera_angle_x", None)
    width, height = merged.get("w"), merged.get("h")
    if "fl_x" not in merged and angle is not None and _is_positive_int(width):
        if not _is_number(angle) or not 0 < angle < math.pi:
            raise DatasetError(
                f"{field}.camera_angle_x", f"expected an angle in (0, pi) radians, got {angle!r}"
            )
        merged["fl_x"] = 0.5 * width / math.tan(0.5 * angle)
    if "fl_y" not in merged and "fl_x" in merged:
        merged["fl_y"] = merged["fl_x"]
    if _is_positive_int(width) and _is_positive_int(height):
        merged.setdefault("cx", width / 2)
        merged.setdefault("cy", height / 2)
    try:
        return check_camera(merged, field)
    except WireError as error:
        raise DatasetError(error.field, error.message) from error


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _resolve_inside(root: Path, relative: Any, field: str) -> Path:
    if not isinstance(relative, str) or not relative:
        raise DatasetError(field, "expected a relative file path")
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise DatasetError(field, f"{relative!r} points outside the dataset directory")
    if not path.is_file():
        raise DatasetError(field, f"file {relative!r} not found")
    return path


def _load_image(path: Path, field: str) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except (OSError, Image.DecompressionBombError) as error:
        raise DatasetError(field, f"cannot read image {path.name}: {error}") from error
    return image


def target_size(width: int, height: int, max_image_size: int) -> tuple[int, int]:
    """The size after downscaling so that the longer side is at most `max_image_size` (never upscaled)."""
    scale = min(1.0, max_image_size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def prepare_dataset(src_dir: Path, dst_dir: Path, max_image_size: int = 512) -> Path:
    """Validate `src_dir` and write the engine's dataset to `dst_dir` atomically; returns `dst_dir`.

    Raises DatasetError naming the first problem; on error nothing is left at `dst_dir`.
    """
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    meta = read_transforms(src_dir)
    cameras = frame_cameras(meta)
    if len(cameras) > 1 and camera_spread(cameras) <= 1e-9:
        raise DatasetError("frames", "all cameras sit at one point; the scene cannot be reconstructed")
    given_bounds = None
    if meta.get(BOUNDS_KEY) is not None:
        try:
            given_bounds = check_bounds(meta[BOUNDS_KEY])
        except ValueError as error:
            raise DatasetError(BOUNDS_KEY, str(error).removeprefix(f"{BOUNDS_KEY}: ")) from error
    dst_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".prepare-", dir=dst_dir.parent))
    try:
        frames, has_alpha, depth_bounds = _write_frames(
            src_dir, staging, meta["frames"], cameras, max_image_size
        )
        out_meta = {"camera_model": "OPENCV", "frames": frames, "in2n_source": str(src_dir)}
        if meta.get(SURFACES_KEY) is not None:
            surfaces_path = _resolve_inside(src_dir, meta[SURFACES_KEY], SURFACES_KEY)
            try:
                write_surfaces(staging / SURFACES_FILE, read_surfaces(surfaces_path))
            except SurfaceError as error:
                raise DatasetError(SURFACES_KEY, str(error)) from error
            out_meta[SURFACES_KEY] = SURFACES_FILE
        if has_alpha:
            out_meta[ALPHA_KEY] = True
        bounds = given_bounds or depth_bounds
        if bounds is not None:
            out_meta[BOUNDS_KEY] = bounds
        (staging / "transforms.json").write_text(json.dumps(out_meta, indent=1), encoding="utf-8")
        if dst_dir.exists():
            shutil.rmtree(dst_dir)
        os.replace(staging, dst_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dst_dir


def _write_frames(
    src_dir: Path,
    staging: Path,
    raw_frames: list[Mapping[str, Any]],
    cameras: list[dict[str, Any]],
    max_image_size: int,
) -> tuple[list[dict[str, Any]], bool, dict[str, list[float]] | None]:
    """Write the images (and masks, depths); returns the frames, whether they are RGBA, and the bounds
    of the surfaces the depth maps saw (None without depth)."""
    for sub in ("images", "masks", "depths", "lights"):
        (staging / sub).mkdir()
    with_light = [raw.get(LIGHT_KEY) is not None for raw in raw_frames]
    if any(with_light) and not all(with_light):
        raise DatasetError(
            f"frames[{with_light.index(False)}].{LIGHT_KEY}", "frames carry light maps all or none"
        )
    images = [
        _load_image(_resolve_inside(src_dir, raw.get("file_path"), f"frames[{i}].file_path"), f"frames[{i}]")
        for i, raw in enumerate(raw_frames)
    ]
    has_alpha = any(_has_alpha(image) for image in images)
    size: tuple[int, int] | None = None
    frames = []
    depth_views: list[tuple[CameraSpec, np.ndarray]] = []
    for index, (raw, camera, image) in enumerate(zip(raw_frames, cameras, images, strict=True)):
        field = f"frames[{index}]"
        if image.size != (camera["w"], camera["h"]):
            raise DatasetError(
                f"{field}.file_path",
                f"image is {image.size[0]}x{image.size[1]} but the camera says {camera['w']}x{camera['h']}",
            )
        if size is None:
            size = image.size
        elif image.size != size:
            raise DatasetError(f"{field}.file_path", f"all images must share one size; expected {size}")
        new_w, new_h = target_size(*image.size, max_image_size)
        colour = _to_colour(image, has_alpha, f"{field}.file_path")
        if colour.size != (new_w, new_h):
            colour = colour.resize((new_w, new_h), Image.Resampling.LANCZOS)
        name = f"{index:04d}.png"
        colour.save(staging / "images" / name)
        sx, sy = new_w / camera["w"], new_h / camera["h"]
        frame = {
            "file_path": f"images/{name}",
            "fl_x": camera["fl_x"] * sx,
            "fl_y": camera["fl_y"] * sy,
            "cx": camera["cx"] * sx,
            "cy": camera["cy"] * sy,
            "w": new_w,
            "h": new_h,
            "transform_matrix": camera["transform_matrix"],
        }
        alpha_mask = image.convert("RGBA").getchannel("A") if _has_alpha(image) else None
        mask = _optional_mask(src_dir, raw, field, image.size) or alpha_mask
        if mask is not None:
            mask.resize((new_w, new_h), Image.Resampling.NEAREST).save(staging / "masks" / name)
            frame[MASK_KEY] = f"masks/{name}"
        depth = _optional_depth(src_dir, raw, field, image.size)
        if depth is not None:
            depth = resize_depth(depth, (new_w, new_h))
            depth_name = f"{index:04d}.npy"
            np.save(staging / "depths" / depth_name, depth, allow_pickle=False)
            frame[DEPTH_KEY] = f"depths/{depth_name}"
            depth_views.append((CameraSpec.from_wire(frame), depth))
        light = _optional_light(src_dir, raw, field, image.size)
        if light is not None:
            light_name = f"{index:04d}.npy"
            np.save(
                staging / "lights" / light_name, resize_light_map(light, (new_w, new_h)).astype(np.float16)
            )
            frame[LIGHT_KEY] = f"lights/{light_name}"
        frames.append(frame)
    return frames, has_alpha, bounds_from_depths(depth_views) if depth_views else None


def has_masks(meta: Mapping[str, Any]) -> bool:
    """Whether every view of a prepared dataset has a mask (given, or its alpha): what masked edits need."""
    return all(MASK_KEY in frame for frame in meta["frames"])


def needs_masks(edit_region: str, crop_to_mask: bool) -> bool:
    """Whether edits with these settings read the views' masks."""
    return edit_region == "masked" or crop_to_mask


def has_depths(meta: Mapping[str, Any]) -> bool:
    """Whether every view of a prepared dataset has a depth map: what warped edit starts need."""
    return all(DEPTH_KEY in frame for frame in meta["frames"])


DEPTHS_MISSING = (
    "this scene has no depth maps: capture it with Depth on (Blender renders), or edit with warp_start off"
)
MASKS_MISSING = (
    "this scene has no masks: capture it with masks of the selected objects (or RGBA images, whose alpha "
    "is the mask), or edit with edit_region 'all' and crop_to_mask off"
)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _to_colour(image: Image.Image, rgba: bool, field: str) -> Image.Image:
    """RGBA (straight alpha; opaque views get alpha 255) when the dataset has alpha, else RGB."""
    if image.mode in ("I;16", "I;16B", "I", "F"):
        raise DatasetError(field, f"expected an 8-bit colour image, got mode {image.mode}")
    return image.convert("RGBA" if rgba else "RGB")


def _optional_depth(
    src_dir: Path, raw: Mapping[str, Any], field: str, size: tuple[int, int]
) -> np.ndarray | None:
    relative = raw.get("depth_file_path") or raw.get(DEPTH_KEY)
    if relative is None:
        return None
    key = f"{field}.depth_file_path"
    try:
        depth = read_depth_map(_resolve_inside(src_dir, relative, key), str(relative))
    except DepthMapError as error:
        raise DatasetError(key, str(error)) from error
    if (depth.shape[1], depth.shape[0]) != size:
        raise DatasetError(
            key, f"depth map is {depth.shape[1]}x{depth.shape[0]}, the image {size[0]}x{size[1]}"
        )
    return depth


def _optional_light(
    src_dir: Path, raw: Mapping[str, Any], field: str, size: tuple[int, int]
) -> np.ndarray | None:
    relative = raw.get(LIGHT_KEY)
    if relative is None:
        return None
    key = f"{field}.{LIGHT_KEY}"
    try:
        light = read_light_map(_resolve_inside(src_dir, relative, key), str(relative))
    except LightMapError as error:
        raise DatasetError(key, str(error)) from error
    if (light.shape[1], light.shape[0]) != size:
        raise DatasetError(
            key, f"light map is {light.shape[1]}x{light.shape[0]}, the image {size[0]}x{size[1]}"
        )
    return light


def has_lights(meta: Mapping[str, Any]) -> bool:
    """Whether a prepared dataset's views carry light maps (then their images are Standard-view sRGB)."""
    return bool(meta["frames"]) and all(LIGHT_KEY in frame for frame in meta["frames"])


def _optional_mask(
    src_dir: Path, raw: Mapping[str, Any], field: str, size: tuple[int, int]
) -> Image.Image | None:
    relative = raw.get("mask_path") or raw.get(MASK_KEY)
    if relative is None:
        return None
    mask = _load_image(_resolve_inside(src_dir, relative, f"{field}.mask_path"), field).convert("L")
    if mask.size != size:
        raise DatasetError(f"{field}.mask_path", "mask size differs from the image")
    return mask


def camera_spread(cameras: list[dict[str, Any]]) -> float:
    """Largest distance of a camera centre from their mean (nerfstudio scales the scene by it)."""
    centres = np.array([np.asarray(c["transform_matrix"])[:3, 3] for c in cameras])
    spread = float(np.linalg.norm(centres - centres.mean(axis=0), axis=1).max()) if len(centres) > 1 else 0.0
    return spread if math.isfinite(spread) else 0.0
