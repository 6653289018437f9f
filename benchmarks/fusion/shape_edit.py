"""Shape edits through the fusion benchmark: `grow_margin` 0 (the captured alpha stays) against others.

On each pair (default `tabletop`: the green sphere becomes a purple cone; `object`: appearance only, the
control), one shared base reconstruction, then for every margin the rolling IDU with the reference editor and
the ceiling (the edited scene's exact views, once). Measured at the held-out cameras against the edited scene:
PSNR inside the union of the original and edited objects' masks (pixels pooled) and over the whole view
(mean over views, as fusion.json), and the silhouette IoU of the NeRF's opacity (> 0.5) against the edited
scene's alpha inside that union. Geometry: the edited NeRF's exported point cloud (as the server exports it,
`POINTS` points) against the edited scene's surfaces (its train and held-out depth maps, back-projected):
precision and completeness at 2% of the diagonal, and completeness on the *new* surface alone (edited
surface samples farther than 2% from every original one: the cone's tip).

    .venv/bin/python -m benchmarks.fusion.shape_edit [--scenes tabletop,object --margins 0,0.05]

`--moved-release on,off` and `--sparsity 0,0.1` are ablations on the same base (engine/moved_surface.py; the
sparsity prior of engine/model.py, which acts only after `sparsity_min_base_steps`: pair it with
`--base-steps 600`).

Writes benchmarks/results/shape_edit.json, shape_edit.png (PSNR in the masks' union, per run) and
shape_edit_views.png (held-out views: the edited scene, the base, each run; their depth below).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
from scipy.spatial import cKDTree

from in2n_server.engine.geometry import world_points
from in2n_server.engine.pipeline import In2NPipeline
from in2n_server.engine.session import EditSession
from in2n_server.engine.types import CameraSpec
from in2n_server.export.errors import NothingToExportError
from in2n_server.export.pointcloud import point_cloud

from ..recon.geometry_metrics import diagonal, precision_completeness
from .local_edit import region_psnr
from .metrics import mean_scores, silhouette_iou
from .reference_editor import ReferenceEditorSettings
from .runner import HeldOut, start_edit, train_base
from .scenes import WHITE, RenderSettings, load_alphas, load_masks, render_scene_pair
from .schedules import FusionConfig

RESULTS = Path(__file__).resolve().parents[1] / "results"
CACHE = RESULTS / "cache"
SCHEDULES = ("rolling", "ceiling")
POINTS = 50_000
"""Points per exported cloud, as the reconstruction report exports them."""
NEW_SURFACE_SHARE = 0.02
FIGURE_VIEWS = 2
"""Held-out views shown per scene in the *_views.png figure."""
VIEWS_KEY = "_views"
"""Where `Reference.measure` leaves the views for the figure (taken out before the JSON is written)."""
"""An edited surface sample farther than this share of the diagonal from the original surface is new."""


def surface_samples(*dataset_dirs: Path) -> np.ndarray:
    """[N, 3] scene-frame points of every pixel with depth in the datasets' views (exact surfaces)."""
    points = []
    for dataset_dir in dataset_dirs:
        meta = json.loads((Path(dataset_dir) / "transforms.json").read_text())
        for frame in meta["frames"]:
            depth = np.load(Path(dataset_dir) / frame["depth_file_path"], allow_pickle=False)
            points.append(world_points(CameraSpec.from_wire(frame), depth)[depth > 0])
    return np.concatenate(points)


class Reference:
    """The held-out cameras with what is measured against: the edited scene's views, alpha, and masks."""

    def __init__(self, pair: Any) -> None:
        self.held = HeldOut(pair)
        self.alphas = load_alphas(pair.heldout_edited_dir)
        self.union = load_masks(pair.heldout_edited_dir) | load_masks(pair.heldout_dir)
        self.surface = surface_samples(pair.train_edited_dir, pair.heldout_edited_dir)
        original = surface_samples(pair.train_dir, pair.heldout_dir)
        distance = cKDTree(original).query(self.surface)[0]
        self.new_surface = self.surface[distance > NEW_SURFACE_SHARE * diagonal(self.surface)]

    def scores(self, rgb: list[np.ndarray], opacity: list[np.ndarray]) -> dict[str, float]:
        edited = list(self.held.edited)
        return {
            "psnr_union": region_psnr(rgb, edited, self.union),
            "psnr_whole": mean_scores(rgb, edited)["psnr"],
            "iou_union": silhouette_iou(opacity, list(self.alphas), list(self.union)),
        }

    def measure(self, session: EditSession) -> dict[str, Any]:
        """The scores, and under VIEWS_KEY the first held-out views' colour and depth (for the figure)."""
        renders = [session.render(camera) for camera in self.held.cameras]
        rgb = [np.clip(np.asarray(r.over(WHITE), np.float32), 0, 1) for r in renders]
        views = [(rgb[i], renders[i].depth) for i in range(min(FIGURE_VIEWS, len(renders)))]
        scores = {**self.scores(rgb, [r.accumulation for r in renders]), **self.geometry(session)}
        return {**scores, VIEWS_KEY: views}

    def geometry(self, session: EditSession) -> dict[str, float]:
        """The exported points against the edited surfaces (and the new part of them) at 2%."""
        try:
            points = np.asarray(point_cloud(session, POINTS)[0], np.float64)
        except NothingToExportError:
            points = np.zeros((0, 3))
        scores = precision_completeness(points, self.surface)
        new = {"new_completeness@2%": float("nan")}
        if len(self.new_surface) and len(points):
            tau = NEW_SURFACE_SHARE * diagonal(self.surface)
            new["new_completeness@2%"] = float(np.mean(cKDTree(points).query(self.new_surface)[0] <= tau))
        return {
            "points": len(points),
            "precision@2%": scores["precision@2%"],
            "completeness@2%": scores["completeness@2%"],
            **new,
        }


