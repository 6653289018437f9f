"""Image quality against the edited reference: PSNR and SSIM (LPIPS only where real weights exist), and
the silhouette IoU of a NeRF's opacity against a reference's alpha.

Written out here rather than taken from torchmetrics so that the definition is visible: PSNR over all pixels
and channels with peak 1; SSIM with the usual 11-tap Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03,
computed per channel on valid (unpadded) windows and averaged.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of `[H, W, 3]` images in [0, 1] (peak 1)."""
    _check_pair(image, reference)
    mse = float(np.mean((np.asarray(image, np.float64) - np.asarray(reference, np.float64)) ** 2))
    return math.inf if mse == 0.0 else -10.0 * math.log10(mse)


def ssim(image: np.ndarray, reference: np.ndarray, *, window: int = 11, sigma: float = 1.5) -> float:
    """Structural similarity of `[H, W, 3]` images in [0, 1] (mean over channels and valid windows)."""
    _check_pair(image, reference)
    window = min(window, *image.shape[:2])
    x = torch.from_numpy(np.asarray(image, np.float64)).permute(2, 0, 1)[:, None]  # [3, 1, H, W]
    y = torch.from_numpy(np.asarray(reference, np.float64)).permute(2, 0, 1)[:, None]
    taps = torch.arange(window, dtype=torch.float64) - (window - 1) / 2
    g = torch.exp(-(taps**2) / (2 * sigma**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :])[None, None]  # [1, 1, k, k]

    def blur(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(z, kernel)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def mean_scores(images: list[np.ndarray], references: list[np.ndarray]) -> dict[str, float]:
    """Mean PSNR and SSIM over paired views (PSNR averaged in dB, per view, as NeRF papers report it)."""
    if len(images) != len(references) or not images:
        raise ValueError(
            f"images/references: expected equal non-zero counts, got {len(images)} and {len(references)}"
        )
    return {
        "psnr": float(np.mean([psnr(a, b) for a, b in zip(images, references, strict=True)])),
        "ssim": float(np.mean([ssim(a, b) for a, b in zip(images, references, strict=True)])),
    }


def silhouette_iou(opacities: list[np.ndarray], alphas: list[np.ndarray], regions: list[np.ndarray]) -> float:
    """IoU of `opacities > 0.5` and `alphas > 0.5` (each [H, W]) inside `regions` ([H, W] bool), pooled over
    the views (summed intersections over summed unions); 1.0 when both are empty everywhere."""
    intersection = union = 0
    for opacity, alpha, region in zip(opacities, alphas, regions, strict=True):
        a, b = (np.asarray(opacity) > 0.5) & region, (np.asarray(alpha) > 0.5) & region
        intersection += int(np.sum(a & b))
        union += int(np.sum(a | b))
    return 1.0 if union == 0 else intersection / union


def _check_pair(image: np.ndarray, reference: np.ndarray) -> None:
    if image.shape != reference.shape or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"image/reference: expected two [H, W, 3] arrays, got {image.shape} and {reference.shape}"
        )
