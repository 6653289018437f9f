"""Train the demo editor's autoencoder, then fold SD's latent scale into its weights.

The VAE is the quality bottleneck of a model this small, so its loss favours sharp edges (L1 on image
gradients beside L1 + MSE); its last steps train the decoder alone, on the frozen encoder's latents,
which is all the diffusion model will ever hand it. It sees edited images too (dark night scenes, vivid
recolours), since it must encode and decode those as well as the sources.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL

from tools.demo_editor.data import SourceImages, apply_edit
from tools.demo_editor.edits import EDITS
from tools.demo_editor.metrics import edge_correlation, psnr
from tools.demo_editor.models import LATENT_SCALE
from tools.demo_editor.phase import Phase
from tools.demo_editor.procedural import procedural_images


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """`[N, H, W, 3]` in [0, 1] → `[N, 3, H, W]` in [-1, 1], as diffusers' VAEs expect."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2) * 2.0 - 1.0


def _crop_batch(sources: SourceImages, size: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """`batch` random `size`² crops from both image sizes, half of them edited, some mirrored."""
    crops = []
    for _ in range(batch):
        pool = sources.images_64 if rng.uniform() < 0.5 else sources.images_128
        image = pool[rng.integers(len(pool))]
        top, left = rng.integers(0, image.shape[0] - size + 1, size=2)
        crop = image[top : top + size, left : left + size]
        if rng.uniform() < 0.5:
            crop = apply_edit(crop, int(rng.integers(len(EDITS))), rng)
        crops.append(crop[:, ::-1] if rng.uniform() < 0.5 else crop)
    return np.stack(crops)


def _gradient_l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    loss_x = (output[..., :, 1:] - output[..., :, :-1] - (target[..., :, 1:] - target[..., :, :-1])).abs()
    loss_y = (output[..., 1:, :] - output[..., :-1, :] - (target[..., 1:, :] - target[..., :-1, :])).abs()
    return loss_x.mean() + loss_y.mean()


def train_vae(
    vae: AutoencoderKL,
    sources: SourceImages,
    max_steps: int,
    budget_s: float,
    seed: int,
    batch: int = 24,
    crop: int = 32,
    decoder_only_share: float = 0.3,
) -> dict[str, float]:
    """Train in place; returns the phase summary (steps actually run, seconds)."""
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    phase = Phase("vae", max_steps, budget_s)
    vae.train()
    step = 0
    while step < phase.total:
        decoder_only = step >= phase.total * (1 - decoder_only_share)
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * phase.lr_factor(step, warmup=50)
        images = to_tensor(_crop_batch(sources, crop, batch, rng))
        with torch.set_grad_enabled(not decoder_only):
            posterior = vae.encode(images).latent_dist
            latents = posterior.sample()
        output = vae.decode(latents.detach() if decoder_only else latents).sample
        loss = F.l1_loss(output, images) + F.mse_loss(output, images) + 0.5 * _gradient_l1(output, images)
        if not decoder_only:
            loss = loss + 1e-4 * posterior.kl().mean() / latents[0].numel()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        phase.after_step(step, float(loss.detach()))
        step += 1
    vae.eval()
    return phase.summary()


@torch.no_grad()
def fold_latent_scale(vae: AutoencoderKL, images: np.ndarray) -> float:
    """Rescale the latent space so that latents × 0.18215 have unit variance, as SD's do.

    The encoder's mean (and std) are multiplied by k and the decoder's first layer divided by k, so the
    autoencoder's output is unchanged; returns k.
    """
    means = torch.cat(
        [vae.encode(to_tensor(images[i : i + 64])).latent_dist.mean for i in range(0, len(images), 64)]
    )
    k = (1.0 / LATENT_SCALE) / float(means.std())
    channels = vae.config.latent_channels
    vae.quant_conv.weight[:channels] *= k
    vae.quant_conv.bias[:channels] *= k
    vae.quant_conv.bias[channels:] += 2.0 * float(np.log(k))
    vae.post_quant_conv.weight *= 1.0 / k
    return k


@torch.no_grad()
def roundtrip(vae: AutoencoderKL, images: np.ndarray) -> np.ndarray:
    """Encode (posterior mode, as IP2P's image conditioning) and decode: float32 `[N, H, W, 3]`."""
    decoded = vae.decode(vae.encode(to_tensor(images)).latent_dist.mode()).sample
    return ((decoded.permute(0, 2, 3, 1).numpy() + 1.0) / 2.0).clip(0.0, 1.0)


def roundtrip_report(vae: AutoencoderKL, seed: int, count: int = 8) -> dict[str, dict[str, float]]:
    """Mean reconstruction PSNR and edge correlation on held-out procedural images at 64² and 128²:
    the ceiling of what any edit through this autoencoder can keep."""
    report = {}
    for size in (64, 128):
        images = procedural_images(count, size, seed + size)
        report[str(size)] = roundtrip_scores(images, roundtrip(vae, images))
    return report


def roundtrip_scores(images: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    return {
        "psnr": round(float(np.mean([psnr(d, i) for d, i in zip(decoded, images, strict=True)])), 2),
        "edge_correlation": round(
            float(np.mean([edge_correlation(d, i) for d, i in zip(decoded, images, strict=True)])), 3
        ),
    }
