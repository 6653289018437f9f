"""The texture bake against hand-computed cases: UV rasterisation, seam padding, gathering from views."""

from __future__ import annotations

import numpy as np
import pytest

from in2n_server.engine.types import CameraSpec
from in2n_server.export import texture_bake as tb


def _square(z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The unit square [0, 1]² at height z as two triangles, UVs = (x, y), normal +Z."""
    positions = np.array([[[0, 0, z], [1, 0, z], [1, 1, z]], [[0, 0, z], [1, 1, z], [0, 1, z]]], float)
    return positions, positions[..., :2].copy()


def test_a_full_square_covers_every_texel_once_with_its_point() -> None:
    positions, uvs = _square()
    texels = tb.rasterise_uv(positions, uvs, 4)
    assert texels.count == 16 and texels.covered().all()
    # texel (row 0, col 0) is UV (0.125, 0.875): the top-left of the image is v = 1
    first = np.nonzero((texels.rows == 0) & (texels.cols == 0))[0][0]
    np.testing.assert_allclose(texels.points[first], [0.125, 0.875, 0.0])
    np.testing.assert_allclose(texels.normals, np.tile([0, 0, 1.0], (16, 1)))
    assert texels.outside_uv_share == 0.0


def test_a_triangle_covers_the_texel_centres_inside_it() -> None:
    # the lower-left half of an 8x8 texture, diagonal from UV (0, 0) to (1, 1): centres with u > v are out
    positions = np.array([[[0, 0, 0], [1, 0, 0], [1, 1, 0]]], float)
    texels = tb.rasterise_uv(positions, positions[..., :2], 8)
    u = (texels.cols + 0.5) / 8
    v = 1 - (texels.rows + 0.5) / 8
    assert np.all(u >= v - 1e-12)
    assert texels.count == 8 * 9 // 2  # 28 strictly below the diagonal + 8 centres on it


def test_padding_crosses_seams_and_unseen_texels_are_filled_and_counted() -> None:
    # one triangle in the left half of the texture; views see only the points with x < 0.25
    positions = np.array([[[0, 0, 0], [0.5, 0, 0], [0, 1, 0]]], float)
    texels = tb.rasterise_uv(positions, positions[..., :2], 16)
    colour = np.where(texels.points[:, :1] < 0.25, [1.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    seen = texels.points[:, 0] < 0.25
    gathered = tb.Gathered(colour * seen[:, None], seen.astype(float), np.ones(texels.count, bool))
    baked = tb.texture_image(texels, gathered)
    assert baked.visible_seen_share == pytest.approx(seen.mean())  # every texel is visible here
    assert baked.seen_share == pytest.approx(seen.mean()) and baked.filled_share == pytest.approx(
        1 - seen.mean()
    )
    # unseen texels take the nearest seen colour (red), and so does the padding outside the island
    assert np.allclose(baked.image[texels.rows, texels.cols], [1, 0, 0])
    assert np.allclose(baked.image[:, -1], [1, 0, 0])


def test_gather_reads_a_known_image_through_a_camera_with_depth_test() -> None:
    """A camera looking straight down at the square; the image is a left/right split, so the texture is."""
    positions, uvs = _square()
    texels = tb.rasterise_uv(positions, uvs, 8)
    size = 32
    pose = np.eye(4)
    pose[:3, 3] = [0.5, 0.5, 2.0]  # looks down -Z at the square's centre
    camera = CameraSpec(
        fx=size, fy=size, cx=size / 2, cy=size / 2, width=size, height=size, camera_to_world=pose
    )
    image = np.zeros((size, size, 3))
    image[:, : size // 2] = [1, 0, 0]
    image[:, size // 2 :] = [0, 1, 0]
    depth = np.full((size, size), 2.0)
    gathered = tb.gather(texels, [tb.BakeView(camera, image, depth)])
    assert gathered.seen.all()
    colours = gathered.colours()
    left = texels.points[:, 0] < 0.5
    assert np.allclose(colours[left], [1, 0, 0]) and np.allclose(colours[~left], [0, 1, 0])
    # an occluder in front (depth 1 instead of 2) hides the surface: nothing is gathered
    hidden = tb.gather(texels, [tb.BakeView(camera, image, np.full((size, size), 1.0))])
    assert not hidden.seen.any()
    # a view of the back face samples nothing either
    below = pose.copy()
    below[:3, :3] = np.diag([1.0, -1.0, -1.0])
    below[2, 3] = -2.0
    back = tb.gather(
        texels, [tb.BakeView(CameraSpec(size, size, size / 2, size / 2, size, size, below), image, depth)]
    )
    assert not back.seen.any()


def test_srgb_round_trip() -> None:
    values = np.linspace(0, 1, 101)
    np.testing.assert_allclose(tb.linear_to_srgb(tb.srgb_to_linear(values)), values, atol=1e-12)
    assert tb.srgb_to_linear(np.array([0.5]))[0] == pytest.approx(0.21404, abs=1e-4)
