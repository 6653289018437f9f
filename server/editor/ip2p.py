"""The InstructPix2Pix editor: the paper's edit of one training view, on diffusers components.

The render is what gets noised and denoised; the *original* photo is the image conditioning. Repeated
edits therefore pull every view towards an edit of the same original scene, which is what lets the
Iterative Dataset Update converge to one 3D-consistent result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler

from in2n_protocol import edit_params

from .edit_math import (
    LATENT_SCALE,
    combine_guidance,
    ddim_step,
    edit_timesteps,
    previous_alpha,
    start_timestep_range,
    step_stride,
    steps_for_start,
)
from .joint_attention import JOINT_LAYERS, JOINT_MODES, MAX_JOINT_VIEWS, joint_attention

MODEL_TUNED = tuple(n for n in edit_params.EDITOR_FIELDS if n in edit_params.model_tuned_fields())
"""The editor's settings whose job value may be unset ("the model's"): the editor takes them resolved."""


@dataclass(frozen=True)
class EditSettings:
    """What one edit call needs: `edit_params.EDITOR_FIELDS` (in2n_protocol), guidance as numbers.

    Defaults: EditParams' (IP2P's guidance and upper bound where EditParams leaves them to the model).
    """

    guidance_scale: float = edit_params.fallback("guidance_scale")
    image_guidance_scale: float = edit_params.fallback("image_guidance_scale")
    diffusion_steps: int = edit_params.default("diffusion_steps")
    lower_bound: float = edit_params.default("lower_bound")
    upper_bound: float = edit_params.fallback("upper_bound")
    scale_steps: bool = edit_params.default("scale_steps")
    joint_attention: str = edit_params.default("joint_attention")
    joint_layers: str = "all"
    """Which self-attentions are joint when `joint_attention` is on (joint_attention.JOINT_LAYERS)."""

    def __post_init__(self) -> None:
        for name in MODEL_TUNED:
            if getattr(self, name) is None:
                raise ValueError(
                    f"{name} is unset: the model's recommended value is filled in where the job or session "
                    "is created (EditParams.with_model_defaults), never by the editor"
                )
        start_timestep_range(self.lower_bound, self.upper_bound)
        _check_choice("joint_attention", self.joint_attention, JOINT_MODES)
        _check_choice("joint_layers", self.joint_layers, JOINT_LAYERS)
        if self.diffusion_steps < 1:
            raise ValueError(f"diffusion_steps must be at least 1, got {self.diffusion_steps}")

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> EditSettings:
        """From EditParams-named values, resolved (numbers); the editor fields left out keep the defaults."""
        return cls(**{name: values[name] for name in edit_params.EDITOR_FIELDS if name in values})


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: choose one of {', '.join(choices)}, got {value!r}")


