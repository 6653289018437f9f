"""How well `engine/moved_surface.py` finds the pixels whose surface an edit moved, against Blender's truth.

On each fusion pair, every training view's edited image (the edited scene's exact view, or the reference
editor's degraded edit of it at full strength) is judged against its nearest other views, edited the same
way, with the *original* captured depth as the engine has it. The truth: the pixels that are surface in both
scenes and whose depth the edit changed by more than 3%. Reported: the detector's precision and recall on
them, and the share of all judged pixels it releases wrongly; `object` changes no shape (every release is
wrong). Seconds on the CPU; no training.

    .venv/bin/python -m benchmarks.fusion.moved_surface_eval [--scenes tabletop,object]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from in2n_server.engine.geometry import nearest_views
from in2n_server.engine.moved_surface import PARTNERS, moved_pixels

from .reference_editor import ReferenceEditor, ReferenceEditorSettings
from .scenes import RenderSettings, load_alphas, load_dataset, render_scene_pair

CACHE = Path(__file__).resolve().parents[1] / "results" / "cache"
MOVED = 0.03
"""A pixel's surface moved when the edit changed its depth by more than this share."""


def depths(dataset_dir: Path) -> np.ndarray:
    meta = json.loads((dataset_dir / "transforms.json").read_text())
    return np.stack([np.load(dataset_dir / f["depth_file_path"], allow_pickle=False) for f in meta["frames"]])


def evaluate(name: str, degraded: bool, seed: int) -> dict[str, float]:
    pair = render_scene_pair(name, CACHE, RenderSettings())
    cameras, originals = load_dataset(pair.train_dir)
    _, edited = load_dataset(pair.train_edited_dir)
    alpha_before, alpha_after = load_alphas(pair.train_dir), load_alphas(pair.train_edited_dir)
    depth_before, depth_after = depths(pair.train_dir), depths(pair.train_edited_dir)
    if degraded:
        editor = ReferenceEditor(edited, originals, ReferenceEditorSettings(seed=seed), diffusion_steps=20)
        edited = np.stack([
            editor.edit(torch.from_numpy(e), torch.from_numpy(o), "", view_index=i, upper_bound=0.98).numpy()
            for i, (e, o) in enumerate(zip(edited, originals, strict=True))
        ])  # fmt: skip
    poses = np.stack([camera.camera_to_world for camera in cameras])
    hits = wrong = missed = judged = 0
    for index, camera in enumerate(cameras):
        candidates = (alpha_before[index] > 0) & (alpha_after[index] >= 0.5) & (depth_before[index] > 0)
        truth = candidates & (depth_after[index] > 0)
        truth &= np.abs(depth_after[index] - depth_before[index]) > MOVED * depth_before[index]
        partners = nearest_views(poses, index, range(len(cameras)), PARTNERS)
        found = moved_pixels(
            torch.from_numpy(edited[index]).float(),
            torch.from_numpy(depth_before[index]).float(),
            camera,
            torch.from_numpy(candidates),
            [torch.from_numpy(edited[j]).float() for j in partners],
            [cameras[j] for j in partners],
        ).numpy()
        hits += int((found & truth).sum())
        wrong += int((found & ~truth).sum())
        missed += int((~found & truth).sum())
        judged += int(candidates.sum())
    return {
        "judged": judged,
        "moved": hits + missed,
        "released": hits + wrong,
        "precision": hits / max(hits + wrong, 1),
        "recall": hits / max(hits + missed, 1),
        "wrong_share": wrong / max(judged, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", default="tabletop,object", help="comma-separated fusion pairs")
    parser.add_argument("--seed", type=int, default=0, help="the reference editor's seed")
    args = parser.parse_args(argv)
    for name in args.scenes.split(","):
        for degraded in (False, True):
            r = evaluate(name.strip(), degraded, args.seed)
            print(
                f"{name} ({'reference editor' if degraded else 'exact edits'}): {r['judged']} pixels judged, "
                f"{r['moved']} truly moved, {r['released']} released: precision {r['precision']:.3f}, "
                f"recall {r['recall']:.3f}, wrongly released {100 * r['wrong_share']:.2f}% of those judged",
                flush=True,
            )


if __name__ == "__main__":
    main()
