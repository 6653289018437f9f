"""Blender camera <-> transforms.json camera, matching Blender's own projection exactly.

Blender's view plane (BKE_camera_params_compute_viewplane) picks the sensor size and the fitted axis from the
sensor fit, scales by the render size in pixels (resolution x percentage) and the pixel aspect, and shifts by
`shift * viewfac`, where viewfac is the width (horizontal fit) or the aspect-corrected height (vertical fit).
Exporters that assume "sensor_width maps to the image width" are wrong for vertical fits and portrait images;
the formulas below follow Blender's and are tested against `world_to_camera_view`.

Only plain values are read (attributes of camera data, render settings, matrices as nested sequences), so the
module needs no bpy at import time and works on any object that has those attributes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class CameraError(ValueError):
    """A camera that cannot be expressed as a pinhole transforms.json camera."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of a w x h image, origin top-left, y down (nerfstudio / OpenCV)."""

    fl_x: float
    fl_y: float
    cx: float
    cy: float
    w: int
    h: int

    def as_dict(self) -> dict[str, Any]:
        return {"fl_x": self.fl_x, "fl_y": self.fl_y, "cx": self.cx, "cy": self.cy, "w": self.w, "h": self.h}


def render_size(resolution_x: int, resolution_y: int, percentage: int) -> tuple[int, int]:
    """The rendered image size in pixels, rounded as Blender does (integer division)."""
    return resolution_x * percentage // 100, resolution_y * percentage // 100


def intrinsics(
    *,
    lens: float,
    sensor_width: float,
    sensor_height: float,
    sensor_fit: str,
    width: int,
    height: int,
    pixel_aspect_x: float = 1.0,
    pixel_aspect_y: float = 1.0,
    shift_x: float = 0.0,
    shift_y: float = 0.0,
) -> Intrinsics:
    """Intrinsics of a perspective camera rendered at width x height pixels (percentage already applied)."""
    if lens <= 0 or sensor_width <= 0 or sensor_height <= 0:
        raise CameraError(f"lens and sensor sizes must be positive (lens {lens}, sensor {sensor_width})")
    if width <= 0 or height <= 0:
        raise CameraError(f"render size must be positive, got {width}x{height}")
    if pixel_aspect_x <= 0 or pixel_aspect_y <= 0:
        raise CameraError("pixel aspect must be positive")
    if sensor_fit not in ("AUTO", "HORIZONTAL", "VERTICAL"):
        raise CameraError(f"unknown sensor fit {sensor_fit!r}")
    ycor = pixel_aspect_y / pixel_aspect_x
    sensor = sensor_height if sensor_fit == "VERTICAL" else sensor_width
    if sensor_fit == "AUTO":
        horizontal = pixel_aspect_x * width >= pixel_aspect_y * height
    else:
        horizontal = sensor_fit == "HORIZONTAL"
    viewfac = width if horizontal else ycor * height
    fl_x = lens * viewfac / sensor
    fl_y = fl_x / ycor
    cx = 0.5 * width - shift_x * viewfac
    cy = 0.5 * height + shift_y * viewfac / ycor
    return Intrinsics(fl_x, fl_y, cx, cy, int(width), int(height))


def camera_intrinsics(camera_data: Any, render: Any) -> Intrinsics:
    """Intrinsics of a bpy Camera datablock rendered with a scene's RenderSettings."""
    if getattr(camera_data, "type", "PERSP") != "PERSP":
        raise CameraError(f"camera {getattr(camera_data, 'name', '?')!r} is not a perspective camera")
    width, height = render_size(render.resolution_x, render.resolution_y, render.resolution_percentage)
    return intrinsics(
        lens=camera_data.lens,
        sensor_width=camera_data.sensor_width,
        sensor_height=camera_data.sensor_height,
        sensor_fit=camera_data.sensor_fit,
        width=width,
        height=height,
        pixel_aspect_x=render.pixel_aspect_x,
        pixel_aspect_y=render.pixel_aspect_y,
        shift_x=camera_data.shift_x,
        shift_y=camera_data.shift_y,
    )


