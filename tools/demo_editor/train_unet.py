"""Train the demo editor's UNet and text encoder on pre-encoded (source, edited) latent pairs.

InstructPix2Pix's objective: predict the noise added to the edited image's latent, given the noisy latent
concatenated with the source image's latent and the instruction's embedding. Conditioning dropout (5%
text only, 5% image only, 5% both) teaches the unconditional predictions that classifier-free guidance
with two scales needs. Min-SNR-5 loss weighting and an EMA of the weights help a short run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from tools.demo_editor.data import EditPairs, apply_edit
from tools.demo_editor.edits import EDITS
from tools.demo_editor.models import LATENT_SCALE, MAX_TOKENS
from tools.demo_editor.phase import Phase
from tools.demo_editor.train_vae import to_tensor


@dataclass
class LatentPairs:
    """Encoded training pairs of one image size."""

    source_latents: torch.Tensor  # [S, 4, h, w] VAE mode, unscaled (IP2P's image conditioning)
    target_mean: torch.Tensor  # [P, 4, h, w] posterior mean of the edited image, unscaled
    target_std: torch.Tensor  # [P, 4, h, w]
    source_index: torch.Tensor  # [P]
    edit_index: torch.Tensor  # [P]


@torch.no_grad()
def encode_pairs(
    vae: AutoencoderKL, images: np.ndarray, pairs: EditPairs, seed: int, chunk: int = 64
) -> LatentPairs:
    """Encode every source once and every edited image (edit made here, random strength) once."""
    rng = np.random.default_rng(seed)
    sources = [
        vae.encode(to_tensor(images[i : i + chunk])).latent_dist.mode() for i in range(0, len(images), chunk)
    ]
    means, stds = [], []
    for start in range(0, len(pairs.source_index), chunk):
        batch = [
            apply_edit(images[s], int(e), rng)
            for s, e in zip(
                pairs.source_index[start : start + chunk],
                pairs.edit_index[start : start + chunk],
                strict=True,
            )
        ]
        posterior = vae.encode(to_tensor(np.stack(batch))).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
    return LatentPairs(
        torch.cat(sources),
        torch.cat(means),
        torch.cat(stds),
        torch.from_numpy(pairs.source_index),
        torch.from_numpy(pairs.edit_index),
    )


class PromptBank:
    """Token ids of every phrasing, grouped by edit, plus the empty prompt used for dropout."""

    def __init__(self, tokenizer: CLIPTokenizer) -> None:
        def ids(texts: list[str]) -> torch.Tensor:
            return tokenizer(
                texts, padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt"
            ).input_ids

        self.by_edit = [ids(list(edit.phrasings)) for edit in EDITS]
        self.empty = ids([""])[0]

    def sample(
        self, edit_index: torch.Tensor, drop_text: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        rows = []
        for edit, drop in zip(edit_index.tolist(), drop_text.tolist(), strict=True):
            options = self.by_edit[edit]
            choice = int(torch.randint(len(options), (1,), generator=generator))
            rows.append(self.empty if drop else options[choice])
        return torch.stack(rows)


class EMA:
    """Exponential moving average of parameters (what gets saved)."""

    def __init__(self, modules: list[torch.nn.Module], decay: float) -> None:
        self.params = [p for m in modules for p in m.parameters()]
        self.shadow = [p.detach().clone() for p in self.params]
        self.decay = decay

    @torch.no_grad()
    def update(self, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1 - decay)

    @torch.no_grad()
    def copy_to_model(self) -> None:
        for param, shadow in zip(self.params, self.shadow, strict=True):
            param.copy_(shadow)


@dataclass
class UNetTraining:
    """The models and state shared by the phases of UNet training."""

    unet: UNet2DConditionModel
    text_encoder: CLIPTextModel
    prompts: PromptBank
    noise_scheduler: DDPMScheduler
    ema: EMA
    generator: torch.Generator
    global_step: int = 0

    def loss(self, data: LatentPairs, batch: int, crop: int = 0) -> torch.Tensor:
        """One batch's loss; `crop` > 0 trains on a random `crop`² window of the latents (one per batch):
        the edits are global, the UNet fully convolutional, and a window costs a fraction of the whole."""
        g = self.generator
        pick = torch.randint(len(data.edit_index), (batch,), generator=g)
        mean, std = data.target_mean[pick], data.target_std[pick]
        condition = data.source_latents[data.source_index[pick]]
        size = mean.shape[-1]
        if 0 < crop < size:
            top, left = (int(v) for v in torch.randint(size - crop + 1, (2,), generator=g))
            window = (..., slice(top, top + crop), slice(left, left + crop))
            mean, std, condition = mean[window], std[window], condition[window]
        target = (mean + std * torch.randn(mean.shape, generator=g)) * LATENT_SCALE
        # 1. Conditioning dropout: 5% text only, 5% image only, 5% both.
        r = torch.rand(batch, generator=g)
        drop_text = (r < 0.05) | ((r >= 0.10) & (r < 0.15))
        drop_image = (r >= 0.05) & (r < 0.15)
        condition = condition * (~drop_image).float()[:, None, None, None]
        tokens = self.prompts.sample(data.edit_index[pick], drop_text, g)
        # 2. Noise the edited latent at a random timestep; predict the noise.
        noise = torch.randn(target.shape, generator=g)
        timesteps = torch.randint(self.noise_scheduler.config.num_train_timesteps, (batch,), generator=g)
        noisy = self.noise_scheduler.add_noise(target, noise, timesteps)
        text = self.text_encoder(tokens).last_hidden_state
        prediction = self.unet(torch.cat([noisy, condition], dim=1), timesteps, text).sample
        # 3. Min-SNR-5 weighting (for an epsilon objective: min(snr, 5) / snr).
        alphas = self.noise_scheduler.alphas_cumprod[timesteps]
        snr = alphas / (1 - alphas)
        weight = torch.clamp(snr, max=5.0) / snr
        per_sample = F.mse_loss(prediction, noise, reduction="none").mean(dim=(1, 2, 3))
        return (weight * per_sample).mean()


def run_phase(
    training: UNetTraining,
    phase: Phase,
    optimizer: torch.optim.Optimizer,
    base_lr: float,
    schedule: list[tuple[LatentPairs, int, int]],
    warmup: int = 100,
) -> dict[str, float]:
    """Train for the phase's steps, cycling through `schedule` ((data, batch size, latent crop) per step)."""
    training.unet.train()
    training.text_encoder.train()
    step = 0
    while step < phase.total:
        for group in optimizer.param_groups:
            group["lr"] = base_lr * phase.lr_factor(step, warmup=warmup)
        data, batch, crop = schedule[step % len(schedule)]
        loss = training.loss(data, batch, crop)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(optimizer.param_groups[0]["params"], 1.0)
        optimizer.step()
        training.ema.update(training.global_step)
        training.global_step += 1
        phase.after_step(step, float(loss))
        step += 1
    return phase.summary()