class InstructPix2PixEditor:
    """Edits views with an InstructPix2Pix pipeline's UNet, VAE, text encoder and a DDIM scheduler."""

    def __init__(self, pipe, settings: EditSettings, *, seed: int = 0) -> None:
        self.unet = pipe.unet
        self.vae = pipe.vae
        self.text_encoder = pipe.text_encoder
        self.tokenizer = pipe.tokenizer
        self.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        if self.scheduler.config.prediction_type != "epsilon":
            raise ValueError(
                f"expected an epsilon-predicting model, got {self.scheduler.config.prediction_type}"
            )
        self.settings = settings
        self.device = self.unet.device
        self.dtype = self.unet.dtype
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self._embeddings: dict[str, torch.Tensor] = {}
        self.calls = 0  # editor calls (a batch is one)
        self.views_edited = 0
        self.unet_passes = 0  # UNet forward calls (one per DDIM step of a call, whatever its batch)
        # Some checkpoints (e.g. fp16 text encoders) disagree with the UNet: run everything in one dtype.
        for module in (self.text_encoder, self.vae):
            if module.dtype != self.dtype:
                module.to(self.dtype)

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def working_size(self) -> int:
        """The image side the model was trained at (512 for InstructPix2Pix): the UNet's latent size
        times the VAE's downscaling."""
        return int(self.unet.config.sample_size) * self.downscale

    def text_embeddings(self, instruction: str) -> torch.Tensor:
        """[instruction, "", ""] embeddings, cached per instruction."""
        if instruction not in self._embeddings:
            tokens = self.tokenizer(
                [instruction, "", ""],
                padding="max_length",
                max_length=self.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            )
            with torch.no_grad():
                hidden = self.text_encoder(tokens.input_ids.to(self.device))[0]
            self._embeddings[instruction] = hidden.to(self.dtype)
        return self._embeddings[instruction]

    def _to_model_image(self, image: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """[H, W, 3] in [0, 1] -> [1, 3, h, w] in [-1, 1] at a size the VAE can halve `downscale` times."""
        chw = image.detach().to(self.device, torch.float32).permute(2, 0, 1)[None, :3]
        if chw.shape[-2:] != (height, width):
            chw = F.interpolate(chw, size=(height, width), mode="bilinear", align_corners=False)
        return (chw * 2 - 1).to(self.dtype)

    @torch.no_grad()
    def edit(
        self,
        render: torch.Tensor,
        original: torch.Tensor,
        instruction: str,
        *,
        view_index: int = -1,
        crop: tuple[int, int, int] | None = None,
        upper_bound: float | None = None,
    ) -> torch.Tensor:
        """One view's edit (`upper_bound` overrides the settings' highest start noise for this call)."""
        return self.edit_batch([render], [original], instruction, [view_index], upper_bound=upper_bound)[0]

    @torch.no_grad()
    def edit_batch(
        self,
        renders: list[torch.Tensor],
        originals: list[torch.Tensor],
        instruction: str,
        view_indices: list[int],
        *,
        upper_bound: float | None = None,
    ) -> list[torch.Tensor]:
        """Edits views of one size together: one UNet call of 3 x k per DDIM step.

        Each view draws its own start timestep, as it would edited alone (batching must not change what an
        edit is, only its cost); they all take the same number of steps, each at its own stride. On a GPU
        the three-way guidance batch of one view leaves most of the device idle; k views per call cost far
        less than k calls. With `settings.joint_attention` on, the views also attend to each other
        (editor/joint_attention.py), so that one call makes one edit seen from several cameras.
        """
        if not renders or len(renders) != len(originals) or len(renders) != len(view_indices):
            raise ValueError("edit_batch: expected as many renders, originals and view indices, at least one")
        in_height, in_width = renders[0].shape[:2]
        if any(render.shape[:2] != (in_height, in_width) for render in renders):
            raise ValueError("edit_batch: the views of one batch must have one size")
        step = self.downscale
        height, width = max(step, round(in_height / step) * step), max(step, round(in_width / step) * step)
        s = self.settings
        count = len(renders)

        # 1. Encode the current renders (what gets noised) and the originals (the image conditioning).
        images = torch.cat([self._to_model_image(render, height, width) for render in renders])
        latents = self.vae.encode(images).latent_dist.sample(self.generator) * LATENT_SCALE
        conditions = torch.cat([self._to_model_image(original, height, width) for original in originals])
        condition = self.vae.encode(conditions).latent_dist.mode()
        condition = torch.cat([condition, condition, torch.zeros_like(condition)])  # text+image, image, none
        embeddings = self.text_embeddings(instruction).repeat_interleave(count, dim=0)  # instruction, "", ""

        # 2. Draw each view's start timestep and the DDIM timesteps below it (one step count for all).
        total = self.scheduler.config.num_train_timesteps
        high_bound = s.upper_bound if upper_bound is None else max(s.lower_bound, upper_bound)
        low, high = start_timestep_range(s.lower_bound, high_bound, total)
        starts = torch.randint(low, high + 1, (count,), generator=self.generator).tolist()
        num_steps = s.diffusion_steps
        if s.scale_steps:
            num_steps = steps_for_start(max(starts), s.diffusion_steps, max(1, int(total * s.upper_bound)))
        offset = self.scheduler.config.steps_offset
        per_view = [edit_timesteps(start, num_steps, offset) for start in starts]
        timesteps = torch.tensor(per_view, device=self.device).T  # [steps, views]
        strides = torch.tensor([step_stride(steps) for steps in per_view], device=self.device)

        # 3. Noise the renders' latents to their first timesteps.
        noise = torch.randn(latents.shape, generator=self.generator).to(self.device, self.dtype)
        latents = self.scheduler.add_noise(latents, noise, timesteps[0])

        # 4. Denoise with two-way classifier-free guidance (with joint attention: the views of each
        # guidance branch attend to each other, in groups of at most MAX_JOINT_VIEWS).
        alphas = self.scheduler.alphas_cumprod.to(self.device, torch.float32)
        final_alpha = self.scheduler.final_alpha_cumprod.to(self.device, torch.float32)
        with joint_attention(self.unet, s.joint_attention, count, s.joint_layers, MAX_JOINT_VIEWS):
            for t in timesteps:
                model_input = torch.cat([torch.cat([latents] * 3), condition], dim=1)
                predicted = self.unet(model_input, t.repeat(3), encoder_hidden_states=embeddings).sample
                noise_text, noise_image, noise_uncond = predicted.float().chunk(3)
                guided = combine_guidance(
                    noise_text, noise_image, noise_uncond, s.guidance_scale, s.image_guidance_scale
                )
                alpha = alphas[t].view(-1, 1, 1, 1)
                alpha_prev = previous_alpha(alphas, t - strides, final_alpha).view(-1, 1, 1, 1)
                latents = ddim_step(latents.float(), guided, alpha, alpha_prev).to(self.dtype)
        self.unet_passes += num_steps

        # 5. Decode, clamp to [0, 1] and bring back to the inputs' size and device.
        decoded = self.vae.decode(latents / LATENT_SCALE).sample.float()
        images = (decoded / 2 + 0.5).clamp(0, 1)
        if images.shape[-2:] != (in_height, in_width):
            images = F.interpolate(images, size=(in_height, in_width), mode="bilinear", align_corners=False)
        self.calls += 1
        self.views_edited += count
        return [
            image.permute(1, 2, 0).to(render.device, torch.float32)
            for image, render in zip(images, renders, strict=True)
        ]


def load_ip2p_editor(
    model: str | None,
    device: torch.device,
    settings: EditSettings,
    *,
    half_precision: bool = False,
    seed: int = 0,
) -> InstructPix2PixEditor:
    """Load the pipeline (hub id, local dir or a bundled name) and wrap it as an editor."""
    from .loading import editor_dtype, load_ip2p_pipeline

    pipe = load_ip2p_pipeline(model, device, editor_dtype(device, half_precision))
    return InstructPix2PixEditor(pipe, settings, seed=seed)
