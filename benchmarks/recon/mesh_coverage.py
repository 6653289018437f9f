"""TSDF mesh with and without the coverage views, against the reconstruction scenes' true surfaces.

The point cloud and the splats add the training cameras turned up and down (`export/coverage.py`); the TSDF
mesh (and the textured mesh, which bakes from the same renders) does too. This measures what they add: mesh
vertices against 40k samples of the scenes' true surfaces, precision and completeness at 1% and 2% of the
diagonal, with the coverage views and without (`mesh.coverage_views` replaced by nothing), on one trained
reconstruction per scene: the splats benchmark's sessions when it has run (`--reuse`), else trained here
with its settings (64 px, 24 views, 800 steps).

    .venv/bin/python -m benchmarks.recon.mesh_coverage [--reuse] [--scenes room object]

Writes benchmarks/results/mesh_coverage.json and mesh_coverage.png (completeness at 2% per scene).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch

from in2n_server.engine.session import EditSession
from in2n_server.export import mesh

from .geometry_metrics import precision_completeness
from .run import CACHE, RESULTS, SCENES, capture_scene, train_reconstruction


def session_for(scene: str, args: argparse.Namespace) -> tuple[EditSession, Path]:
    """The scene's trained reconstruction (the splats benchmark's with `--reuse`) and its capture."""
    data = capture_scene(scene, "blender", args.size, args.views, args.heldout)
    job = CACHE / "splats" / scene / "job"
    if args.reuse and (job / "checkpoints").is_dir():
        print(f"{scene}: reusing the trained session in {job}", flush=True)
        return EditSession.open_for_export(job, device="cpu"), data
    work = CACHE / "mesh_coverage" / scene
    session, seconds = train_reconstruction(data / "train", work, args.steps, args.seed)
    print(f"{scene}: trained {args.steps} steps in {seconds:.0f} s", flush=True)
    return session, data


def measure(scene: str, args: argparse.Namespace) -> dict[str, Any]:
    session, data = session_for(scene, args)
    surface = np.load(data / "surface.npy")
    result: dict[str, Any] = {}
    for label, coverage in (("with", True), ("without", False)):
        without = mock.patch.object(mesh, "coverage_views", lambda *_: [])
        started = time.perf_counter()
        with contextlib.nullcontext() if coverage else without:
            vertices = mesh.tsdf_mesh(session, args.mesh_resolution)[0]
        result[label] = {
            "vertices": len(vertices),
            "export_s": time.perf_counter() - started,
            **precision_completeness(vertices, surface),
        }
        scores = result[label]
        print(
            f"  {label:>7} coverage views: {len(vertices)} vertices, "
            f"precision@1% {scores['precision@1%']:.3f} "
            f"completeness@1% {scores['completeness@1%']:.3f} | precision@2% {scores['precision@2%']:.3f} "
            f"completeness@2% {scores['completeness@2%']:.3f} ({scores['export_s']:.1f} s)",
            flush=True,
        )
    return result


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.2))
    scenes = list(results)
    for offset, label, colour in ((-0.2, "without", "tab:gray"), (0.2, "with", "tab:blue")):
        values = [results[s][label]["completeness@2%"] for s in scenes]
        axis.bar(np.arange(len(scenes)) + offset, values, 0.4, color=colour, label=f"{label} coverage views")
    axis.set_xticks(range(len(scenes)), scenes)
    axis.set_ylim(0.5, 1.0)
    axis.set_title("TSDF mesh: completeness at 2% of the diagonal", fontsize=9)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="*", choices=SCENES, default=list(SCENES), help="recon scenes")
    parser.add_argument("--reuse", action="store_true", help="the splats benchmark's trained sessions")
    parser.add_argument("--size", type=int, default=64, help="capture size, px (longer side)")
    parser.add_argument("--views", type=int, default=24, help="training views per scene")
    parser.add_argument("--heldout", type=int, default=6, help="held-out views per scene")
    parser.add_argument("--steps", type=int, default=800, help="NeRF training steps")
    parser.add_argument("--mesh-resolution", type=int, default=64, help="TSDF voxels along the longest side")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS / "mesh_coverage.json", help="results file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {}
    for scene in args.scenes:
        print(f"scene {scene}", flush=True)
        results[scene] = measure(scene, args)
    settings = {**vars(args), "out": str(args.out)}
    args.out.write_text(json.dumps({"settings": settings, "scenes": results}, indent=1))
    plot(results, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and its .png")


if __name__ == "__main__":
    main()
