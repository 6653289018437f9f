"""Depth renders back to 3D points in the scene's own frame (where `EditSession.render` works).

A render's depth is z-depth along the camera's -Z axis in scene units, and the camera is given in the
scene frame, so a pixel's point is the camera-to-world matrix applied to its camera-space point: no
nerfstudio normalisation has to be undone here (the engine already undid it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..engine.depth_maps import nearest_pixels, resampled_depth
from ..engine.geometry import DEPTH_AGREEMENT, MOVED_DEPTH, pixels_in_view, project, world_points
from ..engine.types import CameraSpec, RenderResult
from .errors import MasksMissingError

MASKS_NEEDED = (
    "masked_only keeps what the views' masks cover, and this scene has no masks; upload masks (or RGBA "
    "images) with the scene, or capture it in Blender with 'Edit Selected Objects Only'"
)


@dataclass(frozen=True)
class Crop:
    """A sphere that geometry must lie in; `None` radius keeps everything."""

    centre: np.ndarray
    radius: float | None

    @classmethod
    def around_cameras(cls, cameras: list[CameraSpec]) -> Crop:
        """The sphere around the cameras' centroid that reaches the farthest camera.

        What the cameras surround is the subject; beyond the rig a NeRF puts background (sky, distant
        walls) at arbitrary depths. nerfstudio's own export crops to the same region (its unit box).
        """
        centres = np.array([np.asarray(c.camera_to_world, dtype=np.float64)[:3, 3] for c in cameras])
        centre = centres.mean(axis=0)
        radius = float(np.linalg.norm(centres - centre, axis=1).max()) if len(centres) > 1 else None
        return cls(centre, radius if radius and radius > 0 else None)

    def inside(self, points: np.ndarray) -> np.ndarray:
        if self.radius is None:
            return np.ones(points.shape[:-1], dtype=bool)
        return np.linalg.norm(points - self.centre, axis=-1) <= self.radius


@dataclass(frozen=True)
class BoxCrop:
    """An axis-aligned box that geometry must lie in: the scene's known bounds (exact depth, or given)."""

    low: np.ndarray
    high: np.ndarray

    def inside(self, points: np.ndarray) -> np.ndarray:
        return np.all((points >= self.low) & (points <= self.high), axis=-1)


NO_CROP = Crop(np.zeros(3), None)
Region = Crop | BoxCrop
MIN_ACCUMULATION = 0.5
"""A pixel shows a surface when the NeRF's accumulated opacity along its ray reaches this."""


def session_region(session: Any, crop: bool) -> Region:
    """Where exported geometry may lie: the scene's bounds when known, else the camera rig's sphere."""
    if not crop:
        return NO_CROP
    bounds = getattr(session, "scene_bounds", None)
    if bounds is not None:
        return BoxCrop(np.asarray(bounds["min"], np.float64), np.asarray(bounds["max"], np.float64))
    return Crop.around_cameras(session.training_cameras)


def surface_pixels(
    render: RenderResult,
    camera: CameraSpec,
    min_accumulation: float = MIN_ACCUMULATION,
    crop: Region = NO_CROP,
) -> tuple[np.ndarray, np.ndarray]:
    """World points [H, W, 3] of every pixel and the mask [H, W] of opaque pixels inside `crop`."""
    depth = np.asarray(render.depth, dtype=np.float32).reshape(camera.height, camera.width)
    accumulation = np.asarray(render.accumulation, dtype=np.float32).reshape(depth.shape)
    finite = np.isfinite(depth)
    world = world_points(camera, np.where(finite, depth, 0.0))  # [H, W, 3]
    keep = (accumulation >= min_accumulation) & finite & (depth > 0) & crop.inside(world)
    return world, keep


def backproject(
    render: RenderResult,
    camera: CameraSpec,
    min_accumulation: float = MIN_ACCUMULATION,
    crop: Region = NO_CROP,
) -> tuple[np.ndarray, np.ndarray]:
    """World points [N, 3] and colours [N, 3] (0..1) of the opaque pixels of one render."""
    world, keep = surface_pixels(render, camera, min_accumulation, crop)
    rgb = np.asarray(render.rgb, dtype=np.float32).reshape(*keep.shape, 3)
    return world[keep].astype(np.float32), np.clip(rgb[keep], 0.0, 1.0)


def scaled_cameras(cameras: list[CameraSpec], scale: float, max_side: int = 1024) -> list[CameraSpec]:
    """The cameras rendered `scale` times larger (or smaller), at most `max_side` per side."""
    out = []
    for camera in cameras:
        factor = min(scale, max_side / max(camera.width, camera.height))
        width = max(8, round(camera.width * factor))
        height = max(8, round(camera.height * factor))
        out.append(camera.resized(width, height))
    return out


def session_masks(session: Any, count: int) -> list[np.ndarray]:
    """The training views' masks ([H, W] bool each, at the prepared size); MasksMissingError without them."""
    masks = [session.view_mask(index) for index in range(count)]
    if any(mask is None for mask in masks):
        raise MasksMissingError(MASKS_NEEDED)
    return masks


def session_held_depths(session: Any, count: int) -> list[np.ndarray | None]:
    """Each training view's captured depth where it still holds (`EditSession.held_depth`; None: none)."""
    return [session.held_depth(index) for index in range(count)]


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """`mask` [h, w] at another size, nearest neighbour on pixel centres (a render may be scaled)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape == (height, width):
        return mask
    rows, cols = nearest_pixels(mask.shape[0], height), nearest_pixels(mask.shape[1], width)
    return mask[rows[:, None], cols[None, :]]


@dataclass
class SurfaceView:
    """One render at a camera, its pixels' world points and which of them are kept as surface."""

    camera: CameraSpec
    render: RenderResult
    world: np.ndarray  # [H, W, 3]
    keep: np.ndarray  # [H, W] bool
    candidate: np.ndarray | None = None
    """[H, W] bool: what the export may keep before the views' agreement (opaque, in the region, in the
    mask); `keep` where not given."""

    def __post_init__(self) -> None:
        if self.candidate is None:
            self.candidate = self.keep.copy()


