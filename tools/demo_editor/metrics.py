"""Measures of whether an edit followed its instruction and kept the image's structure.

Images are float `[H, W, 3]` arrays in [0, 1]. Plain numpy so that the evaluation, the model card's
figures and the tests share one definition.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import rgb_to_hsv


def hue_share(
    image: np.ndarray,
    hue_degrees: float,
    tolerance: float = 30.0,
    min_saturation: float = 0.15,
    min_value: float = 0.1,
) -> float:
    """Share of all pixels that are coloured (saturation, value above the minimums) and within
    `tolerance` degrees of the hue. Greys, blacks and whites count as not of that hue."""
    hsv = rgb_to_hsv(np.clip(image, 0.0, 1.0))
    distance = np.abs((hsv[..., 0] * 360.0 - hue_degrees + 180.0) % 360.0 - 180.0)
    near = (distance <= tolerance) & (hsv[..., 1] >= min_saturation) & (hsv[..., 2] >= min_value)
    return float(near.mean())


def brightness(image: np.ndarray) -> float:
    """Mean of all channels."""
    return float(np.mean(image))


def warmth(image: np.ndarray) -> float:
    """Mean red minus mean blue: positive for warm (sunset) light."""
    return float(np.mean(image[..., 0]) - np.mean(image[..., 2]))


def _edge_magnitude(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the HSV value channel (max of RGB): edges that survive a recolour."""
    value = np.max(image, axis=-1).astype(np.float64)
    padded = np.pad(value, 1, mode="edge")
    gx = (padded[:-2, 2:] + 2 * padded[1:-1, 2:] + padded[2:, 2:]) - (
        padded[:-2, :-2] + 2 * padded[1:-1, :-2] + padded[2:, :-2]
    )
    gy = (padded[2:, :-2] + 2 * padded[2:, 1:-1] + padded[2:, 2:]) - (
        padded[:-2, :-2] + 2 * padded[:-2, 1:-1] + padded[:-2, 2:]
    )
    return np.hypot(gx, gy)


def edge_correlation(image: np.ndarray, reference: np.ndarray) -> float:
    """Pearson correlation of the two images' edge maps: 1 when every edge sits where it was.

    Scale-free, so a darkened image whose edges are intact still scores near 1.
    """
    a, b = _edge_magnitude(image).ravel(), _edge_magnitude(reference).ravel()
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(image, np.float64) - np.asarray(reference, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(-10.0 * np.log10(mse))