def pose_without_scale(matrix_world: Sequence[Sequence[float]]) -> list[list[float]]:
    """Camera-to-world 4x4 with scale removed (columns normalised, re-orthonormalised); OpenGL, no flip."""
    m = [[float(matrix_world[r][c]) for c in range(4)] for r in range(4)]
    cols = [[m[r][c] for r in range(3)] for c in range(3)]
    # Gram-Schmidt on the columns keeps the camera's look direction (-Z) and up (+Y) exactly.
    z = _normalise(cols[2])
    y = _normalise(_sub(cols[1], _scale(z, _dot(cols[1], z))))
    x = _cross(y, z)
    if _dot(x, cols[0]) < 0:
        raise CameraError("camera matrix is mirrored (negative scale); remove the negative scale")
    return [
        [x[0], y[0], z[0], m[0][3]],
        [x[1], y[1], z[1], m[1][3]],
        [x[2], y[2], z[2], m[2][3]],
        [0.0, 0.0, 0.0, 1.0],
    ]


def camera_from_blender(camera_object: Any, render: Any) -> dict[str, Any]:
    """The transforms.json frame of a Blender camera object (intrinsics + pose)."""
    frame = camera_intrinsics(camera_object.data, render).as_dict()
    frame["transform_matrix"] = pose_without_scale(camera_object.matrix_world)
    return frame


def intrinsics_from_projection(projection: Sequence[Sequence[float]], width: int, height: int) -> Intrinsics:
    """Intrinsics of an OpenGL projection matrix (a viewport's window_matrix, or calc_matrix_camera)."""
    p = projection
    if abs(float(p[3][2]) + 1.0) > 1e-6 or abs(float(p[3][3])) > 1e-6:
        raise CameraError("the view is orthographic; switch the viewport to perspective")
    fl_x = float(p[0][0]) * width / 2.0
    fl_y = float(p[1][1]) * height / 2.0
    cx = (1.0 - float(p[0][2])) * width / 2.0
    cy = (1.0 + float(p[1][2])) * height / 2.0
    return Intrinsics(fl_x, fl_y, cx, cy, int(width), int(height))


@dataclass(frozen=True)
class BlenderCameraSettings:
    """What to set on a Blender camera and scene so they reproduce given intrinsics."""

    lens: float
    sensor_width: float
    sensor_fit: str
    shift_x: float
    shift_y: float
    resolution_x: int
    resolution_y: int
    pixel_aspect_x: float
    pixel_aspect_y: float


def blender_settings(fl_x: float, fl_y: float, cx: float, cy: float, w: int, h: int) -> BlenderCameraSettings:
    """The inverse of `intrinsics` with a horizontal fit and a 36 mm sensor (for server-side datasets)."""
    if fl_x <= 0 or fl_y <= 0 or w <= 0 or h <= 0:
        raise CameraError("focal lengths and image size must be positive")
    sensor = 36.0
    # ycor = aspect_y / aspect_x = fl_x / fl_y; keep both aspects >= 1 as Blender's UI does.
    ycor = fl_x / fl_y
    aspect_x, aspect_y = (1.0, ycor) if ycor >= 1.0 else (1.0 / ycor, 1.0)
    return BlenderCameraSettings(
        lens=fl_x * sensor / w,
        sensor_width=sensor,
        sensor_fit="HORIZONTAL",
        shift_x=(0.5 * w - cx) / w,
        shift_y=(cy - 0.5 * h) * ycor / w,
        resolution_x=int(w),
        resolution_y=int(h),
        pixel_aspect_x=aspect_x,
        pixel_aspect_y=aspect_y,
    )


def fov_radius(half_extent: float, lens: float, sensor: float) -> float:
    """Distance at which a sphere of radius `half_extent` fills the narrower field of view."""
    half_angle = math.atan(0.5 * sensor / lens)
    return half_extent / math.sin(half_angle)


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _sub(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [a[0] - b[0], a[1] - b[1], a[2] - b[2]]


def _scale(a: Sequence[float], s: float) -> list[float]:
    return [a[0] * s, a[1] * s, a[2] * s]


def _cross(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _normalise(a: Sequence[float]) -> list[float]:
    n = math.sqrt(_dot(a, a))
    if n < 1e-12:
        raise CameraError("camera matrix has a zero scale axis")
    return [a[0] / n, a[1] / n, a[2] / n]
