"""Reconstruction report: each scene's base NeRF measured against what Blender knows.

For each scene (captured by `capture_scenes.py` through the extension's capture), trains the base
reconstruction (tier in2n-cpu) and reports, at held-out cameras nobody trained on, PSNR and SSIM against
Blender's renders (RGBA captures: both composited on white) and the median relative depth error; then
exports the point cloud and the mesh as the server does and scores them against surface samples of the
evaluated meshes (precision and completeness at τ = 1% and 2% of the bounding-box diagonal).

    .venv/bin/python -m benchmarks.recon.run [--scenes object tabletop room artist] [--variants blender]
        [--size 64 --views 24 --steps 800]

Variants: `blender` (RGBA + depth, the capture as it is now) and `opaque` (world background, no depth:
how the project captured before RGBA + depth captures). Writes benchmarks/results/recon.json and recon.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from in2n_server.engine.session import EditSession
from in2n_server.engine.types import CameraSpec, EditParams
from in2n_server.export.backproject import Crop, backproject
from in2n_server.export.errors import NothingToExportError
from in2n_server.export.mesh import tsdf_mesh
from in2n_server.export.pointcloud import point_cloud

from ..fusion.metrics import mean_scores
from .geometry_metrics import median_relative_depth_error, precision_completeness

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
CACHE = HERE.parent / ".cache" / "recon"
SCENES = ("object", "tabletop", "room", "artist")
VARIANTS = ("blender", "opaque")
WHITE = (1.0, 1.0, 1.0)


def capture_scene(scene: str, variant: str, size: int, views: int, heldout: int) -> Path:
    """The scene's capture (cached by its settings and the capture code's modification times)."""
    sources = [HERE / "capture_scenes.py", HERE.parents[1] / "blender_in2n" / "capture.py"]
    stamp = "-".join(str(int(p.stat().st_mtime)) for p in sources)
    out = CACHE / f"{scene}-{variant}-{size}px-{views}v-{heldout}h-{stamp}"
    if (out / "surface.npy").is_file():
        return out
    scratch = out.with_name(out.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    command = [sys.executable, str(HERE / "capture_scenes.py"), f"--scene={scene}", f"--out={scratch}"]
    command += [f"--size={size}", f"--views={views}", f"--heldout={heldout}"]
    command += ["--opaque"] if variant == "opaque" else []
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(scratch / "blender-user"))
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"capturing {scene} failed:\n{done.stderr[-3000:]}")
    shutil.rmtree(scratch / "blender-user", ignore_errors=True)
    os.replace(scratch, out)
    return out


def load_views(dataset: Path) -> list[tuple[CameraSpec, np.ndarray, np.ndarray]]:
    """(camera, colour over white [H, W, 3], true depth [H, W]) of every view of a captured dataset."""
    meta = json.loads((dataset / "transforms.json").read_text())
    views = []
    for frame in meta["frames"]:
        with Image.open(dataset / frame["file_path"]) as image:
            rgba = np.asarray(image.convert("RGBA"), np.float32) / 255.0
        colour = rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])
        depth = np.load(dataset / frame["depth_file_path"], allow_pickle=False)
        views.append((CameraSpec.from_wire(frame), colour, depth))
    return views


def train_reconstruction(dataset: Path, workdir: Path, steps: int, seed: int) -> tuple[EditSession, float]:
    """The base reconstruction of a captured dataset (tier in2n-cpu, exact cameras) in a fresh `workdir`;
    returns the session and the seconds its training took."""
    params = EditParams(
        instruction="(reconstruction only)",
        tier="in2n-cpu",
        base_iterations=steps,
        edit_iterations=0,
        optimize_cameras=False,
        seed=seed,
    )
    shutil.rmtree(workdir, ignore_errors=True)
    session = EditSession.create(dataset, workdir, params, device="cpu")
    started = time.perf_counter()
    session.run(checkpoint_every=10**9)
    return session, time.perf_counter() - started


def measure(scene: str, variant: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data = capture_scene(scene, variant, args.size, args.views, args.heldout)
    session, train_s = train_reconstruction(data / "train", work, args.steps, args.seed)
    held = load_views(data / "heldout")
    renders = [session.render(camera) for camera, _, _ in held]
    images = [np.clip(r.over(WHITE), 0, 1).astype(np.float32) for r in renders]
    scores = mean_scores(images, [colour for _, colour, _ in held])
    depth_error = median_relative_depth_error([r.depth for r in renders], [d for _, _, d in held])
    surface = np.load(data / "surface.npy")
    started = time.perf_counter()
    points = _or_empty(lambda: point_cloud(session, args.points)[0])
    cloud_s = time.perf_counter() - started
    started = time.perf_counter()
    vertices = _or_empty(lambda: tsdf_mesh(session, args.mesh_resolution)[0])
    mesh_s = time.perf_counter() - started
    unfiltered = unfiltered_points(session)
    result = {
        "scene": scene,
        "variant": variant,
        "heldout_psnr": scores["psnr"],
        "heldout_ssim": scores["ssim"],
        "heldout_depth_error": depth_error,
        "point_cloud": {"points": len(points), **precision_completeness(points, surface)},
        "mesh_vertices": {"vertices": len(vertices), **precision_completeness(vertices, surface)},
        "unfiltered_points": {"points": len(unfiltered), **precision_completeness(unfiltered, surface)},
        "train_s": train_s,
        "export_s": {"point_cloud": cloud_s, "mesh": mesh_s},
        "images": images,
        "references": [colour for _, colour, _ in held],
    }
    pc, mv = result["point_cloud"], result["mesh_vertices"]
    print(
        f"{scene:>9} {variant:>8}: held-out PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.3f}, "
        f"depth error {100 * depth_error:.1f}% | points {pc['points']}: precision@2% "
        f"{pc['precision@2%']:.3f}, completeness@2% {pc['completeness@2%']:.3f} | mesh vertices "
        f"precision@2% {mv['precision@2%']:.3f} | train {train_s:.0f} s",
        flush=True,
    )
    return result


def _or_empty(export: Any) -> np.ndarray:
    """The exported points, or none when the export finds no surface it can confirm."""
    try:
        return np.asarray(export(), dtype=np.float64)
    except NothingToExportError:
        return np.zeros((0, 3))


def unfiltered_points(session: EditSession) -> np.ndarray:
    """Every opaque pixel of the training views inside the rig's sphere: the export before the multi-view
    agreement filter."""
    cameras = session.training_cameras
    region = Crop.around_cameras(cameras)
    return np.concatenate([backproject(session.render(c), c, crop=region)[0] for c in cameras]).astype(
        np.float64
    )


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """One row per run: the held-out views' references above the NeRF's renders."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2 * len(results), 1, figsize=(12, 2.2 * len(results)), squeeze=False)
    for row, result in enumerate(results):
        for offset, (key, label) in enumerate((("references", "Blender"), ("images", "NeRF"))):
            axis = axes[2 * row + offset, 0]
            axis.imshow(np.concatenate(result[key], axis=1))
            axis.set_xticks([])
            axis.set_yticks([])
            title = f"{result['scene']} ({result['variant']}) {label}"
            if key == "images":
                error = 100 * result["heldout_depth_error"]
                title += f": {result['heldout_psnr']:.1f} dB, depth error {error:.1f}%"
            axis.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="+", choices=SCENES, default=list(SCENES), help="scenes to run")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=["blender"],
        help="capture variants: blender (RGBA + depth) or opaque (as before)",
    )
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--views", type=int, default=24, help="training cameras per scene")
    parser.add_argument("--heldout", type=int, default=6, help="held-out cameras per scene (measuring only)")
    parser.add_argument("--steps", type=int, default=800, help="NeRF training steps")
    parser.add_argument("--points", type=int, default=50000, help="points per export")
    parser.add_argument("--mesh-resolution", type=int, default=64, help="TSDF voxels along the longest side")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the results are written")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = []
    for scene in args.scenes:
        for variant in args.variants:
            results.append(measure(scene, variant, args, CACHE / "work" / f"{scene}-{variant}"))
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    plain = [{k: v for k, v in r.items() if k not in ("images", "references")} for r in results]
    (args.out / "recon.json").write_text(json.dumps({"settings": settings, "results": plain}, indent=1))
    plot(results, args.out / "recon.png")
    print(f"wrote {args.out / 'recon.json'} and {args.out / 'recon.png'}")


if __name__ == "__main__":
    main()