def surface_views(
    session: Any,
    cameras: list[CameraSpec],
    region: Region,
    min_accumulation: float = MIN_ACCUMULATION,
    masks: list[np.ndarray] | None = None,
    held: list[np.ndarray | None] | None = None,
) -> list[SurfaceView]:
    """Render every camera and keep the opaque, in-region pixels that other views agree with.

    `held` (aligned with `cameras`; `session_held_depths`) puts the pixels that show their captured surface
    on it (`on_captured_surface`) before the agreement. `masks` (aligned with `cameras`, each at its view's
    own size) keep only the pixels they cover; they apply after the agreement, so a masked surface's edge is
    confirmed by the whole scene's geometry.
    """
    for name, given in (("masks", masks), ("held depths", held)):
        if given is not None and len(given) != len(cameras):
            raise ValueError(f"{len(given)} {name} for {len(cameras)} cameras")
    views = rendered_views(session, cameras, region, min_accumulation)
    for view, depth in zip(views, held if held is not None else [None] * len(views), strict=True):
        if depth is not None:
            on_captured_surface(view, depth)
    for view, agreed in zip(views, multi_view_agreement(views), strict=True):
        view.keep &= agreed
    if masks is not None:
        for view, mask in zip(views, masks, strict=True):
            inside = resize_mask(mask, view.camera.height, view.camera.width)
            view.keep &= inside
            view.candidate &= inside
    return views


def on_captured_surface(view: SurfaceView, held: np.ndarray) -> None:
    """Put the view's kept pixels that show their captured surface exactly on it (in place).

    A NeRF's depth is a blurred estimate: on a small object seen by few pixels it strays by a few pixel
    footprints, and the fused mesh tears there. Where the capture's exact depth still holds (`held`, the
    pixels the depth loss supervises; 0 elsewhere) and the NeRF's surface lies within MOVED_DEPTH of it, the
    NeRF shows that same surface, so its point is the captured one. Where the NeRF's surface is farther
    (an edit moved it and the release missed it), where the capture hit nothing (a grown shape) or where an
    edit released the depth, the NeRF's own depth stays. Opacity still decides which pixels are surface.
    """
    camera = view.camera
    captured = resampled_depth(held, camera.height, camera.width, DEPTH_AGREEMENT).astype(np.float64)
    depth = np.asarray(view.render.depth, np.float64).reshape(camera.height, camera.width)
    same = view.keep & (captured > 0) & (np.abs(depth - captured) <= MOVED_DEPTH * captured)
    if not same.any():
        return
    view.world = np.where(same[..., None], world_points(camera, captured), view.world)
    view.render = replace(view.render, depth=np.where(same, captured, depth).astype(np.float32))


def rendered_views(
    session: Any, cameras: list[CameraSpec], region: Region, min_accumulation: float = MIN_ACCUMULATION
) -> list[SurfaceView]:
    """Every camera rendered, its opaque in-region pixels kept (before any agreement between views)."""
    views = []
    for camera in cameras:
        render = session.render(camera)
        world, keep = surface_pixels(render, camera, min_accumulation, region)
        views.append(SurfaceView(camera, render, world, keep))
    return views


CONSISTENT_DEPTH = DEPTH_AGREEMENT
"""A point agrees with another view when their depths differ by at most this share of that depth."""
MIN_AGREEING_VIEWS = 2
"""A surface point must be confirmed by this many other views: fog in front of one camera is not."""


def multi_view_agreement(views: list[SurfaceView]) -> list[np.ndarray]:
    """Per view, [H, W] True where a kept pixel's point lies on the surface other views render.

    A floater that one view sees as its surface lies in free space for the others (in front of what they
    see), so it is not confirmed; a true surface point is seen at the same depth from its neighbours.
    With fewer than MIN_AGREEING_VIEWS + 1 views nothing can be confirmed, and everything is kept.
    """
    if len(views) <= MIN_AGREEING_VIEWS:
        return [view.keep.copy() for view in views]
    results = []
    for i, view in enumerate(views):
        points = view.world[view.keep]  # [M, 3]
        agree = np.zeros(len(points), np.int32)
        for j, other in enumerate(views):
            if j != i and len(points):
                agree += _agrees_with(points, other)
        agreed = np.zeros_like(view.keep)
        agreed[view.keep] = agree >= MIN_AGREEING_VIEWS
        results.append(agreed)
    return results


def _agrees_with(points: np.ndarray, view: SurfaceView) -> np.ndarray:
    return view_lookup(points, view)[0]


def view_lookup(points: np.ndarray, view: SurfaceView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether `view` sees each of `points` [N, 3] on its kept surface (same depth within
    CONSISTENT_DEPTH), and where each lands in it: continuous pixel coordinates (col, row).

    One definition of "another view sees this point" for the agreement test and the splats' colour fit.
    """
    camera = view.camera
    u, v, z = project(camera, points)
    col, row, inside = pixels_in_view(u, v, z, camera.width, camera.height)
    depth = np.asarray(view.render.depth, np.float64).reshape(camera.height, camera.width)[row, col]
    seen = view.keep[row, col] & inside
    return seen & (np.abs(z - depth) <= CONSISTENT_DEPTH * depth), u, v
