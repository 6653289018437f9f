"""Procedural training images in numpy: backgrounds (gradient, noise, stripes, checker) with 1–4 shapes.

They are cheap (thousands per second) and cover colours, edges and textures broadly, which is what the
edits act on; the Blender renders add the look of shaded 3D objects.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import hsv_to_rgb


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """A colour of any hue, mostly saturated, sometimes grey, never quite black."""
    saturation = 0.0 if rng.uniform() < 0.12 else rng.uniform(0.25, 1.0)
    return hsv_to_rgb(np.array([rng.uniform(), saturation, rng.uniform(0.3, 1.0)])).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Bilinearly upsampled random grid in [0, 1], `[size, size]`."""
    grid = rng.uniform(size=(cells + 1, cells + 1)).astype(np.float32)
    coords = np.linspace(0.0, cells, size, dtype=np.float32)
    low = np.minimum(coords.astype(int), cells - 1)
    frac = coords - low
    rows = grid[low] * (1 - frac)[:, None] + grid[low + 1] * frac[:, None]
    return rows[:, low] * (1 - frac)[None, :] + rows[:, low + 1] * frac[None, :]


def _background(rng: np.random.Generator, size: int, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    first, second = _random_colour(rng), _random_colour(rng)
    kind = rng.integers(5)
    if kind == 0:  # flat
        weight = np.zeros((size, size), dtype=np.float32)
    elif kind == 1:  # linear gradient
        angle = rng.uniform(0, 2 * np.pi)
        weight = 0.5 + 0.5 * (np.cos(angle) * x + np.sin(angle) * y)
    elif kind == 2:  # smooth noise
        weight = _smooth_noise(rng, size, int(rng.integers(2, 6)))
    elif kind == 3:  # stripes
        angle = rng.uniform(0, np.pi)
        weight = (np.sin((np.cos(angle) * x + np.sin(angle) * y) * rng.uniform(4, 14)) > 0).astype(np.float32)
    else:  # checker
        cells = rng.uniform(3, 8)
        weight = ((np.floor((x + 1) * cells) + np.floor((y + 1) * cells)) % 2).astype(np.float32)
    return first + (second - first) * weight[..., None]


def _shape_mask(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Boolean mask of a circle, ellipse, rectangle or triangle at a random place."""
    cy, cx = rng.uniform(-0.7, 0.7, size=2)
    radius = rng.uniform(0.15, 0.5)
    kind = rng.integers(4)
    if kind == 0:
        return (y - cy) ** 2 + (x - cx) ** 2 < radius**2
    if kind == 1:
        angle = rng.uniform(0, np.pi)
        u = np.cos(angle) * (x - cx) + np.sin(angle) * (y - cy)
        v = -np.sin(angle) * (x - cx) + np.cos(angle) * (y - cy)
        return (u / radius) ** 2 + (v / (radius * rng.uniform(0.3, 0.9))) ** 2 < 1
    if kind == 2:
        half_h, half_w = radius * rng.uniform(0.4, 1.0, size=2)
        return (np.abs(y - cy) < half_h) & (np.abs(x - cx) < half_w)
    corners = rng.uniform(-1, 1, size=(3, 2)) * radius * 1.5 + np.array([cy, cx])
    signs = []
    for i in range(3):
        (ay, ax), (by, bx) = corners[i], corners[(i + 1) % 3]
        signs.append((bx - ax) * (y - ay) - (by - ay) * (x - ax) > 0)
    return (signs[0] == signs[1]) & (signs[1] == signs[2])


def _shape_fill(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    colour = _random_colour(rng)
    style = rng.integers(3)
    if style == 0:  # flat
        return np.broadcast_to(colour, (*y.shape, 3))
    if style == 1:  # shaded like a lit ball: bright towards a light direction
        light = rng.uniform(-1, 1, size=2)
        shade = np.clip(0.65 + 0.35 * (light[0] * y + light[1] * x), 0.25, 1.0)
        return colour * shade[..., None]
    other = _random_colour(rng)
    stripes = (np.sin((x + y) * rng.uniform(8, 20)) > 0)[..., None]
    return np.where(stripes, colour, other)


def procedural_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """One random image, float32 `[size, size, 3]` in [0, 1]."""
    y, x = np.meshgrid(np.linspace(-1, 1, size, dtype=np.float32), np.linspace(-1, 1, size, dtype=np.float32))
    y, x = y.T, x.T
    image = _background(rng, size, y, x)
    for _ in range(int(rng.integers(1, 5))):
        mask = _shape_mask(rng, y, x)
        image = np.where(mask[..., None], _shape_fill(rng, y, x), image)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def procedural_images(count: int, size: int, seed: int) -> np.ndarray:
    """`count` images, float32 `[count, size, size, 3]`, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return np.stack([procedural_image(rng, size) for _ in range(count)])
