"""The edits the demo editor learns: exact image operations in numpy, each with its instruction phrasings.

Every edit takes a random strength per sample, so one instruction maps to a spread of plausible results,
as a real InstructPix2Pix edit does; the spread is what makes two seeds of the trained editor disagree in
detail, and the Iterative Dataset Update exists to reconcile such disagreements in 3D.
Images are float32 `[H, W, 3]` in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

# Target hues of the colour edits, in degrees (the tests measure the share of pixels within 30° of these).
COLOUR_HUES = {"red": 0.0, "yellow": 55.0, "green": 120.0, "blue": 230.0, "purple": 280.0}

COLOUR_TEMPLATES = (
    "make it {c}",
    "turn it {c}",
    "make everything {c}",
    "turn everything {c}",
    "paint it {c}",
    "color it {c}",
    "colour it {c}",
    "make the scene {c}",
    "turn the scene {c}",
    "give it a {c} tint",
    "change the color to {c}",
    "recolor it {c}",
    "make the colors {c}",
    "make it look {c}",
    "{c}",
    "make the objects {c}",
)

PHRASINGS: dict[str, tuple[str, ...]] = {
    **{name: tuple(t.format(c=name) for t in COLOUR_TEMPLATES) for name in COLOUR_HUES},
    "darker": (
        "make it darker",
        "darken it",
        "make the scene darker",
        "darker",
        "make everything darker",
        "lower the brightness",
        "make it dim",
        "dim the scene",
        "turn down the lights",
        "make it look darker",
        "reduce the exposure",
        "darken the image",
        "make it less bright",
        "make it darker please",
    ),
    "brighter": (
        "make it brighter",
        "brighten it",
        "make the scene brighter",
        "brighter",
        "make everything brighter",
        "raise the brightness",
        "make it lighter",
        "light up the scene",
        "turn up the lights",
        "make it look brighter",
        "increase the exposure",
        "brighten the image",
        "make it less dark",
        "make it brighter please",
    ),
    "night": (
        "make it night",
        "turn it into night",
        "make it nighttime",
        "night",
        "make it look like night",
        "as if it were night",
        "turn day into night",
        "make it a night scene",
        "at night",
        "make it midnight",
        "it is night now",
        "night time",
        "make it dark night",
        "show it at night",
    ),
    "sunset": (
        "make it sunset",
        "turn it into a sunset",
        "at sunset",
        "sunset",
        "make it look like sunset",
        "as if at sunset",
        "give it sunset lighting",
        "make it a sunset scene",
        "make it golden hour",
        "golden hour",
        "make it dusk",
        "warm sunset light",
        "evening sun",
        "show it at sunset",
    ),
}

# Phrasings never used in training, for measuring how far the editor generalises beyond its phrasings.
UNSEEN_PHRASINGS = {
    "blue": "could you turn the whole picture blue",
    "red": "i want it red",
    "darker": "can you make the picture darker",
    "night": "change the time to night",
    "sunset": "put it in sunset light",
}


def _luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma, `[H, W, 1]`."""
    return (image @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]


def recolour(image: np.ndarray, hue_degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Set every pixel's hue to the target (±5°) and raise saturation, so greys take the colour too."""
    hsv = rgb_to_hsv(np.clip(image, 0.0, 1.0))
    hsv[..., 0] = ((hue_degrees + rng.normal(0.0, 5.0)) / 360.0) % 1.0
    boost = rng.uniform(0.35, 0.75)
    hsv[..., 1] = hsv[..., 1] + (1.0 - hsv[..., 1]) * boost
    return hsv_to_rgb(hsv).astype(np.float32)


def darker(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale all values down (exposure), by a factor between 0.3 and 0.55."""
    return (image * rng.uniform(0.3, 0.55)).astype(np.float32)


def brighter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma-lift the image (dark tones rise most, white stays white)."""
    return np.power(np.clip(image, 0.0, 1.0), rng.uniform(0.4, 0.65)).astype(np.float32)


def night(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Desaturate, darken strongly and tint blue: moonlight."""
    grey = _luminance(image)
    faded = image + (grey - image) * rng.uniform(0.4, 0.7)
    tint = np.array([0.55, 0.75, 1.35], dtype=np.float32)
    return np.clip(faded * tint * rng.uniform(0.2, 0.35), 0.0, 1.0).astype(np.float32)


def sunset(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Warm orange light, strongest at the top (the sky), with a slight overall darkening."""
    height = image.shape[0]
    row = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    warmth = rng.uniform(0.6, 1.0)
    top = np.array([1.3, 0.75, 0.45], dtype=np.float32)
    bottom = np.array([1.1, 0.7, 0.55], dtype=np.float32)
    tint = 1.0 + ((top + (bottom - top) * row) - 1.0) * warmth
    glow = np.array([1.0, 0.45, 0.15], dtype=np.float32) * (1.0 - row) * 0.15 * warmth
    return np.clip(image * tint * rng.uniform(0.8, 0.95) + glow, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Edit:
    """One learnable edit: a name, what it does to an image, and how people ask for it."""

    name: str
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    phrasings: tuple[str, ...]


def _colour_edit(name: str) -> Edit:
    hue = COLOUR_HUES[name]
    return Edit(name, lambda image, rng: recolour(image, hue, rng), PHRASINGS[name])


EDITS: tuple[Edit, ...] = (
    *(_colour_edit(name) for name in COLOUR_HUES),
    Edit("darker", darker, PHRASINGS["darker"]),
    Edit("brighter", brighter, PHRASINGS["brighter"]),
    Edit("night", night, PHRASINGS["night"]),
    Edit("sunset", sunset, PHRASINGS["sunset"]),
)
EDITS_BY_NAME = {edit.name: edit for edit in EDITS}
