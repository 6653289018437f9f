"""Surface the training views barely see, from the same camera centres turned up and down.

A capture rig is mostly level: an orbit looks at its subject, a room's cameras look at its walls. What
lies above or below their frames (a room's ceiling, the floor under a table) is seen only at the edges
of a few views, so the multi-view agreement confirms little of it, while the NeRF, which learned it
from those edges, renders it well. Held-out cameras that look up then find holes in the exports.
Every training camera is turned about its own horizontal axis by TURN_SHARE of its vertical field of
view, up and down, and rendered at TURN_SCALE of its size (most of what it shows is known already).
Only their pixels that no training view keeps, and that two other views confirm, are added.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..engine.types import CameraSpec
from .backproject import (
    MIN_AGREEING_VIEWS,
    Region,
    SurfaceView,
    rendered_views,
    scaled_cameras,
    view_lookup,
)

TURN_SHARE = 0.45
"""The turn up and down, as a share of the camera's vertical field of view: the turned frames overlap
the original one by 55%. Measured on `room` (splats in Blender 5.3 at held-out cameras): 0.6 gave
24.94 dB, 0.45 25.09 (17.96 without)."""
TURN_SCALE = 0.5
"""Turned views are rendered at this share of the training views' size (a quarter of the pixels each).
At 1.0 `room` fell to 22.22 dB (0.6 turn): new pixels crowd the sharper training ones out of the budget."""


def turned_cameras(cameras: list[CameraSpec], share: float = TURN_SHARE) -> list[CameraSpec]:
    """Every camera turned up, then down, about its own x axis by `share` of its vertical field of view.

    OpenGL axes: a camera looks down its -Z with +Y up, so a positive turn about +X raises the view.
    """
    turned = []
    for camera in cameras:
        half_fov = math.atan2(camera.height / 2, camera.fy)
        for sign in (1.0, -1.0):
            angle = sign * share * 2 * half_fov
            c, s = math.cos(angle), math.sin(angle)
            pitch = np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]], np.float64)
            turned.append(replace(camera, camera_to_world=camera.pose() @ pitch))
    return turned


BETWEEN_RAYS_PER_SPLAT = 24
"""The between cameras' renders get about this many rays per exported splat, spread over as many
cameras as that pays for (at least one per training camera, at most BETWEEN_MAX_PER_CAMERA).
Measured on `room` (50k splats, 300 steps, our rasteriser at the held-out cameras, NeRF 36.20 dB):
1 camera each 32.57 dB, 4 33.91, 8 34.83, 16 (24 rays a splat) 35.38; 16 at half size 33.01. On
`object`, whose training views are four times larger, 16 each cost 10 minutes of CPU rendering and
0.4 dB (31.63 against 32.02 at 1)."""
BETWEEN_MAX_PER_CAMERA = 16
BETWEEN_NEIGHBOURS = 3
"""A between camera's partner is one of this many nearest cameras that look the same way."""
BETWEEN_SPAN = (0.25, 0.75)
"""Where on the way to its partner a between camera sits (1 camera: halfway)."""


def between_cameras(cameras: list[CameraSpec], seed: int = 0, per_camera: int = 1) -> list[CameraSpec]:
    """`per_camera` cameras between each camera and near neighbours that look the same way.

    Position and orientation (spherical) interpolated at a fraction of the way, the first camera's
    intrinsics. Held-out cameras of a rig lie between its training cameras, and so does where an artist
    looks from next. The partner is a random one of the BETWEEN_NEIGHBOURS nearest centres among the
    cameras whose view direction is within 60 degrees; with one camera each it sits halfway, with more
    they spread evenly over BETWEEN_SPAN (so that each sees the surface from another angle).
    """
    from scipy.spatial.transform import Rotation, Slerp

    rng = np.random.default_rng(seed)
    poses = [camera.pose() for camera in cameras]
    centres = np.array([pose[:3, 3] for pose in poses])
    forwards = np.array([-pose[:3, 2] for pose in poses])
    fractions = np.linspace(*BETWEEN_SPAN, per_camera) if per_camera > 1 else np.array([0.5])
    between = []
    for index, camera in enumerate(cameras):
        distance = np.linalg.norm(centres - centres[index], axis=1)
        similar = (forwards @ forwards[index] >= math.cos(math.radians(60))) & (distance > 0)
        if not similar.any():
            continue
        count = min(BETWEEN_NEIGHBOURS, int(similar.sum()))
        nearest = np.argsort(np.where(similar, distance, np.inf))[:count]
        for fraction in fractions:
            other = int(rng.choice(nearest))
            rotations = Rotation.from_matrix([poses[index][:3, :3], poses[other][:3, :3]])
            pose = np.eye(4)
            pose[:3, :3] = Slerp([0.0, 1.0], rotations)(fraction).as_matrix()
            pose[:3, 3] = (1 - fraction) * centres[index] + fraction * centres[other]
            between.append(replace(camera, camera_to_world=pose))
    return between


