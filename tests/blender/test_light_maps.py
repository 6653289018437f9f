"""The light maps' and Standard-view PNG's arithmetic (blender_in2n/light_maps.py, no Blender)."""

from __future__ import annotations

import numpy as np
import pytest

from blender_in2n import light_maps


def test_srgb_oetf_is_the_piecewise_curve_clipped_to_one() -> None:
    linear = np.array([-0.5, 0.0, 0.002, 0.0031308, 0.18, 0.5, 1.0, 4.0])
    expected = [0.0, 0.0, 0.02584, 0.04045, 0.46136, 0.73536, 1.0, 1.0]
    assert light_maps.srgb_oetf(linear) == pytest.approx(expected, abs=1e-5)


def test_colour_is_unpremultiplied_encoded_and_rounded_like_blender() -> None:
    """Premultiplied (0.09, 0.09, 0, 0.5) is 0.18 grey at half cover: sRGB 0.4614 -> 118; alpha 128."""
    combined = np.array([[[0.09, 0.09, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0], [2.0, 0.5, 0.0, 1.0]]])
    rgba = light_maps.encode_colour(combined, transparent=True)
    assert rgba.dtype == np.uint8 and rgba.shape == (1, 3, 4)
    assert rgba[0, 0].tolist() == [118, 118, 0, 128]
    assert rgba[0, 1].tolist() == [0, 0, 0, 0]  # nothing there
    assert rgba[0, 2].tolist() == [255, 188, 0, 255]  # over 1 clips
    opaque = light_maps.encode_colour(combined, transparent=False)
    assert opaque.shape == (1, 3, 3) and opaque[0, 0].tolist() == [85, 85, 0]  # premultiplied as it is


def test_light_map_sums_diffuse_light_and_gives_the_straight_glossy_part() -> None:
    ones = np.ones((1, 2, 3))
    alpha = np.array([[0.5, 0.0]])
    maps = light_maps.light_map(0.25 * ones, 0.5 * ones, 0.2 * ones, 0.1 * ones, 0.3 * ones, alpha)
    assert maps.dtype == np.float16 and maps.shape == (1, 2, 6)
    assert maps[0, 0].tolist() == pytest.approx([0.75] * 3 + [0.16] * 3, rel=1e-3)  # 0.2 x 0.4 / 0.5
    assert maps[0, 1, 3:].tolist() == [0.0] * 3  # no cover: no glossy part


def test_light_map_is_finite_and_non_negative() -> None:
    values = np.array([[[np.inf, -1.0, np.nan]]])
    zeros = np.zeros_like(values)
    maps = light_maps.light_map(values, zeros, values, values, zeros, np.ones((1, 1)))
    assert np.isfinite(maps).all() and (maps >= 0).all()
    assert float(maps[0, 0, 0]) == light_maps.FLOAT16_MAX
