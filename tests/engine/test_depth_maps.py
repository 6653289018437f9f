"""Depth maps resampled to another size: planes exact, surfaces never blended (engine/depth_maps.py)."""

from __future__ import annotations

import numpy as np

from in2n_server.engine.depth_maps import nearest_pixels, resampled_depth


def plane_depth(height: int, width: int, scale: float) -> np.ndarray:
    """Z-depth of one tilted plane seen by a camera whose pixel (col, row) has its centre at +0.5: its
    inverse depth is linear in the image coordinates (here in units of the coarsest image's pixels)."""
    rows = (np.arange(height) + 0.5) * scale
    cols = (np.arange(width) + 0.5) * scale
    return 1.0 / (0.2 + 0.002 * cols[None, :] + 0.003 * rows[:, None])


def test_a_plane_comes_out_exact_at_the_new_pixel_centres() -> None:
    coarse = plane_depth(12, 16, 1.0)
    fine = resampled_depth(coarse, 30, 40, same_surface=0.03)
    exact = plane_depth(30, 40, 12 / 30)
    inner = (slice(2, -2), slice(2, -2))  # the outer half pixel has no four neighbours to interpolate
    np.testing.assert_allclose(fine[inner], exact[inner], rtol=1e-5)
    assert np.abs(fine[inner] - exact[inner]).max() < np.abs(coarse.max() - coarse.min()) * 1e-4


def test_two_surfaces_are_never_blended_and_nothing_stays_nothing() -> None:
    coarse = np.full((8, 8), 2.0, np.float32)
    coarse[:, 4:] = 3.0  # an occlusion edge: 50% apart
    coarse[0, 0] = 0.0  # nothing was hit
    fine = resampled_depth(coarse, 24, 24, same_surface=0.03)
    assert set(np.unique(fine)) == {0.0, 2.0, 3.0}
    assert np.array_equal(fine == 0.0, np.kron(coarse == 0.0, np.ones((3, 3), bool)))


def test_same_size_is_unchanged_and_nearest_pixels_cover_pixel_centres() -> None:
    depth = np.random.default_rng(0).uniform(1, 2, (5, 7)).astype(np.float32)
    assert np.array_equal(resampled_depth(depth, 5, 7, 0.03), depth)
    assert nearest_pixels(3, 6).tolist() == [0, 0, 1, 1, 2, 2]
    assert nearest_pixels(6, 3).tolist() == [1, 3, 5]
