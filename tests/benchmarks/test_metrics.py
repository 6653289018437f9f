"""PSNR and SSIM against hand-computed values and scikit-image's implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.fusion.metrics import mean_scores, psnr, silhouette_iou, ssim


def test_psnr_of_a_known_error() -> None:
    a = np.zeros((8, 8, 3), np.float32)
    assert psnr(a + 0.1, a) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01 -> 20 dB
    assert psnr(a, a) == math.inf


def test_ssim_is_one_for_identical_and_lower_for_noisy() -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (32, 32, 3)).astype(np.float32)
    assert ssim(image, image) == pytest.approx(1.0)
    noisy = np.clip(image + rng.normal(0, 0.2, image.shape), 0, 1).astype(np.float32)
    assert ssim(noisy, image) < 0.9


def test_ssim_matches_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, (40, 40, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    expected = metrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=2
    )
    assert ssim(a, b) == pytest.approx(expected, abs=1e-6)


def test_mean_scores_checks_its_inputs() -> None:
    a = np.zeros((8, 8, 3))
    scores = mean_scores([a + 0.1, a + 0.01], [a, a])
    assert scores["psnr"] == pytest.approx(30.0)  # dB averaged per view: (20 + 40) / 2
    with pytest.raises(ValueError, match="images/references"):
        mean_scores([a], [])


def test_silhouette_iou_counts_only_inside_the_regions_and_pools_the_views() -> None:
    opacity, alpha = np.zeros((4, 4)), np.zeros((4, 4))
    opacity[:2] = 0.9  # rows 0-1 opaque
    alpha[1:3] = 0.8  # rows 1-2 in the reference
    everywhere = np.ones((4, 4), bool)
    assert silhouette_iou([opacity], [alpha], [everywhere]) == pytest.approx(4 / 12)
    rows_1_3 = np.zeros((4, 4), bool)
    rows_1_3[1:] = True  # the region leaves out row 0, where only the opacity is
    assert silhouette_iou([opacity], [alpha], [rows_1_3]) == pytest.approx(4 / 8)
    # pooled: a perfect second view of 16 pixels weighs by its pixels, not as one view of two
    assert silhouette_iou([opacity, everywhere * 1.0], [alpha, everywhere * 1.0], [everywhere] * 2) == (
        pytest.approx(20 / 28)
    )
    assert silhouette_iou([opacity * 0], [alpha * 0], [everywhere]) == 1.0
