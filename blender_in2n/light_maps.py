"""A capture view's colour and light maps from Cycles' linear passes (numpy only, no bpy).

The texture bake turns an edited colour back into an albedo (docs/protocol.md, *Light maps*): Cycles
composes a pixel's diffuse part as DiffCol x (DiffDir + DiffInd) and its glossy part as GlossCol x
(GlossDir + GlossInd), so a view carries the diffuse light and the glossy part beside its image. For that
division to be exact, the image must be the same render's Combined pass through a known transform: the
*Standard* view (the sRGB OETF, exposure 0, gamma 1, no look), encoded here rather than by Blender's
colour management, which follows the scene's view transform (AgX by default).
"""

from __future__ import annotations

import numpy as np

FLOAT16_MAX = 65504.0  # larger light values would become inf in the float16 light map


def srgb_oetf(linear: np.ndarray) -> np.ndarray:
    """The piecewise sRGB transfer function (IEC 61966-2-1) on values clipped to [0, 1]."""
    x = np.clip(np.asarray(linear, np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)


def straight(premultiplied: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Colour divided by alpha where there is coverage (0 where there is none): the PNG's straight alpha."""
    a = alpha[..., None]
    return np.where(a > 0.0, premultiplied / np.where(a > 0.0, a, 1.0), 0.0)


def encode_colour(combined: np.ndarray, transparent: bool) -> np.ndarray:
    """8-bit sRGB pixels (H x W x 4 with straight alpha, or H x W x 3 opaque) of a premultiplied linear
    RGBA Combined pass, as Blender writes a PNG through the Standard view (rounded, no dither)."""
    combined = np.asarray(combined, np.float64)
    alpha = np.clip(combined[..., 3], 0.0, 1.0)
    rgb = straight(combined[..., :3], alpha) if transparent else combined[..., :3]
    encoded = np.floor(srgb_oetf(rgb) * 255.0 + 0.5)
    if not transparent:
        return encoded.astype(np.uint8)
    return np.concatenate([encoded, np.floor(alpha * 255.0 + 0.5)[..., None]], axis=-1).astype(np.uint8)


def light_map(
    diffuse_direct: np.ndarray,
    diffuse_indirect: np.ndarray,
    glossy_colour: np.ndarray,
    glossy_direct: np.ndarray,
    glossy_indirect: np.ndarray,
    alpha: np.ndarray,
) -> np.ndarray:
    """float16 [H, W, 6]: the diffuse light (DiffDir + DiffInd) and the glossy part of the straight colour
    (GlossCol x (GlossDir + GlossInd), divided by alpha like the image's colour), non-negative.

    The light passes are already divided by their colour pass, so they do not scale with a pixel's
    coverage; the glossy product does, like Combined, hence the division by alpha.
    """
    diffuse = np.asarray(diffuse_direct, np.float64) + diffuse_indirect
    glossy_light = np.asarray(glossy_direct, np.float64) + glossy_indirect
    glossy = straight(np.asarray(glossy_colour, np.float64) * glossy_light, alpha)
    maps = np.concatenate([diffuse, glossy], axis=-1)
    maps = np.nan_to_num(maps, nan=0.0, posinf=FLOAT16_MAX, neginf=0.0)
    return np.clip(maps, 0.0, FLOAT16_MAX).astype(np.float16)
