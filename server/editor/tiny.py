"""A tiny, randomly initialised InstructPix2Pix pipeline built offline (tests and benchmarks).

It exercises the exact code path of the real model (same classes, same shapes of inputs, 8x VAE
downsampling like Stable Diffusion) in well under a second per edit on a CPU; its edits are noise.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .clip_vocab import write_clip_tokenizer


def build_tiny_ip2p(out_dir: Path, bpe_gz: Path, seed: int = 0) -> Path:
    """Save a tiny StableDiffusionInstructPix2PixPipeline to `out_dir` with `save_pretrained`."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionInstructPix2PixPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    tokenizer_dir = write_clip_tokenizer(bpe_gz, Path(out_dir) / "_tokenizer_src")
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=8,
        in_channels=8,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 32, 64, 64],
        norm_num_groups=16,
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        layers_per_block=1,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=5,
            vocab_size=len(tokenizer),
            max_position_embeddings=tokenizer.model_max_length,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionInstructPix2PixPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out_dir)
    return Path(out_dir)
