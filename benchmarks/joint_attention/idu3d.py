"""3D: the IDU with the demo editor, rolling against batched-5 with and without joint attention.

    .venv/bin/python -m benchmarks.joint_attention.idu3d [--scene object] [--base-steps 400]
        [--edit-steps 300] [--seeds 0] [--runs rolling batched-5 batched-5-anchor batched-5-all]
        [--reuse-base] [--out-name joint_attention_3d.json]

A reconstruction-report scene (benchmarks/recon's Blender capture: RGBA, exact depth, 24 training views and
6 held out, 64 px), tier in2n-cpu, exact cameras, "make it blue" with the demo editor's recommended settings
(edit rate 5 per view: rolling edits one view every 5 steps, batched-5 five views every 25, so both make the
same number of view edits). One base reconstruction, then each run from its checkpoint. Measured after the
edit: at the held-out cameras the edit's strength and structure (blue share; edge correlation with the
held-out photos, and its ratio to the reconstruction's), and how well the final NeRF fits its own edited
training views (PSNR of its render against the current training image, both over white: high when the
edits agree in 3D); editor calls, view edits and UNet passes. The batched runs of one seed share the view
order and the editor's draws, so they differ only by attention (NeRF training is not bit-reproducible here).
Writes benchmarks/results/joint_attention_3d.json (`--out-name`).
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

from in2n_server.editor.loading import recommended_settings
from in2n_server.engine.session import EditSession
from in2n_server.engine.types import EditParams
from in2n_server.engine.workdir import checkpoint_path

from ..fusion.metrics import psnr
from ..recon.run import capture_scene, load_views
from .common import BLUE_HUE, INSTRUCTION, RESULTS, edge_correlation, hue_share, mean_and_error

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "joint_attention"
WHITE = (1.0, 1.0, 1.0)
RUNS: dict[str, dict[str, Any]] = {
    "rolling": {"edit_count": 1},
    "batched-5": {"edit_count": 5},
    "batched-5-anchor": {"edit_count": 5, "joint_attention": "anchor"},
    "batched-5-all": {"edit_count": 5, "joint_attention": "all"},
}


def edit_params(args: argparse.Namespace, seed: int, **changes: Any) -> EditParams:
    values: dict[str, Any] = {
        "instruction": INSTRUCTION,
        "tier": "in2n-cpu",
        "model": "demo",
        "base_iterations": args.base_steps,
        "edit_iterations": args.edit_steps,
        "optimize_cameras": False,
        "seed": seed,
        # the model's guidance and noise; its edit rate is per view, so it is left to resolve as
        # rate x edit_count (EditParams.edit_rate unset): batched-5 edits as many views as rolling
        **{k: v for k, v in recommended_settings("demo").items() if k != "edit_rate"},
    }
    return EditParams(**{**values, **changes})


def over_white(image: np.ndarray) -> np.ndarray:
    """[H, W, 3 or 4] straight colour -> [H, W, 3] over white."""
    if image.shape[-1] == 3:
        return image
    alpha = image[..., 3:]
    return image[..., :3] * alpha + (1.0 - alpha)


def heldout_figures(session: EditSession, heldout: list) -> dict[str, float]:
    renders = [np.clip(session.render(camera).over(WHITE), 0, 1) for camera, _, _ in heldout]
    photos = [colour for _, colour, _ in heldout]
    surfaces = [depth > 0 for _, _, depth in heldout]
    return {
        "blue_share": float(np.mean([hue_share(r, BLUE_HUE) for r in renders])),
        "surface_blue_share": float(
            np.mean([hue_share(r[s], BLUE_HUE) for r, s in zip(renders, surfaces, strict=True)])
        ),
        "edge_correlation": float(
            np.mean([edge_correlation(r, p) for r, p in zip(renders, photos, strict=True)])
        ),
    }


def training_fit(session: EditSession) -> float:
    """Mean PSNR of the NeRF's render at each training camera against that view's current (edited) image."""
    scores = []
    for index, camera in enumerate(session.training_cameras):
        render = np.clip(session.render(camera).over(WHITE), 0, 1)
        scores.append(psnr(render, np.clip(over_white(session.edited_image(index)), 0, 1)))
    return float(np.mean(scores))


def base_session(data: Path, args: argparse.Namespace) -> tuple[Path, float]:
    """The shared base reconstruction's workdir and its held-out edge correlation with the photos.

    With `--reuse-base` an earlier run's base is used as it is (more seeds against the same base)."""
    work = CACHE / f"{args.scene}-base-{args.base_steps}"
    if args.reuse_base and checkpoint_path(work).is_file():
        session = EditSession.resume(work, device="cpu")
    else:
        shutil.rmtree(work, ignore_errors=True)
        params = edit_params(args, 0, edit_iterations=0)
        session = EditSession.create(data / "train", work, params, device="cpu")
        session.run(checkpoint_every=10**9)
    return work, heldout_figures(session, load_views(data / "heldout"))["edge_correlation"]


