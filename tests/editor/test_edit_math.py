"""The edit arithmetic against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from in2n_server.editor.edit_math import (
    combine_guidance,
    ddim_step,
    edit_timesteps,
    previous_alpha,
    start_timestep_range,
)


def test_start_timestep_range_is_the_bounds_times_1000() -> None:
    assert start_timestep_range(0.02, 0.98) == (20, 980)
    assert start_timestep_range(0.5, 0.5) == (500, 500)


@pytest.mark.parametrize("bounds", [(-0.1, 0.5), (0.6, 0.5), (0.2, 1.2)])
def test_start_timestep_range_rejects_bad_bounds(bounds: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="lower_bound"):
        start_timestep_range(*bounds)


def test_timesteps_are_spaced_start_over_steps_apart() -> None:
    # T = 500, 20 steps: stride 25, offset 1 -> 476, 451, ..., 26, 1.
    expected = [476 - 25 * i for i in range(20)]
    assert edit_timesteps(500, 20, steps_offset=1) == expected
    assert edit_timesteps(980, 20, steps_offset=1)[:3] == [932, 883, 834]
    assert edit_timesteps(40, 4) == [30, 20, 10, 0]


def test_timesteps_never_collapse_for_a_small_start() -> None:
    # T smaller than the number of steps still gives distinct, descending timesteps (stride >= 1).
    assert edit_timesteps(5, 10) == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]


def test_guidance_combination_by_hand() -> None:
    text, image, uncond = torch.tensor([3.0]), torch.tensor([2.0]), torch.tensor([1.0])
    # 1 + 7.5 * (3 - 2) + 1.5 * (2 - 1) = 10
    assert combine_guidance(text, image, uncond, 7.5, 1.5).item() == pytest.approx(10.0)
    # No guidance at all returns the unconditional prediction.
    assert combine_guidance(text, image, uncond, 0.0, 0.0).item() == pytest.approx(1.0)
    # Image guidance 1 and text guidance 1 give the fully conditioned prediction.
    assert combine_guidance(text, image, uncond, 1.0, 1.0).item() == pytest.approx(3.0)


def test_ddim_step_by_hand() -> None:
    sample, noise = torch.tensor([1.0]), torch.tensor([0.5])
    alpha_t, alpha_prev = torch.tensor(0.25), torch.tensor(0.64)
    clean = (1.0 - math.sqrt(0.75) * 0.5) / 0.5
    expected = 0.8 * clean + 0.6 * 0.5
    assert ddim_step(sample, noise, alpha_t, alpha_prev).item() == pytest.approx(expected, rel=1e-6)


def test_previous_alpha_uses_the_final_value_below_zero() -> None:
    alphas = torch.tensor([0.9, 0.8, 0.7])
    final = torch.tensor(0.95)
    assert previous_alpha(alphas, 1, final).item() == pytest.approx(0.8)
    assert previous_alpha(alphas, -24, final).item() == pytest.approx(0.95)
