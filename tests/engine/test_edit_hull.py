"""The hull of where an edit moved surfaces (engine/edit_hull.py), on hand-placed cameras on a ring around the
origin, each marked on a disc around its centre pixel."""

from __future__ import annotations

import numpy as np
import pytest

from in2n_server.engine.edit_hull import HULL_SHARE, MIN_VIEWS, hull_samples, in_hull
from in2n_server.engine.types import CameraSpec

SIZE = 17  # odd: the centre pixel's centre is on the optical axis


def _ring(count: int = 4, distance: float = 4.0) -> list[CameraSpec]:
    cameras = []
    for angle in np.linspace(0, 2 * np.pi, count, endpoint=False):
        centre = np.array([np.cos(angle), np.sin(angle), 0.0]) * distance
        back = centre / distance  # the camera looks down -Z: its Z axis points away from the origin
        up = np.array([0.0, 0.0, 1.0])
        right = np.cross(up, back)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, back, centre
        cameras.append(
            CameraSpec(
                fx=SIZE, fy=SIZE, cx=SIZE / 2, cy=SIZE / 2, width=SIZE, height=SIZE, camera_to_world=pose
            )
        )
    return cameras


def _disc(radius: float = 3.0) -> np.ndarray:
    rows, cols = np.mgrid[:SIZE, :SIZE] + 0.5
    return np.hypot(rows - SIZE / 2, cols - SIZE / 2) <= radius


def test_the_rule_as_documented() -> None:
    assert MIN_VIEWS == 2 and HULL_SHARE == 0.25  # the figures below are counted for these


def test_a_point_every_view_sees_released_is_in_and_one_outside_every_disc_is_not() -> None:
    cameras = _ring()
    released = {index: _disc() for index in range(4)}
    points = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.5], [0.2, -0.2, 0.3]])
    # The top point projects 1.5 / 4 * 17 = 6.4 px above every centre: outside the 3 px discs.
    assert in_hull(points, cameras, released).tolist() == [True, False, True]


def test_views_not_edited_count_against_and_one_view_is_not_enough() -> None:
    origin, nothing = np.zeros((1, 3)), np.zeros((SIZE, SIZE), dtype=bool)
    assert in_hull(origin, _ring(), {0: _disc(), 1: _disc()})[0]  # 2 of the 4 that see it
    assert not in_hull(origin, _ring(), {0: _disc()})[0]  # 1 view: fewer than MIN_VIEWS
    assert in_hull(origin, _ring(), {0: _disc(), 1: nothing, 2: nothing, 3: _disc()})[0]  # edited, 2 of 4
    ring = _ring(12)  # all twelve see the origin
    assert not in_hull(origin, ring, {0: _disc(), 6: _disc()})[0]  # 2 of 12: under a quarter
    assert in_hull(origin, ring, {0: _disc(), 4: _disc(), 8: _disc()})[0]  # 3 of 12: a quarter
    unchanged = {index: nothing for index in range(12)} | {0: _disc(), 4: _disc(), 8: _disc()}
    assert in_hull(origin, ring, unchanged)[0]  # edited or not, an unmarked view counts the same


def test_a_point_no_camera_sees_is_never_in() -> None:
    behind_all = np.array([[0.0, 0.0, 40.0]])  # far above the ring: outside every view
    assert not in_hull(behind_all, _ring(), {index: np.ones((SIZE, SIZE), bool) for index in range(4)})[0]


def test_samples_lie_in_the_hull_and_the_share_is_their_volume() -> None:
    cameras, released = _ring(), {index: _disc() for index in range(4)}
    box = np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    points, share = hull_samples(box, cameras, released, np.random.default_rng(0), candidates=20_000)
    assert len(points) == pytest.approx(share * 20_000)
    assert in_hull(points, cameras, released).all()
    assert np.all((points >= box[0]) & (points <= box[1]))
    # Every view's disc is a cone of radius 3 / 17 * 4 = 0.71 at the origin; two crossing pairs of them
    # leave a region around the z axis of about (2 * 0.71)^2 x 2 = 4 of the box's 8 (a loose bound).
    assert 0.1 < share < 0.6
    none, empty = hull_samples(box, cameras, {}, np.random.default_rng(0), candidates=1000)
    assert len(none) == 0 and empty == 0.0