def run_one(data: Path, base: Path, name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    work = CACHE / f"{args.scene}-{name}-{seed}"
    shutil.rmtree(work, ignore_errors=True)
    params = edit_params(args, seed, **RUNS[name])
    session = EditSession.create(data / "train", work, params, device="cpu", base_checkpoint=base)
    started = time.perf_counter()
    session.run(checkpoint_every=10**9)
    seconds = time.perf_counter() - started
    editor = session.pipeline.editor
    result = {
        **heldout_figures(session, load_views(data / "heldout")),
        "training_fit_psnr": training_fit(session),
        "editor_calls": editor.calls,
        "views_edited": editor.views_edited,
        "unet_passes": editor.unet_passes,
        "seconds": seconds,
    }
    print(f"{args.scene} {name} seed {seed}: {result}", flush=True)
    return result


def summarise(runs: list[dict[str, Any]], base_edges: float) -> dict[str, Any]:
    keys = (
        "blue_share",
        "surface_blue_share",
        "edge_correlation",
        "training_fit_psnr",
        "editor_calls",
        "views_edited",
        "unet_passes",
        "seconds",
    )
    summary = {key: mean_and_error([r[key] for r in runs]) for key in keys}
    summary["edge_ratio"] = (summary["edge_correlation"][0] / base_edges, 0.0)
    return summary


def table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| run | held-out blue share (of the objects' pixels) | held-out edge corr. (ratio to the "
        "reconstruction) | NeRF fit to its edited training views (PSNR) | editor calls / view edits / UNet "
        "passes | CPU s |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in results["runs"].items():
        fit, fit_error = s["training_fit_psnr"]
        rows.append(
            f"| {name} | {s['blue_share'][0]:.3f} ({s['surface_blue_share'][0]:.3f}) "
            f"| {s['edge_correlation'][0]:.3f} ({s['edge_ratio'][0]:.2f}) "
            f"| {fit:.2f} ± {fit_error:.2f} | {s['editor_calls'][0]:.0f} / {s['views_edited'][0]:.0f} / "
            f"{s['unet_passes'][0]:.0f} "
            f"| {s['seconds'][0]:.0f} |"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", default="object", help="which scene")
    parser.add_argument(
        "--runs",
        nargs="+",
        choices=tuple(RUNS),
        default=list(RUNS),
        help="comma-separated runs to compare (schedule and joint mode)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="comma-separated seeds")
    parser.add_argument("--base-steps", type=int, default=400, help="NeRF steps of the base reconstruction")
    parser.add_argument("--edit-steps", type=int, default=300, help="NeRF steps of the edit phase")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--views", type=int, default=24, help="training cameras per scene")
    parser.add_argument("--heldout", type=int, default=6, help="held-out cameras per scene (measuring only)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--reuse-base", action="store_true", help="use the cached base if there is one")
    parser.add_argument("--out-name", default="joint_attention_3d.json", help="file name of the results JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = capture_scene(args.scene, "blender", args.size, args.views, args.heldout)
    base, base_edges = base_session(data, args)
    print(f"{args.scene}: reconstruction's held-out edge correlation {base_edges:.3f}", flush=True)
    per_run = {name: [run_one(data, base, name, seed, args) for seed in args.seeds] for name in args.runs}
    results = {
        "settings": vars(args),
        "base_edge_correlation": base_edges,
        "per_seed": per_run,
        "runs": {name: summarise(runs, base_edges) for name, runs in per_run.items()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / args.out_name).write_text(json.dumps(results, indent=1))
    print("\n".join(table(results)))


if __name__ == "__main__":
    main()