def between_count(cameras: list[CameraSpec], num_points: int) -> int:
    """Between cameras per training camera: BETWEEN_RAYS_PER_SPLAT rays per splat at the size of
    `cameras`, within 1 and BETWEEN_MAX_PER_CAMERA. Scenes whose views are small because every pixel is
    surface (a room seen from inside) get many; orbits of one object, whose views overlap, few."""
    pixels = sum(camera.width * camera.height for camera in cameras)
    wanted = BETWEEN_RAYS_PER_SPLAT * num_points / max(pixels, 1)
    return int(np.clip(round(wanted), 1, BETWEEN_MAX_PER_CAMERA))


def between_views(
    session: Any, views: list[SurfaceView], region: Region, num_points: int, seed: int = 0
) -> list[SurfaceView]:
    """The session rendered at `between_cameras` of its training views (the first of `views`), at their
    size, as many as `between_count` pays for. Their `keep` is every opaque pixel, unconfirmed: they are
    targets and hole sources for the splats' refinement, never splats by agreement."""
    trained = [view.camera for view in views[: len(session.training_cameras)]]
    return rendered_views(session, between_cameras(trained, seed, between_count(trained, num_points)), region)


def coverage_views(session: Any, views: list[SurfaceView], region: Region) -> list[SurfaceView]:
    """Surface views from the training cameras turned up and down, keeping only new, confirmed surface.

    A turned view's pixel is kept where it is opaque and in `region`, confirmed by MIN_AGREEING_VIEWS
    other views (training or turned: the fog test of `multi_view_agreement`), and not already kept by a
    training view at the same depth (so nothing is sampled twice and the detail stays the sharper views').
    """
    small = scaled_cameras([view.camera for view in views], TURN_SCALE)
    turned = rendered_views(session, turned_cameras(small), region)
    every = [*views, *turned]
    kept = [new_surface(view, every, len(views)) for view in turned]
    for view, keep in zip(turned, kept, strict=True):
        view.keep = keep
    return [view for view in turned if view.keep.any()]


def new_surface(view: SurfaceView, every: list[SurfaceView], trained: int) -> np.ndarray:
    """[H, W]: `view`'s kept pixels that MIN_AGREEING_VIEWS others in `every` confirm and none of its
    first `trained` (the training views) keeps already.

    Only views from other centres confirm: the views turned from one camera see anything at a fixed
    distance from it (a NeRF's backdrop) at about the same depth, which is no evidence of a surface."""
    points = view.world[view.keep]
    confirmations = np.zeros(len(points), np.int32)
    known = np.zeros(len(points), bool)
    centre = _centre(view)
    for index, other in enumerate(every):
        if other is view or not len(points):
            continue
        seen = view_lookup(points, other)[0]
        if not np.allclose(_centre(other), centre):
            confirmations += seen
        if index < trained:
            known |= seen
    keep = np.zeros_like(view.keep)
    keep[view.keep] = (confirmations >= MIN_AGREEING_VIEWS) & ~known
    return keep


def _centre(view: SurfaceView) -> np.ndarray:
    return np.asarray(view.camera.camera_to_world, np.float64)[:3, 3]
