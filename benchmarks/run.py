"""One command for the benchmarks: edit fusion per scene and schedule, then the stage timings.

    .venv/bin/python benchmarks/run.py                 # the CPU default (at most ~20 minutes here)
    .venv/bin/python benchmarks/run.py --scenes object --edit-steps 100 --skip-stages   # a quick look

Writes benchmarks/results/fusion.json, fusion.png (quality curves), fusion_views.png (held-out views: per
scene, rows original / edited reference / base NeRF / each schedule's final render) and stages.json, and
prints the results table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python benchmarks/run.py` puts benchmarks/, not the root, on the path
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.fusion.plot import plot_fusion, views_montage  # noqa: E402
from benchmarks.fusion.reference_editor import ReferenceEditorSettings  # noqa: E402
from benchmarks.fusion.report import add_targets, machine_description, markdown_table  # noqa: E402
from benchmarks.fusion.runner import run_scene  # noqa: E402
from benchmarks.fusion.scenes import SCENE_NAMES, RenderSettings, render_scene_pair  # noqa: E402
from benchmarks.fusion.schedules import DESCRIPTIONS, SCHEDULE_NAMES, FusionConfig  # noqa: E402

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"


def run_fusion(
    scenes: list[str],
    schedules: list[str],
    config: FusionConfig,
    render: RenderSettings,
    editor: ReferenceEditorSettings,
    out_dir: Path,
    cache_dir: Path,
    *,
    target_psnr: float | None = None,
    seeds: list[int] | None = None,
    work_dir: Path | None = None,
    log=print,
) -> dict[str, Any]:
    """Render (or reuse) the scene pairs, run every schedule on each, write fusion.json and fusion.png."""
    import torch

    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "torch_threads": torch.get_num_threads(),
            "config": asdict(config),
            "render": asdict(render),
            "reference_editor": editor.to_dict(),
            "schedules": {name: DESCRIPTIONS[name] for name in schedules},
            "seeds": seeds or [config.seed],
            "lpips": None,  # no real AlexNet weights on this machine: LPIPS is not measured
        },
        "scenes": {},
    }
    renders: dict[str, dict[str, list]] = {}
    scratch = None
    if work_dir is None:
        scratch = tempfile.TemporaryDirectory(prefix="in2n-fusion-")
        work_dir = Path(scratch.name)
    try:
        for name in scenes:
            t0 = time.perf_counter()
            pair = render_scene_pair(name, cache_dir, render)
            log(f"scene pair {name!r} ready in {time.perf_counter() - t0:.0f} s ({pair.root})")
            scene = run_scene(pair, schedules, work_dir, config, editor, log, seeds)
            renders[name] = _take_renders(scene)
            results["scenes"][name] = scene
            shutil.rmtree(work_dir / name, ignore_errors=True)  # checkpoints are not needed afterwards
    finally:
        if scratch is not None:
            scratch.cleanup()
    add_targets(results, target_psnr)
    results["meta"]["total_wall_s"] = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "fusion.json").write_text(json.dumps(results, indent=1))
    plot_fusion(results, out_dir / "fusion.png")
    views_montage(results, renders, out_dir / "fusion_views.png")
    return results


def _take_renders(scene: dict[str, Any]) -> dict[str, list]:
    """Move the images out of a scene's figures (they go into fusion_views.png, not into the JSON)."""
    references = scene.pop("references")
    taken = {
        "original": references["original"],
        "edited": references["edited"],
        "base": scene["base"].pop("renders"),
    }
    for name, result in scene["schedules"].items():
        taken[name] = result.pop("renders")
    return taken


def _names(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        raise SystemExit(f"--{what}: expected a comma-separated subset of {','.join(allowed)}, got {text!r}")
    return names


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        raise SystemExit(f"--seeds: expected distinct comma-separated integers, got {text!r}")
    return seeds


def main(argv: list[str] | None = None) -> None:
    defaults, render_defaults = FusionConfig(), RenderSettings()
    parser = argparse.ArgumentParser(
        description="The edit-fusion benchmark and stage timings of blender-in2n."
    )
    parser.add_argument("--scenes", default=",".join(SCENE_NAMES), help="comma-separated scene pairs")
    parser.add_argument("--schedules", default=",".join(SCHEDULE_NAMES), help="comma-separated schedules")
    parser.add_argument(
        "--base-steps", type=int, default=defaults.base_steps, help="NeRF steps of the base reconstruction"
    )
    parser.add_argument(
        "--edit-steps", type=int, default=defaults.edit_steps, help="NeRF steps of the edit phase"
    )
    parser.add_argument(
        "--eval-every", type=int, default=defaults.eval_every, help="edit steps between held-out measurements"
    )
    parser.add_argument("--tier", default=defaults.tier, help="the engine's preset tier")
    parser.add_argument("--size", type=int, default=render_defaults.size, help="image side in pixels")
    parser.add_argument("--views", type=int, default=render_defaults.views, help="training cameras per scene")
    parser.add_argument(
        "--heldout", type=int, default=render_defaults.heldout, help="held-out cameras per scene"
    )
    parser.add_argument(
        "--target-psnr", type=float, default=None, help="absolute target in dB (default: relative)"
    )
    parser.add_argument(
        "--seeds", default="0", help="comma-separated seeds; each schedule runs once per seed (mean ± std)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the results are written")
    parser.add_argument("--cache", type=Path, default=RESULTS_DIR / "cache", help="rendered scene pairs")
    parser.add_argument("--skip-stages", action="store_true", help="do not run the stage timings")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    config = FusionConfig(
        tier=args.tier, base_steps=args.base_steps, edit_steps=args.edit_steps, eval_every=args.eval_every
    )
    render = RenderSettings(size=args.size, views=args.views, heldout=args.heldout)
    results = run_fusion(
        _names(args.scenes, SCENE_NAMES, "scenes"),
        _names(args.schedules, SCHEDULE_NAMES, "schedules"),
        config,
        render,
        ReferenceEditorSettings(),
        args.out,
        args.cache,
        target_psnr=args.target_psnr,
        seeds=_seeds(args.seeds),
    )
    meta = results["meta"]
    print(f"\n{meta['date']} · {meta['machine']} · {meta['total_wall_s']:.0f} s")
    print(markdown_table(results))
    print(f"wrote {args.out / 'fusion.json'} and {args.out / 'fusion.png'}")
    if not args.skip_stages:
        from benchmarks.bench_stages import run_stages

        run_stages(args.out / "stages.json", tier=args.tier)


if __name__ == "__main__":
    main()
