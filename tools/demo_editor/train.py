"""Train the demo editor from nothing, on a CPU, and save it as an InstructPix2Pix pipeline directory.

    .venv/bin/python -m tools.demo_editor.train --out server/models/demo

One seeded command (the line above made the committed weights): data (procedural images + Blender
renders), the autoencoder, latent pairs, then the UNet and text encoder, almost all steps at 64² and a
short fine-tune at 128². The run fits each phase into its share of `--minutes` (the CPU
may be shared); the step counts it chose are written to `training.json`, and passing them back as the
`--*-steps` maximums with a larger budget repeats the run exactly.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionInstructPix2PixPipeline
from transformers import CLIPTokenizer

from tools.demo_editor.data import draw_pairs, make_sources
from tools.demo_editor.edits import EDITS, PHRASINGS
from tools.demo_editor.models import (
    build_sampling_scheduler,
    build_text_encoder,
    build_training_scheduler,
    build_unet,
    build_vae,
)
from tools.demo_editor.phase import Phase
from tools.demo_editor.train_unet import EMA, PromptBank, UNetTraining, encode_pairs, run_phase
from tools.demo_editor.train_vae import fold_latent_scale, roundtrip_report, train_vae
from tools.demo_editor.vocab import write_trimmed_tokenizer

REPO = Path(__file__).resolve().parents[2]
BPE_MERGES = REPO / "tests" / "fixtures" / "data" / "bpe_simple_vocab_16e6.txt.gz"

# When each stage must end, as a share of the time left once the data is made (the rest is for saving).
VAE_ENDS, UNET64_ENDS, UNET128_ENDS = 0.2, 0.93, 0.99


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "server" / "models" / "demo")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "demo_editor", help="scratch files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=45.0, help="time budget for the whole run")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads; 1 is far faster than 2 when the CPU is shared"
    )
    parser.add_argument("--procedural-64", type=int, default=12000)
    parser.add_argument("--procedural-128", type=int, default=300)
    parser.add_argument("--blender-scenes", type=int, default=16)
    parser.add_argument("--blender-views", type=int, default=4)
    parser.add_argument(
        "--vae-norm-groups",
        type=int,
        default=1,
        help="GroupNorm groups in the VAE: 1 keeps flat colours (more groups normalise them away)",
    )
    parser.add_argument(
        "--vae-levels", type=int, default=2, help="VAE resolution levels: 2 = 2x downsampling, 3 = 4x"
    )
    parser.add_argument("--batch-64", type=int, default=32, help="UNet batch at 64²")
    parser.add_argument("--batch-128", type=int, default=8, help="UNet batch at 128²")
    parser.add_argument(
        "--crop-64", type=int, default=16, help="UNet trains on this latent window of 64² pairs (0: whole)"
    )
    parser.add_argument("--crop-128", type=int, default=32, help="the same for 128² pairs")
    parser.add_argument("--vae-steps", type=int, default=8000, help="maximum; the budget may cut it")
    parser.add_argument("--unet64-steps", type=int, default=3500, help="maximum; the budget may cut it")
    parser.add_argument("--unet128-steps", type=int, default=400, help="maximum; the budget may cut it")
    return parser.parse_args()


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def save_pipeline(out: Path, training: UNetTraining, vae, tokenizer: CLIPTokenizer) -> None:  # noqa: ANN001
    """Save with fp16 UNet and VAE (diffusers loads them back as fp32) and an fp32 text encoder.

    The text encoder stays fp32: transformers 5 loads a model in its stored dtype, and an fp16 text
    encoder beside an fp32 UNet fails on the CPU.
    """
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=vae.half(),
        text_encoder=training.text_encoder,
        tokenizer=tokenizer,
        unet=training.unet.half(),
        scheduler=build_sampling_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    generator = seed_everything(args.seed)
    start = time.monotonic()
    budget = args.minutes * 60.0
    info: dict[str, object] = {"seed": args.seed, "minutes": args.minutes, "threads": args.threads}

    # 1. Tokenizer: CLIP's BPE trimmed to our phrasings (and common words).
    tokenizer_dir = args.work / "tokenizer"
    write_trimmed_tokenizer(BPE_MERGES, [p for ps in PHRASINGS.values() for p in ps], tokenizer_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    info["vocab_size"] = len(tokenizer)

    # 2. Source images and which edits they get.
    sources = make_sources(
        args.seed, args.procedural_64, args.procedural_128, args.blender_scenes, args.blender_views
    )
    pairs_64 = draw_pairs(len(sources.images_64), sources.blender_count_64, 1, 4, args.seed + 3)
    pairs_128 = draw_pairs(len(sources.images_128), sources.blender_count_128, 2, 2, args.seed + 4)
    info["images"] = {"64": len(sources.images_64), "128": len(sources.images_128)}
    info["blender_views"] = sources.blender_count_128
    info["pairs"] = {"64": len(pairs_64.edit_index), "128": len(pairs_128.edit_index)}
    info["data_seconds"] = round(time.monotonic() - start, 1)
    print(f"data: {info['images']} images, {info['pairs']} pairs, {info['data_seconds']} s", flush=True)
    after_data, time_left = time.monotonic(), budget - (time.monotonic() - start)

    def remaining_until(share: float) -> float:
        return share * time_left - (time.monotonic() - after_data)

    # 3. Autoencoder, then SD's latent scale folded into it.
    vae = build_vae(args.vae_norm_groups, args.vae_levels)
    info["vae_norm_groups"], info["vae_levels"] = args.vae_norm_groups, args.vae_levels
    info["vae"] = train_vae(vae, sources, args.vae_steps, remaining_until(VAE_ENDS), args.seed + 5)
    vae.requires_grad_(False)
    info["latent_fold"] = fold_latent_scale(vae, sources.images_64[:: max(1, len(sources.images_64) // 512)])
    info["vae_roundtrip"] = roundtrip_report(vae, args.seed + 1000)
    print(f"VAE round trip on held-out images: {info['vae_roundtrip']}", flush=True)

    # 4. Latent pairs at both sizes.
    encode_start = time.monotonic()
    latents_64 = encode_pairs(vae, sources.images_64, pairs_64, args.seed + 6)
    latents_128 = encode_pairs(vae, sources.images_128, pairs_128, args.seed + 7)
    info["encode_seconds"] = round(time.monotonic() - encode_start, 1)
    print(f"encoded latent pairs in {info['encode_seconds']} s", flush=True)

    # 5. UNet + text encoder: mostly 64², then a short 128² fine-tune mixed with 64² batches.
    unet = build_unet()
    text_encoder = build_text_encoder(len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id)
    training = UNetTraining(
        unet,
        text_encoder,
        PromptBank(tokenizer),
        build_training_scheduler(),
        EMA([unet, text_encoder], 0.998),
        generator,
    )
    params = list(unet.parameters()) + list(text_encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=6e-4, weight_decay=0.01)
    phase_64 = Phase("unet64", args.unet64_steps, remaining_until(UNET64_ENDS))
    info["unet64"] = run_phase(
        training, phase_64, optimizer, 6e-4, [(latents_64, args.batch_64, args.crop_64)]
    )
    phase_128 = Phase("unet128", args.unet128_steps, remaining_until(UNET128_ENDS))
    schedule = [(latents_128, args.batch_128, args.crop_128)] * 2 + [
        (latents_64, args.batch_64, args.crop_64)
    ]
    info["unet128"] = run_phase(training, phase_128, optimizer, 1.5e-4, schedule, warmup=20)
    training.ema.copy_to_model()

    # 6. Save as an InstructPix2Pix pipeline directory.
    unet.eval()
    text_encoder.eval()
    save_pipeline(args.out, training, vae, tokenizer)
    info["edits"] = [edit.name for edit in EDITS]
    info["total_seconds"] = round(time.monotonic() - start, 1)
    (args.out / "training.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(info, indent=2), flush=True)


if __name__ == "__main__":
    main()
