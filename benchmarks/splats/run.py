"""Gaussian splats against the NeRF and the point cloud, rendered by Blender 5.3 at held-out cameras.

For each reconstruction-report scene (captured by the extension, `benchmarks/recon`), and for the fusion
benchmark's edited `object` pair after its IDU run (rolling schedule, reference editor): trains the base
reconstruction (tier in2n-cpu), exports the splats (refined, and as placed before the refinement) and the
point cloud as the server does (same point budget), renders them with Blender 5.3 after importing them
with the extension's importer (`render_results.py`: native splats; the point cloud as today's import
shows it), and scores them and the NeRF's own renders against Blender's render of the scene at held-out
cameras nobody trained on (PSNR and SSIM, all composited on white). Also times the exports: the point
cloud is drawn from the same renders of the training views as the splats (the server's `point_cloud`
makes exactly these), and its time counts them.

    .venv/bin/python -m benchmarks.splats.run [--scenes object tabletop] [--size 64 --views 24 --steps 800]
        [--points 50000] [--refine-steps 300] [--no-edited-pair] [--reuse]
        [--edit-schedule rolling|ceiling] [--edit-steps 300] [--name splats]
        [--blender .venv-blender-5.3/bin/python]

Writes benchmarks/results/splats.json and splats.png (rows: Blender's render, NeRF, splats, splats as
placed, point cloud).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from in2n_server.engine.session import EditSession
from in2n_server.engine.types import CameraSpec
from in2n_server.export.backproject import session_region
from in2n_server.export.coverage import between_views
from in2n_server.export.pointcloud import points_from_views, sized_surface_views
from in2n_server.export.refine import refined_splats
from in2n_server.export.sh import DEFAULT_SH_DEGREE
from in2n_server.export.splats import DEFAULT_REFINE_STEPS, splats_from_views
from in2n_server.export.writers import write_point_cloud, write_splats

from ..fusion.metrics import mean_scores
from ..fusion.runner import HeldOut, edited_with_reference
from ..fusion.scenes import render_scene_pair
from ..fusion.schedules import FusionConfig
from ..recon.run import CACHE, RESULTS, SCENES, WHITE, capture_scene, load_views, train_reconstruction

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KINDS = ("splats", "splats.placed", "point_cloud")
"""What is rendered: the export's splats (refined), the same splats as placed before refinement, points."""


def over_white(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        rgba = np.asarray(image.convert("RGBA"), np.float32) / 255.0
    return rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])


def blender_renders(blender: Path, cameras: Path, files: dict[str, Path], out: Path, samples: int) -> dict:
    """Render every result file at the cameras of a transforms.json with the given Blender (its own
    process)."""
    command = [str(blender), str(HERE / "render_results.py"), "--cameras", str(cameras)]
    command += ["--out", str(out), "--samples", str(samples)]
    command += [arg for kind, path in files.items() for arg in ("--result", f"{kind}={path}")]
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(out / "blender-user"))
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"rendering the results failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def measure(scene: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """A reconstruction-report scene: the base NeRF against Blender's render of the scene."""
    data = capture_scene(scene, "blender", args.size, args.views, args.heldout)
    session = reused(work / "job", args)
    if session is None:
        shutil.rmtree(work, ignore_errors=True)
        session, _ = train_reconstruction(data / "train", work / "job", args.steps, args.seed)
        session.save()
    held = load_views(data / "heldout")
    cameras = [camera for camera, _, _ in held]
    references = [colour for _, colour, _ in held]
    return score(scene, session, cameras, data / "heldout" / "transforms.json", references, args, work)


