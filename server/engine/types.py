"""Plain data that crosses the engine's boundary (no nerfstudio types leak out of the engine)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from in2n_protocol.edit_params import EditParams
from in2n_protocol.wire import ENGINE_PHASES

__all__ = ["CameraSpec", "EditParams", "EngineEvent", "Phase", "Progress", "RenderResult"]

Phase = Literal[ENGINE_PHASES]  # type: ignore[valid-type]


OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
"""Camera axes from OpenGL's (looks down -Z, +Y up) to OpenCV's (looks down +Z, +Y down)."""


@dataclass(frozen=True)
class CameraSpec:
    """A pinhole camera in the scene's own world frame (OpenGL axes: looks down -Z, +Y up)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    camera_to_world: np.ndarray  # [4, 4] (or [3, 4]) float

    @classmethod
    def from_wire(cls, camera: Mapping[str, Any]) -> CameraSpec:
        """From the transforms.json form `{"fl_x", "fl_y", "cx", "cy", "w", "h", "transform_matrix"}`."""
        return cls(
            fx=float(camera["fl_x"]),
            fy=float(camera["fl_y"]),
            cx=float(camera["cx"]),
            cy=float(camera["cy"]),
            width=int(camera["w"]),
            height=int(camera["h"]),
            camera_to_world=np.asarray(camera["transform_matrix"], dtype=np.float64),
        )

    def pose(self) -> np.ndarray:
        """The camera-to-world as a full 4x4 (float64), whichever form it was given in."""
        pose = np.eye(4)
        matrix = np.asarray(self.camera_to_world, np.float64)
        pose[: matrix.shape[0]] = matrix
        return pose

    def opencv_view_matrix(self) -> np.ndarray:
        """World-to-camera [4, 4] in OpenCV axes (+Z forward, +Y down), as open3d and gsplat take it."""
        return np.linalg.inv(self.pose() @ OPENGL_TO_OPENCV)

    def resized(self, width: int, height: int) -> CameraSpec:
        """The same view at another resolution (intrinsics scaled per axis)."""
        sx, sy = width / self.width, height / self.height
        return CameraSpec(
            self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height, self.camera_to_world
        )


@dataclass
class RenderResult:
    """A render of the NeRF; `depth` is z-depth along the camera's -Z axis, in scene units.

    `transparent` scenes (RGBA datasets) have empty space: `rgb` is then straight (not premultiplied)
    colour and `accumulation` is its alpha; `image()` gives what a viewer should show.
    """

    rgb: np.ndarray  # [H, W, 3] float32 in [0, 1]
    depth: np.ndarray  # [H, W] float32
    accumulation: np.ndarray  # [H, W] float32 in [0, 1]
    transparent: bool = False

    def image(self) -> np.ndarray:
        """[H, W, 4] straight RGBA for transparent scenes, else the [H, W, 3] colour."""
        if not self.transparent:
            return self.rgb
        return np.concatenate([self.rgb, self.accumulation[..., None]], axis=-1)

    def over(self, background: tuple[float, float, float]) -> np.ndarray:
        """[H, W, 3] colour composited over `background` (the colour itself when not transparent)."""
        if not self.transparent:
            return self.rgb
        alpha = self.accumulation[..., None]
        return self.rgb * alpha + np.asarray(background, dtype=np.float32) * (1.0 - alpha)


@dataclass
class Progress:
    """Where a session stands; `progress` and `eta_seconds` count from this session's own start."""

    phase: Phase
    step: int  # steps done in this session, over both phases
    total_steps: int
    phase_step: int
    phase_total: int
    edits_done: int
    eta_seconds: float | None
    losses: dict[str, float] = field(default_factory=dict)

    @property
    def progress(self) -> float:
        return 1.0 if self.total_steps == 0 else min(1.0, self.step / self.total_steps)


@dataclass(frozen=True)
class EngineEvent:
    """Something a listener may want to know; `kind` is one of progress, phase, edit, checkpoint."""

    kind: str
    data: dict[str, Any]
