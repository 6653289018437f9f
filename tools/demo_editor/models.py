"""The demo editor's architecture: a tiny Stable Diffusion v1 layout in InstructPix2Pix's format.

Same component types and conventions as IP2P (8-channel UNet input = noisy latent + image latent, CLIP text
encoder, KL autoencoder with SD's latent scale 0.18215, SD v1's noise schedule), so the project's normal
InstructPix2Pix code path loads and runs it unchanged; only the sizes are small enough for a CPU.
"""

from __future__ import annotations

from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

LATENT_SCALE = 0.18215  # SD v1's constant; in2n's edit maths multiplies by it, so the VAE is built for it
TEXT_WIDTH = 128
MAX_TOKENS = 77

# SD v1's noise schedule, shared by training (DDPM) and sampling (DDIM).
NOISE_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
}


VAE_WIDTHS = (32, 64, 128)


def build_vae(norm_groups: int, levels: int = 3) -> AutoencoderKL:
    """`levels` resolution levels (downsampling 2^(levels-1)), 4 latent channels, no attention: fully
    convolutional, any image size.

    `norm_groups` 8 (4-16 channels per group); 32 made every GroupNorm of the 32-channel level a
    per-channel instance norm that erased flat colour (run 2, see the model card).
    """
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=VAE_WIDTHS[:levels],
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=norm_groups,
        sample_size=128,
        scaling_factor=LATENT_SCALE,
        mid_block_add_attention=False,
    )


def build_unet() -> UNet2DConditionModel:
    """8 input channels (noisy latent + image latent), cross-attention on the two coarser levels."""
    return UNet2DConditionModel(
        sample_size=32,
        in_channels=8,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(64, 128, 128),
        layers_per_block=1,
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=4,
        norm_num_groups=32,
    )


def build_text_encoder(vocab_size: int, bos_id: int, eos_id: int) -> CLIPTextModel:
    """A 2-layer CLIP text transformer over the trimmed vocabulary."""
    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=TEXT_WIDTH,
        intermediate_size=4 * TEXT_WIDTH,
        projection_dim=TEXT_WIDTH,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_TOKENS,
        layer_norm_eps=1e-5,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    return CLIPTextModel(config)


def build_training_scheduler() -> DDPMScheduler:
    return DDPMScheduler(**NOISE_SCHEDULE)


def build_sampling_scheduler() -> DDIMScheduler:
    """DDIM, as in2n uses, with SD v1's settings."""
    return DDIMScheduler(**NOISE_SCHEDULE, clip_sample=False, set_alpha_to_one=False, steps_offset=1)