def measure_edited_pair(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The fusion benchmark's `object` pair after its IDU run (rolling, reference editor, its default
    settings; or `--edit-schedule ceiling`, the edited views exactly): the edited NeRF against Blender's
    render of the edited scene."""
    pair = render_scene_pair("object", RESULTS / "cache")
    held_out = HeldOut(pair)
    session = reused(work / "edit", args)
    if session is None:
        shutil.rmtree(work, ignore_errors=True)
        config = FusionConfig(seed=args.seed, edit_steps=args.edit_steps)
        session = edited_with_reference(pair, work, config, held_out, print, args.edit_schedule)
        session.save()
    cameras_json = pair.heldout_edited_dir / "transforms.json"
    return score(
        "object (edited)", session, held_out.cameras, cameras_json, list(held_out.edited), args, work
    )


def reused(workdir: Path, args: argparse.Namespace) -> EditSession | None:
    """With `--reuse`, the session an earlier run of the same settings saved in `workdir` (None: train).

    Only the exports and Blender's renders are then measured again; the settings are not checked, so
    reuse only after a run with the same --size, --views, --steps and --seed."""
    if not args.reuse or not (workdir / "checkpoints").is_dir():
        return None
    print(f"reusing the trained session in {workdir}")
    return EditSession.open_for_export(workdir, device="cpu")


def score(
    name: str,
    session: EditSession,
    cameras: list[CameraSpec],
    cameras_json: Path,
    references: list[np.ndarray],
    args: argparse.Namespace,
    work: Path,
) -> dict[str, Any]:
    """Export splats and points from `session`, render them in Blender and score them with the NeRF."""
    nerf = [np.clip(session.render(camera).over(WHITE), 0, 1).astype(np.float32) for camera in cameras]
    files, export_s, counts = {}, {}, {}
    started = time.perf_counter()  # what `splats` does, split to time and render the placed splats too
    views = sized_surface_views(session, args.points)
    rendered_s = time.perf_counter() - started  # the renders both exports make, made once here
    placed = splats_from_views(views, args.points, args.sh_degree)
    export_s["splats.placed"] = time.perf_counter() - started
    novel = between_views(session, views, session_region(session, True), args.points)
    gaussians = refined_splats(views, args.points, args.sh_degree, args.refine_steps, novel=novel)
    export_s["splats"] = time.perf_counter() - started
    for kind, result in (("splats", gaussians), ("splats.placed", placed)):
        files[kind] = write_splats(work / f"{kind}.ply", result)
        counts[kind] = len(result)
    started = time.perf_counter()
    points, colours = points_from_views(views, args.points)  # = point_cloud(session, args.points)
    export_s["point_cloud"] = rendered_s + time.perf_counter() - started
    files["point_cloud"] = write_point_cloud(work / "point_cloud.ply", points, colours)
    counts["point_cloud"] = len(points)
    rendered = blender_renders(args.blender, cameras_json, files, work / "renders", args.samples)
    images = {"nerf": nerf}
    for kind in KINDS:
        images[kind] = [over_white(work / "renders" / kind / f"{i:04d}.png") for i in range(len(cameras))]
    scores = {kind: mean_scores(views, references) for kind, views in images.items()}
    line = ", ".join(f"{kind} {s['psnr']:.2f} dB / {s['ssim']:.3f}" for kind, s in scores.items())
    times = ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in export_s.items())
    print(f"{name}: {line} | export s: {times}")
    return {
        "scene": name,
        "scores": scores,
        "counts": counts,
        "export_s": export_s,
        "blender": rendered,
        "images": images,
        "references": references,
    }


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Per scene, the first two held-out views: Blender's render, the NeRF, the splats, the point cloud."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ("references", "nerf", *KINDS)
    columns = [(r, i) for r in results for i in range(min(2, len(r["references"])))]
    fig, axes = plt.subplots(
        len(rows), len(columns), figsize=(2.0 * len(columns), 2.1 * len(rows)), squeeze=False
    )
    for col, (result, index) in enumerate(columns):
        for row, name in enumerate(rows):
            views = result["references"] if name == "references" else result["images"][name]
            ax = axes[row][col]
            ax.imshow(np.clip(views[index], 0, 1))
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{result['scene']} #{index}", fontsize=9)
            if col == 0:
                labels = {
                    "references": "Blender",
                    "point_cloud": "point cloud",
                    "splats.placed": "splats, placed",
                }
                ax.set_ylabel(labels.get(name, name), fontsize=9)
            if name != "references":
                score = result["scores"][name]
                ax.set_xlabel(f"{score['psnr']:.1f} dB (mean)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="*", choices=SCENES, default=list(SCENES), help="recon scenes")
    parser.add_argument("--size", type=int, default=64, help="capture size, px (longer side)")
    parser.add_argument("--views", type=int, default=24, help="training views per scene")
    parser.add_argument("--heldout", type=int, default=6, help="held-out views per scene")
    parser.add_argument("--steps", type=int, default=800, help="NeRF training steps")
    parser.add_argument("--points", type=int, default=50000, help="splats and points per export")
    parser.add_argument(
        "--sh-degree", type=int, default=DEFAULT_SH_DEGREE, help="spherical-harmonics degree of the splats"
    )
    parser.add_argument(
        "--refine-steps", type=int, default=DEFAULT_REFINE_STEPS, help="the splats' refinement steps"
    )
    parser.add_argument("--samples", type=int, default=256, help="Cycles samples of the result renders")
    parser.add_argument("--seed", type=int, default=0, help="training (and reference editor) seed")
    parser.add_argument(
        "--edited-pair",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also the fusion benchmark's object pair after its IDU run (rolling, reference editor)",
    )
    parser.add_argument(
        "--edit-schedule",
        choices=("rolling", "ceiling"),
        default="rolling",
        help="the edited pair's edit: the rolling IDU with the reference editor, or the edited views exactly",
    )
    parser.add_argument(
        "--edit-steps", type=int, default=FusionConfig.edit_steps, help="the edited pair's IDU steps"
    )
    parser.add_argument("--name", default="splats", help="file stem of the results JSON and picture")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="open the sessions an earlier run (same settings) saved instead of training them again",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--blender",
        type=Path,
        default=REPO / ".venv-blender-5.3" / "bin" / "python",
        help="a Python with bpy 5.3 or later",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for splats.json and splats.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    edited_work = CACHE / "splats" / f"object-edited-{args.edit_schedule}-{args.edit_steps}"
    results = [measure_edited_pair(args, edited_work)] if args.edited_pair else []
    results += [measure(scene, args, CACHE / "splats" / scene) for scene in args.scenes]
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"}
    plain = [{k: v for k, v in r.items() if k not in ("images", "references")} for r in results]
    json_path, png_path = args.out / f"{args.name}.json", args.out / f"{args.name}.png"
    json_path.write_text(json.dumps({"settings": settings, "results": plain}, indent=1))
    plot(results, png_path)
    print(f"wrote {json_path} and {png_path}")


if __name__ == "__main__":
    main()
