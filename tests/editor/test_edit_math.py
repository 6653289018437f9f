"""The edit arithmetic against values computed by hand, and the DDIM step against diffusers' own."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler

from in2n_server.editor.edit_math import (
    combine_guidance,
    ddim_step,
    edit_timesteps,
    previous_alpha,
    start_timestep_range,
    step_stride,
    steps_for_start,
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


def stable_diffusion_ddim() -> DDIMScheduler:
    """The scheduler InstructPix2Pix ships (Stable Diffusion v1's noise schedule)."""
    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


@pytest.mark.parametrize(("start", "num_steps"), [(1000, 1), (1000, 3), (1000, 20), (500, 20), (980, 7)])
def test_a_full_edit_matches_diffusers_ddim(start: int, num_steps: int) -> None:
    """The edit's timesteps are DDIMScheduler's, and each step (ours: alphas, previous alpha below zero,
    eta = 0) lands where `DDIMScheduler.step` does. A start T below 1000 is what the original in2n does
    to diffusers: it shrinks the scheduler's horizon to T and keeps the 1000-step alphas."""
    scheduler = stable_diffusion_ddim()
    scheduler.register_to_config(num_train_timesteps=start)  # the original's trick, reproduced
    scheduler.set_timesteps(num_steps)
    timesteps = edit_timesteps(start, num_steps, scheduler.config.steps_offset)
    assert timesteps == scheduler.timesteps.tolist()
    stride = step_stride(timesteps)
    generator = torch.Generator().manual_seed(0)
    ours = theirs = torch.randn(1, 4, 8, 8, generator=generator)
    for t in timesteps:
        noise = torch.randn(1, 4, 8, 8, generator=generator)  # stands in for the UNet's prediction
        alpha_prev = previous_alpha(scheduler.alphas_cumprod, t - stride, scheduler.final_alpha_cumprod)
        ours = ddim_step(ours, noise, scheduler.alphas_cumprod[t], alpha_prev)
        theirs = scheduler.step(noise, t, theirs, eta=0.0).prev_sample
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_previous_alpha_uses_the_final_value_below_zero() -> None:
    alphas = torch.tensor([0.9, 0.8, 0.7])
    final = torch.tensor(0.95)
    assert previous_alpha(alphas, 1, final).item() == pytest.approx(0.8)
    assert previous_alpha(alphas, -24, final).item() == pytest.approx(0.95)


def test_fewer_steps_keep_the_full_edits_step_size() -> None:
    assert [steps_for_start(start, 20, 980) for start in (980, 490, 100, 20, 1)] == [20, 10, 3, 1, 1]
    # Never more than the full count, whatever the start.
    assert steps_for_start(999, 20, 500) == 20
    for start in range(1, 981, 7):
        steps = steps_for_start(start, 20, 980)
        assert start / steps <= 980 / 20 + 1e-9  # the stride is never coarser than the full edit's
    with pytest.raises(ValueError, match="full_steps"):
        steps_for_start(100, 0, 980)