def run_edit(
    pair: Any,
    schedule: str,
    margin: float,
    base_dir: Path,
    work: Path,
    config: FusionConfig,
    reference: Reference,
    moved_release: bool = True,
    sparsity: float | None = None,
) -> dict[str, Any]:
    """One edit from the base checkpoint with this schedule and grow margin, measured; `moved_release`
    False: the ablation without engine/moved_surface.py (depth let go only where the alpha changed);
    `sparsity`: the model's `sparsity_loss_mult_edit` (None: the engine's default)."""
    settings = ReferenceEditorSettings(seed=config.seed)
    session, editor, _ = start_edit(pair, schedule, config, settings, base_dir, work, grow_margin=margin)
    model_config = session.pipeline.model.config
    if sparsity is not None:
        model_config.sparsity_loss_mult_edit = sparsity
    ablation = mock.patch.object(In2NPipeline, "release_moved_depth", lambda self, indices: None)
    with contextlib.nullcontext() if moved_release else ablation:
        started = time.perf_counter()
        for _ in range(config.edit_steps):
            session.step()
        wall = time.perf_counter() - started
    result = {
        "schedule": schedule,
        "grow_margin": margin,
        "moved_release": moved_release,
        "sparsity": model_config.sparsity_loss_mult_edit,
        "hull_share": (session.pipeline.model.sparsity_region or (None, 0.0))[1],
        "editor_calls": editor.calls,
        "wall_s": wall,
        **reference.measure(session),
    }
    print(
        f"  {schedule:>8}, grow_margin {margin:.3f}, moved release {'on' if moved_release else 'off'}, "
        f"sparsity {result['sparsity']:g} (hull {result['hull_share']:.3f} of the box): "
        f"PSNR union {result['psnr_union']:.2f} dB, whole "
        f"{result['psnr_whole']:.2f} dB, silhouette IoU {result['iou_union']:.3f}, points precision@2% "
        f"{result['precision@2%']:.3f}, completeness@2% {result['completeness@2%']:.3f} (new surface "
        f"{result['new_completeness@2%']:.3f}) ({wall:.0f} s)",
        flush=True,
    )
    return result


def run_scene(
    name: str,
    margins: list[float],
    render: RenderSettings,
    config: FusionConfig,
    moved_releases: tuple[bool, ...] = (True,),
    sparsities: tuple[float | None, ...] = (None,),
) -> dict[str, Any]:
    pair = render_scene_pair(name, CACHE, render)
    reference = Reference(pair)
    work = CACHE / f"work-shape-edit-{name}"
    shutil.rmtree(work, ignore_errors=True)
    print(f"scene {name}: union of the masks {reference.union.mean():.3f} of the held-out pixels", flush=True)
    try:
        train_base(pair, work / "base", config, reference.held, print)
        base = reference.measure(EditSession.open_for_export(work / "base", device=config.device))
        runs = [
            run_edit(
                pair,
                schedule,
                margin,
                work / "base",
                work / f"{schedule}-{margin}-{moved}-{sparsity}",
                config,
                reference,
                moved,
                sparsity,
            )
            for margin in margins
            for moved in moved_releases
            for sparsity in sparsities
            for schedule in SCHEDULES
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "reference": [reference.held.edited[i] for i in range(min(FIGURE_VIEWS, len(reference.held.edited)))],
        "union_share": float(reference.union.mean()),
        "new_surface_samples": len(reference.new_surface),
        "surface_samples": len(reference.surface),
        "base": base,
        "runs": runs,
    }


