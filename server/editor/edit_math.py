"""The arithmetic of the in2n edit, written out so it can be read and unit-tested on tiny tensors.

InstructPix2Pix edits by denoising from a *partially* noised latent of the current render: a start
timestep T in [lower_bound, upper_bound] x 1000 decides how much of the render survives. The original
runs its `diffusion_steps` DDIM steps spaced `T // diffusion_steps` apart on the 1000-step noise
schedule (it shrinks the scheduler's training horizon to T, which keeps the 1000-step alphas).
"""

from __future__ import annotations

import math

import torch

# Stable Diffusion v1's latent scale: VAE latents are multiplied by it before diffusion.
LATENT_SCALE = 0.18215


def start_timestep_range(
    lower_bound: float, upper_bound: float, num_train_timesteps: int = 1000
) -> tuple[int, int]:
    """Inclusive range that the start timestep T is drawn from, uniformly."""
    if not 0.0 <= lower_bound <= upper_bound <= 1.0:
        raise ValueError(f"need 0 <= lower_bound <= upper_bound <= 1, got {lower_bound}, {upper_bound}")
    return int(num_train_timesteps * lower_bound), int(num_train_timesteps * upper_bound)


def edit_timesteps(start: int, num_steps: int, steps_offset: int = 0) -> list[int]:
    """DDIM timesteps for an edit that starts near `start`: `start // num_steps` apart, descending.

    For start=500, num_steps=20, offset=1: [476, 451, ..., 26, 1].
    """
    if num_steps < 1:
        raise ValueError(f"diffusion_steps must be at least 1, got {num_steps}")
    stride = max(1, start // num_steps)
    return [i * stride + steps_offset for i in reversed(range(num_steps))]


def steps_for_start(start: int, full_steps: int, full_start: int) -> int:
    """DDIM steps for an edit from timestep `start` at the step size of a `full_steps` edit from `full_start`.

    The original always takes `full_steps` steps, so an edit from little noise takes tiny steps it does not
    need; this keeps the stride of the full edit (at least one step). For full_steps=20, full_start=980:
    start 980 -> 20, 490 -> 10, 100 -> 3.
    """
    if full_steps < 1 or full_start < 1:
        raise ValueError(f"need full_steps >= 1 and full_start >= 1, got {full_steps}, {full_start}")
    stride = full_start / full_steps
    return max(1, min(full_steps, math.ceil(start / stride - 1e-9)))


def step_stride(timesteps: list[int]) -> int:
    """Distance between consecutive edit timesteps (the DDIM step size)."""
    return timesteps[0] - timesteps[1] if len(timesteps) > 1 else max(1, timesteps[0])


def combine_guidance(
    noise_text: torch.Tensor,
    noise_image: torch.Tensor,
    noise_uncond: torch.Tensor,
    guidance_scale: float,
    image_guidance_scale: float,
) -> torch.Tensor:
    """IP2P's two-way classifier-free guidance.

    `noise_text` is conditioned on text and image, `noise_image` on the image only, `noise_uncond` on
    neither: uncond + g_text * (text - image) + g_img * (image - uncond).
    """
    return (
        noise_uncond
        + guidance_scale * (noise_text - noise_image)
        + image_guidance_scale * (noise_image - noise_uncond)
    )


def ddim_step(
    sample: torch.Tensor, noise: torch.Tensor, alpha_cumprod_t: torch.Tensor, alpha_cumprod_prev: torch.Tensor
) -> torch.Tensor:
    """One deterministic DDIM step (eta = 0) for an epsilon-predicting model."""
    predicted_clean = (sample - (1 - alpha_cumprod_t).sqrt() * noise) / alpha_cumprod_t.sqrt()
    return alpha_cumprod_prev.sqrt() * predicted_clean + (1 - alpha_cumprod_prev).sqrt() * noise


def previous_alpha(
    alphas_cumprod: torch.Tensor, t_prev: int | torch.Tensor, final_alpha_cumprod: torch.Tensor
) -> torch.Tensor:
    """alpha_cumprod at the previous timestep (or per view, for a tensor of them); below zero the
    scheduler's final value is used."""
    t_prev = torch.as_tensor(t_prev, device=alphas_cumprod.device)
    final = final_alpha_cumprod.to(alphas_cumprod.device, alphas_cumprod.dtype)
    return torch.where(t_prev >= 0, alphas_cumprod[t_prev.clamp(min=0)], final)
