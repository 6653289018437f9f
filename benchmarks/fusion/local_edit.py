"""Local edits through the fusion benchmark: global vs masked vs masked + crop on the `tabletop_local` pair.

The pair changes one small object (the cube, about 1-5% of a view); its masks come from the extension's
capture. Every mode starts from one shared base reconstruction and edits with the reference editor
(whose per-call disagreement, blur and misalignment are relative to the canvas it is given: a crop edited
at the working size is resolved finer, as IP2P's latent grid is). Measured at held-out cameras:
PSNR inside the edited object's mask against the edited reference, and outside it against the original.

    .venv/bin/python -m benchmarks.fusion.local_edit [--size 48 --views 16 --base-steps 400 --edit-steps 300]

Writes benchmarks/results/local_edit.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from in2n_server.engine import pipeline as pipeline_module
from in2n_server.engine.session import EditSession

from .reference_editor import ReferenceEditor, ReferenceEditorSettings
from .runner import HeldOut, train_base
from .scenes import RenderSettings, load_dataset, load_masks, render_scene_pair
from .schedules import FusionConfig, schedule_params

RESULTS = Path(__file__).resolve().parents[1] / "results"
CACHE = RESULTS / "cache"
MODES: dict[str, dict[str, Any]] = {
    "global": {},
    "masked": {"edit_region": "masked"},
    "masked, outside = current render": {"edit_region": "masked", "_outside": "render"},
    "masked + crop": {"edit_region": "masked", "crop_to_mask": True},
}


def region_psnr(images: list[np.ndarray], references: list[np.ndarray], masks: np.ndarray) -> float:
    """PSNR over the pixels of `masks` (all views pooled): the error of that region alone."""
    errors = [
        ((image - reference) ** 2)[mask]
        for image, reference, mask in zip(images, references, masks, strict=True)
    ]
    mse = float(np.mean(np.concatenate(errors)))
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def scores(renders: list[np.ndarray], held: HeldOut, masks: np.ndarray) -> dict[str, float]:
    return {
        "inside_vs_edited": region_psnr(renders, list(held.edited), masks),
        "outside_vs_original": region_psnr(renders, list(held.original), ~masks),
    }


def run_mode(
    name: str,
    changes: dict[str, Any],
    pair: Any,
    base_dir: Path,
    work: Path,
    config: FusionConfig,
    held: HeldOut,
) -> dict[str, Any]:
    _, originals = load_dataset(pair.train_dir)
    _, targets = load_dataset(pair.train_edited_dir)
    editor = ReferenceEditor(targets, originals, ReferenceEditorSettings())
    options = {k: v for k, v in changes.items() if not k.startswith("_")}
    params = dataclasses.replace(
        schedule_params("rolling", len(originals), config), optimize_cameras=False, **options
    )
    pipeline_module.MASKED_OUTSIDE = changes.get("_outside", "original")
    try:
        session = EditSession.create(
            pair.train_dir, work, params, editor=editor, device=config.device, base_checkpoint=base_dir
        )
        started = time.perf_counter()
        session.run(checkpoint_every=10**9)
        wall = time.perf_counter() - started
    finally:
        pipeline_module.MASKED_OUTSIDE = "original"
    result = {
        "mode": name,
        "editor_calls": editor.calls,
        "wall_s": wall,
        **scores(held.renders(session), held, held_masks(pair)),
    }
    print(
        f"{name:>34}: inside (vs edited) {result['inside_vs_edited']:.2f} dB, outside (vs original) "
        f"{result['outside_vs_original']:.2f} dB, {editor.calls} editor calls, {wall:.0f} s",
        flush=True,
    )
    return result


def held_masks(pair: Any) -> np.ndarray:
    return load_masks(pair.heldout_edited_dir) | load_masks(pair.heldout_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=48, help="image side in pixels")
    parser.add_argument("--views", type=int, default=16, help="training cameras per scene")
    parser.add_argument("--heldout", type=int, default=4, help="held-out cameras per scene (measuring only)")
    parser.add_argument("--base-steps", type=int, default=400, help="NeRF steps of the base reconstruction")
    parser.add_argument("--edit-steps", type=int, default=300, help="NeRF steps of the edit phase")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "local_edit.json", help="where the results are written"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = RenderSettings(size=args.size, views=args.views, heldout=args.heldout)
    pair = render_scene_pair("tabletop_local", CACHE, settings)
    config = FusionConfig(base_steps=args.base_steps, edit_steps=args.edit_steps)
    held = HeldOut(pair)
    masks = held_masks(pair)
    work = CACHE / "work-local-edit"
    shutil.rmtree(work, ignore_errors=True)
    base = train_base(pair, work / "base", config, held, print)
    base_scores = scores(base["renders"], held, masks)
    print(
        f"{'base':>34}: inside (vs edited) {base_scores['inside_vs_edited']:.2f} dB, outside (vs original) "
        f"{base_scores['outside_vs_original']:.2f} dB; mask share of the held-out views {masks.mean():.3f}"
    )
    modes = [
        run_mode(name, changes, pair, work / "base", work / f"mode{i}", config, held)
        for i, (name, changes) in enumerate(MODES.items())
    ]
    args.out.write_text(
        json.dumps(
            {
                "settings": {**vars(args), "out": str(args.out)},
                "mask_share": float(masks.mean()),
                "base": base_scores,
                "modes": modes,
            },
            indent=1,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