def views_figure(scenes: dict[str, Any], path: Path) -> None:
    """Per scene and held-out view, one row: the edited scene (Blender), the base, then each run's render
    and below it its depth (near dark), so a shape that stayed shows even where its colour changed."""
    from PIL import Image

    rows = []
    for scene in scenes.values():
        runs = [scene["base"], *scene["runs"]]
        for index, reference in enumerate(scene["reference"]):
            colour = [np.asarray(reference, np.float32)] + [run[VIEWS_KEY][index][0] for run in runs]
            depths = [run[VIEWS_KEY][index][1] for run in runs]
            surface = (
                np.concatenate([d[d > 0] for d in depths]) if any((d > 0).any() for d in depths) else None
            )
            low, high = (surface.min(), surface.max()) if surface is not None else (0.0, 1.0)
            grey = [np.ones_like(colour[0])] + [
                np.repeat(np.where(d > 0, (d - low) / max(high - low, 1e-6), 1.0)[..., None], 3, -1)
                for d in depths
            ]
            rows += [np.concatenate(colour, 1), np.concatenate(grey, 1)]
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=1.0) for row in rows]
    image = (np.clip(np.concatenate(rows, 0), 0, 1) * 255).astype(np.uint8)
    Image.fromarray(image).resize((image.shape[1] * 3, image.shape[0] * 3), Image.NEAREST).save(path)


def without_views(scenes: dict[str, Any]) -> dict[str, Any]:
    """The results without the figure's images (for the JSON)."""
    strip = lambda run: {k: v for k, v in run.items() if k != VIEWS_KEY}  # noqa: E731
    return {
        name: {
            **{k: v for k, v in scene.items() if k not in ("reference", "base", "runs")},
            "base": strip(scene["base"]),
            "runs": [strip(run) for run in scene["runs"]],
        }
        for name, scene in scenes.items()
    }


def plot(scenes: dict[str, Any], path: Path) -> None:
    """PSNR inside the masks' union per scene, schedule and margin (bars), the base's for scale (line)."""
    import matplotlib

    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(scenes), figsize=(4.5 * len(scenes), 3.6), squeeze=False)
    for axis, (name, scene) in zip(axes[0], scenes.items(), strict=True):
        labels = [
            f"{r['schedule']}\n{r['grow_margin']:g}{'' if r.get('moved_release', True) else ' off'}"
            f"{'' if r.get('sparsity') is None else ' s' + format(r['sparsity'], 'g')}"
            for r in scene["runs"]
        ]
        colours = ["tab:blue" if r["schedule"] == "rolling" else "tab:gray" for r in scene["runs"]]
        values = [r["psnr_union"] for r in scene["runs"]]
        axis.bar(range(len(values)), values, color=colours)
        axis.axhline(scene["base"]["psnr_union"], color="k", linestyle=":", label="before the edit")
        axis.set_xticks(range(len(values)), labels, fontsize=8)
        axis.set_ylim(min(values + [scene["base"]["psnr_union"]]) - 2, max(values) + 1)
        axis.set_title(f"{name}: PSNR in the masks' union (dB)", fontsize=9)
        axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    defaults, render_defaults = FusionConfig(), RenderSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", default="tabletop,object", help="comma-separated scene pairs")
    parser.add_argument("--margins", default="0,0.05", help="comma-separated grow margins to compare")
    parser.add_argument(
        "--base-steps", type=int, default=defaults.base_steps, help="NeRF steps of the base reconstruction"
    )
    parser.add_argument(
        "--edit-steps", type=int, default=defaults.edit_steps, help="NeRF steps of the edit phase"
    )
    parser.add_argument(
        "--moved-release",
        default="on",
        help="comma-separated: on (engine/moved_surface.py releases the depth), off (the ablation), or both",
    )
    parser.add_argument(
        "--sparsity",
        default="",
        help="comma-separated weights of the sparsity prior while editing (default: the engine's)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the engine and the reference editor")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "shape_edit.json", help="where the results are written"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = FusionConfig(base_steps=args.base_steps, edit_steps=args.edit_steps, seed=args.seed)
    margins = [float(m) for m in args.margins.split(",")]
    moved_releases = tuple(value.strip() == "on" for value in args.moved_release.split(","))
    sparsities = tuple(float(w) for w in args.sparsity.split(",")) if args.sparsity else (None,)
    started = time.perf_counter()
    scenes = {
        name: run_scene(name, margins, render_defaults, config, moved_releases, sparsities)
        for name in (s.strip() for s in args.scenes.split(","))
    }
    results = {
        "settings": {**vars(args), "out": str(args.out)},
        "config": dataclasses.asdict(config),
        "render": dataclasses.asdict(render_defaults),
        "total_wall_s": time.perf_counter() - started,
        "scenes": scenes,
    }
    views_figure(scenes, args.out.with_name(args.out.stem + "_views.png"))
    results["scenes"] = without_views(scenes)
    args.out.write_text(json.dumps(results, indent=1))
    plot(scenes, args.out.with_suffix(".png"))
    print(f"wrote {args.out}, its .png and _views.png ({results['total_wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
