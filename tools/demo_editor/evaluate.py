"""Measure a trained demo editor on held-out images: does each edit follow its instruction, is structure kept?

    .venv/bin/python -m tools.demo_editor.evaluate server/models/demo

Held-out images are procedural images and Blender renders from seeds the training never used, at 64² and
128². Each edit runs through a plain diffusers `StableDiffusionInstructPix2PixPipeline` call (DDIM, fixed
seeds) and is compared with its input and with the exact programmatic edit. Writes `metrics.json` beside
the model and prints a markdown table for the model card.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionInstructPix2PixPipeline
from PIL import Image

from in2n_server.editor.loading import recommended_settings
from tools.demo_editor.blender_views import render_views
from tools.demo_editor.data import downsample2
from tools.demo_editor.edits import COLOUR_HUES, EDITS, EDITS_BY_NAME, UNSEEN_PHRASINGS
from tools.demo_editor.metrics import brightness, edge_correlation, hue_share, psnr, warmth
from tools.demo_editor.procedural import procedural_images
from tools.demo_editor.train_vae import roundtrip, roundtrip_scores

HELD_OUT_SEED = 1000
NIGHT_HUE = 225.0  # moonlight blue, measured with a wider tolerance than the colour edits


def held_out_images() -> dict[int, np.ndarray]:
    """6 procedural images and 6 Blender views at 64², 3 and 3 at 128², float32 `[N, S, S, 3]`."""
    views = render_views(3, 2, 128, HELD_OUT_SEED).reshape(-1, 128, 128, 3).astype(np.float32) / 255.0
    return {
        64: np.concatenate([procedural_images(6, 64, HELD_OUT_SEED), downsample2(views)]),
        128: np.concatenate([procedural_images(3, 128, HELD_OUT_SEED + 1), views[::2]]),
    }


def run_edit(
    pipe: StableDiffusionInstructPix2PixPipeline,
    images: np.ndarray,
    prompt: str,
    guidance: float,
    image_guidance: float,
    steps: int = 20,
    seed: int = 0,
) -> np.ndarray:
    """Edit a batch of images with one instruction; returns float32 `[N, H, W, 3]`."""
    pil = [Image.fromarray((image * 255).round().astype(np.uint8)) for image in images]
    generators = [torch.Generator().manual_seed(seed + i) for i in range(len(images))]
    result = pipe(
        [prompt] * len(images),
        image=pil,
        num_inference_steps=steps,
        guidance_scale=guidance,
        image_guidance_scale=image_guidance,
        generator=generators,
        output_type="np",
    )
    return result.images.astype(np.float32)


def vae_report(vae, images: dict[int, np.ndarray]) -> dict[str, dict[str, dict[str, float]]]:  # noqa: ANN001
    """Reconstruction PSNR and edge correlation of encode + decode, per size, procedural vs Blender."""
    report = {}
    for size, batch in images.items():
        half = len(batch) // 2  # held_out_images: procedural images first, then as many Blender views
        decoded = roundtrip(vae, batch)
        report[str(size)] = {
            "procedural": roundtrip_scores(batch[:half], decoded[:half]),
            "blender": roundtrip_scores(batch[half:], decoded[half:]),
        }
    return report


def edit_scores(edit_name: str, inputs: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """The instruction-following measure of one edit (before → after) plus structure, averaged."""
    rng = np.random.default_rng(0)
    exact = np.stack([np.clip(EDITS_BY_NAME[edit_name].apply(image, rng), 0, 1) for image in inputs])
    scores: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        scores.setdefault(key, []).append(value)

    for source, output, target in zip(inputs, outputs, exact, strict=True):
        if edit_name in COLOUR_HUES:
            add("hue_share_before", hue_share(source, COLOUR_HUES[edit_name]))
            add("hue_share_after", hue_share(output, COLOUR_HUES[edit_name]))
            add("hue_share_exact", hue_share(target, COLOUR_HUES[edit_name]))
        elif edit_name in ("darker", "brighter", "night"):
            add("brightness_before", brightness(source))
            add("brightness_after", brightness(output))
            add("brightness_exact", brightness(target))
            if edit_name == "night":
                add("blue_share_after", hue_share(output, NIGHT_HUE, tolerance=45.0, min_value=0.02))
        elif edit_name == "sunset":
            add("warmth_before", warmth(source))
            add("warmth_after", warmth(output))
            add("warmth_exact", warmth(target))
        add("edge_corr_input", edge_correlation(output, source))
        add("edge_corr_exact_vs_input", edge_correlation(target, source))
        add("psnr_vs_exact", psnr(output, target))
    return {key: round(float(np.mean(values)), 3) for key, values in scores.items()}


MEASURES = {  # edit -> (what the table calls the measure, the key stem in edit_scores)
    **{name: ("share within 30° of hue", "hue_share") for name in COLOUR_HUES},
    "darker": ("mean brightness", "brightness"),
    "brighter": ("mean brightness", "brightness"),
    "night": ("mean brightness", "brightness"),
    "sunset": ("warmth (R − B)", "warmth"),
}


def markdown_tables(report: dict) -> str:
    """The model card's tables, from `metrics.json` as `main` writes it."""
    lines = []
    vae = report["vae_roundtrip"]
    lines += [
        "**Autoencoder round trip** (encode to the posterior mode, decode): PSNR / edge correlation",
        "",
        "| size | procedural | Blender renders |",
        "|---|---|---|",
    ]
    for size, parts in vae.items():
        cells = [
            f"{parts[k]['psnr']:.1f} dB / {parts[k]['edge_correlation']:.2f}"
            for k in ("procedural", "blender")
        ]
        lines.append(f"| {size}² | {cells[0]} | {cells[1]} |")
    for size in (64, 128):
        edits = report[f"edits_{size}"]
        lines += [
            "",
            f"**{size}²** (held-out procedural images and Blender renders)",
            "",
            "| edit (prompt) | measure | input | after | exact edit | edge corr. with input "
            "| PSNR vs exact (dB) | s / image |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, scores in edits.items():
            label, stem = MEASURES[name]
            after = f"**{scores[stem + '_after']:.2f}**"
            if name == "night":
                after += f" (blue share {scores['blue_share_after']:.2f})"
            lines.append(
                f'| {name} ("{scores["prompt"]}") | {label} | {scores[stem + "_before"]:.2f} | {after} | '
                f"{scores[stem + '_exact']:.2f} | {scores['edge_corr_input']:.2f} | "
                f"{scores['psnr_vs_exact']:.1f} | {scores['seconds_per_image']:.2f} |"
            )
        lines += [
            "",
            f"Phrasings never trained on ({size}²):",
            "",
            "| prompt | measure | input | after | exact edit |",
            "|---|---|---|---|---|",
        ]
        for name, scores in report[f"unseen_{size}"].items():
            label, stem = MEASURES[name]
            lines.append(
                f'| "{scores["prompt"]}" ({name}) | {label} | {scores[stem + "_before"]:.2f} | '
                f"{scores[stem + '_after']:.2f} | {scores[stem + '_exact']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path)
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's recommended")
    parser.add_argument("--image-guidance", type=float, default=None, help="default: the model's recommended")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--grid", type=Path, default=None, help="write a PNG of inputs and edits here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recommended = recommended_settings(str(args.model))
    args.guidance = args.guidance or recommended.get("guidance_scale", 7.5)
    args.image_guidance = args.image_guidance or recommended.get("image_guidance_scale", 1.5)
    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    images = held_out_images()
    report: dict[str, object] = {
        "guidance": args.guidance,
        "image_guidance": args.image_guidance,
        "steps": 20,
        "vae_roundtrip": vae_report(pipe.vae.float(), images),
    }
    print("VAE round trip:", report["vae_roundtrip"], flush=True)
    grid_rows = []
    for size, batch in images.items():
        per_edit = {}
        columns = [batch]
        for edit in EDITS:
            start = time.monotonic()
            outputs = run_edit(pipe, batch, edit.phrasings[0], args.guidance, args.image_guidance)
            per_edit[edit.name] = {
                "prompt": edit.phrasings[0],
                **edit_scores(edit.name, batch, outputs),
                "seconds_per_image": round((time.monotonic() - start) / len(batch), 3),
            }
            columns.append(outputs)
            print(size, edit.name, per_edit[edit.name], flush=True)
        unseen = {}
        for name, prompt in UNSEEN_PHRASINGS.items():
            outputs = run_edit(pipe, batch, prompt, args.guidance, args.image_guidance)
            unseen[name] = {"prompt": prompt, **edit_scores(name, batch, outputs)}
            print(size, "unseen", unseen[name], flush=True)
        report[f"edits_{size}"] = per_edit
        report[f"unseen_{size}"] = unseen
        if size == 64:
            grid_rows = [np.concatenate([column[i] for column in columns], axis=1) for i in range(len(batch))]
    (args.model / "metrics.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown_tables(report))
    if args.grid is not None and grid_rows:
        grid = np.concatenate(grid_rows, axis=0)
        Image.fromarray((np.clip(grid, 0, 1) * 255).astype(np.uint8)).save(args.grid)


if __name__ == "__main__":
    main()
