"""The fog check of shape edits: after an appearance-only edit, exported points stay on the true surfaces.

Shape edits (`grow_margin`) let an edited view's alpha follow the edit near the silhouettes; on an edit
that changes no shape, that must not bring fog back. For each reconstruction-report scene (captured by
the extension, `capture_scene`), the base reconstruction (the splats benchmark's, reused when it is
there) is edited by the rolling IDU with the reference editor, whose targets are the captured views
with their colour channels rotated (R, G, B -> B, R, G: a consistent recolouring that keeps every
silhouette and keeps white white), at the job's default `grow_margin`. The point cloud (50k) is
exported before and after and scored against the scene's true surfaces (precision and completeness at
2% of the diagonal, `geometry_metrics`).

    .venv/bin/python -m benchmarks.recon.edit_fog [--scenes object tabletop room artist] [--steps 300]

Writes benchmarks/results/edit_fog.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from in2n_server.engine.session import EditSession
from in2n_server.export.pointcloud import point_cloud

from ..fusion.reference_editor import ReferenceEditor, ReferenceEditorSettings
from ..fusion.scenes import load_dataset
from ..fusion.schedules import FusionConfig, schedule_params
from .geometry_metrics import precision_completeness
from .run import CACHE, RESULTS, SCENES, capture_scene, train_reconstruction

CHANNELS = [2, 0, 1]
"""The recolouring: R, G, B -> B, R, G."""


def base_session(scene: str, args: argparse.Namespace) -> tuple[Path, Path]:
    """The scene's capture and a saved base reconstruction of it (the splats benchmark's when there)."""
    data = capture_scene(scene, "blender", args.size, args.views, args.heldout)
    base = CACHE / "splats" / scene / "job"
    if not (base / "checkpoints").is_dir():
        session, _ = train_reconstruction(data / "train", base, args.steps_base, args.seed)
        session.save()
    return data, base


def geometry(session: EditSession, surface: np.ndarray, points: int) -> dict[str, float]:
    cloud, _ = point_cloud(session, points)
    scores = precision_completeness(cloud, surface)
    return {key: round(scores[key], 4) for key in ("precision@2%", "completeness@2%")}


def measure(scene: str, args: argparse.Namespace) -> dict[str, Any]:
    data, base = base_session(scene, args)
    surface = np.load(data / "surface.npy")
    before = geometry(EditSession.open_for_export(base, device="cpu"), surface, args.points)
    _, originals = load_dataset(data / "train")
    config = FusionConfig(seed=args.seed, edit_steps=args.steps)
    params = schedule_params("rolling", len(originals), config)  # the default grow_margin
    editor = ReferenceEditor(
        np.ascontiguousarray(originals[..., CHANNELS]),
        originals,
        ReferenceEditorSettings(seed=args.seed),
        diffusion_steps=params.diffusion_steps,
    )
    workdir = CACHE / "edit_fog" / scene
    shutil.rmtree(workdir, ignore_errors=True)
    session = EditSession.create(
        data / "train", workdir, params, editor=editor, device="cpu", base_checkpoint=base
    )
    started = time.perf_counter()
    for _ in range(args.steps):
        session.step()
    wall = time.perf_counter() - started
    after = geometry(session, surface, args.points)
    print(
        f"{scene}: precision@2% {before['precision@2%']:.3f} -> {after['precision@2%']:.3f}, "
        f"completeness@2% {before['completeness@2%']:.3f} -> {after['completeness@2%']:.3f} "
        f"({args.steps} IDU steps in {wall:.0f} s, grow_margin {params.grow_margin})"
    )
    return {"scene": scene, "before": before, "after": after, "edit_s": round(wall, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="*", choices=SCENES, default=list(SCENES), help="recon scenes")
    parser.add_argument("--size", type=int, default=64, help="capture size, px (the splats benchmark's)")
    parser.add_argument("--views", type=int, default=24, help="training views per scene")
    parser.add_argument("--heldout", type=int, default=6, help="held-out views per scene")
    parser.add_argument("--steps-base", type=int, default=800, help="base steps, when none is saved")
    parser.add_argument("--steps", type=int, default=300, help="IDU steps of the recolouring")
    parser.add_argument("--points", type=int, default=50000, help="exported points")
    parser.add_argument("--seed", type=int, default=0, help="reference editor seed (and base, when trained)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for edit_fog.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = [measure(scene, args) for scene in args.scenes]
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "edit_fog.json").write_text(json.dumps({"settings": settings, "results": results}, indent=1))
    print(f"wrote {args.out / 'edit_fog.json'}")


if __name__ == "__main__":
    main()
