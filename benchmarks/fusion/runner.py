"""Runs one scene: the shared base reconstruction, then each schedule's edit, measured at held-out cameras.

Wall time counts only `EditSession.step()` (NeRF steps and the editor calls inside them); the held-out
renders that measure quality are taken with the clock stopped, so measuring more often does not make a
schedule look slower.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from in2n_server.engine.session import EditSession
from in2n_server.engine.types import CameraSpec, EditParams

from .metrics import mean_scores
from .reference_editor import ReferenceEditor, ReferenceEditorSettings
from .scenes import WHITE, ScenePair, load_dataset
from .schedules import VARIANTS, FusionConfig, schedule_params
from .seeds import merge_seeds

EXACT = ReferenceEditorSettings(
    lower_bound=1.0,
    upper_bound=1.0,
    shift_max=0.0,
    rotation_max_deg=0.0,
    blur_sigma_max=0.0,
    gain_std=0.0,
    offset_std=0.0,
    detail_amplitude=0.0,
    step_error=(),
)
"""The ceiling's editor: the edited scene's view itself, at full strength, no degradation."""
COUNTS = ("editor_calls", "views_edited", "unet_passes")
"""What a schedule spends, counted whatever the hardware: calls (a batch is one), views, UNet passes."""

Log = Callable[[str], None]


def _no_editor() -> None:
    raise RuntimeError("the base reconstruction must not call the editor")


class HeldOut:
    """The held-out cameras of a pair with both references: the edited scene (the target) and the original."""

    def __init__(self, pair: ScenePair) -> None:
        self.cameras, self.edited = load_dataset(pair.heldout_edited_dir)
        _, self.original = load_dataset(pair.heldout_dir)

    def renders(self, session: EditSession) -> list[np.ndarray]:
        return [_render_rgb(session, camera) for camera in self.cameras]


def _render_rgb(session: EditSession, camera: CameraSpec) -> np.ndarray:
    return np.clip(np.asarray(session.render(camera).over(WHITE), dtype=np.float32), 0.0, 1.0)


def train_base(
    pair: ScenePair, workdir: Path, config: FusionConfig, held_out: HeldOut, log: Log
) -> dict[str, Any]:
    """Reconstruct the original scene once; every schedule of this scene starts from this checkpoint."""
    num_views = len(load_dataset(pair.train_dir)[0])
    params = schedule_params("rolling", num_views, config)
    session = EditSession.create(pair.train_dir, workdir, params, editor=_no_editor, device=config.device)
    started = time.perf_counter()
    for _ in range(config.base_steps):
        session.step()
    wall = time.perf_counter() - started
    session.save()
    renders = held_out.renders(session)
    result = {
        "steps": config.base_steps,
        "wall_s": wall,
        "vs_original": mean_scores(renders, list(held_out.original)),
        "vs_edited": mean_scores(renders, list(held_out.edited)),
        "renders": renders,  # for the picture of held-out views; not written to JSON
    }
    log(
        f"  base: {config.base_steps} steps in {wall:.0f} s, held-out PSNR "
        f"{result['vs_original']['psnr']:.2f} dB vs the original scene, "
        f"{result['vs_edited']['psnr']:.2f} dB vs the edited one"
    )
    return result


def edited_with_reference(
    pair: ScenePair,
    workdir: Path,
    config: FusionConfig,
    held_out: HeldOut,
    log: Log,
    schedule: str = "rolling",
) -> EditSession:
    """The pair's original scene reconstructed, then edited by `schedule` with the reference editor (its
    default degradations; the exact edits for "ceiling"): the edited NeRF the export benchmarks start from."""
    train_base(pair, workdir / "base", config, held_out, log)
    settings = ReferenceEditorSettings(seed=config.seed)
    session, _, _ = start_edit(pair, schedule, config, settings, workdir / "base", workdir / "edit")
    for _ in range(config.edit_steps):
        session.step()
    return session


def start_edit(
    pair: ScenePair,
    schedule: str,
    config: FusionConfig,
    editor_settings: ReferenceEditorSettings,
    base_workdir: Path,
    workdir: Path,
    **changes: Any,
) -> tuple[EditSession, ReferenceEditor, EditParams]:
    """A session that edits `pair` from the base checkpoint with `schedule`'s parameters (and `changes` to
    them), its reference editor (exact edits for the ceiling), and the parameters."""
    _, originals = load_dataset(pair.train_dir)
    _, targets = load_dataset(pair.train_edited_dir)
    params = dataclasses.replace(schedule_params(schedule, len(originals), config), **changes)
    settings = EXACT if VARIANTS[schedule].exact_edits else editor_settings
    editor = ReferenceEditor(
        targets, originals, settings, diffusion_steps=params.diffusion_steps, scale_steps=params.scale_steps
    )
    session = EditSession.create(
        pair.train_dir, workdir, params, editor=editor, device=config.device, base_checkpoint=base_workdir
    )
    return session, editor, params


def run_schedule(
    pair: ScenePair,
    schedule: str,
    base_workdir: Path,
    workdir: Path,
    config: FusionConfig,
    editor_settings: ReferenceEditorSettings,
    held_out: HeldOut,
    log: Log,
) -> dict[str, Any]:
    """One schedule's edit from the base checkpoint; returns its quality curve and totals."""
    session, editor, params = start_edit(pair, schedule, config, editor_settings, base_workdir, workdir)

    last_renders: list[np.ndarray] = []

    def measure(step: int, wall: float) -> dict[str, float]:
        last_renders[:] = held_out.renders(session)
        scores = mean_scores(last_renders, list(held_out.edited))
        counts = {"editor_calls": editor.calls, "views_edited": editor.views_edited}
        return {"step": step, **counts, "unet_passes": editor.unet_passes, "wall_s": round(wall, 3), **scores}

    curve = [measure(0, 0.0)]
    wall, step = 0.0, 0
    while step < config.edit_steps and not session.finished:
        started = time.perf_counter()
        session.step()
        wall += time.perf_counter() - started
        step += 1
        if step % config.eval_every == 0 or step == config.edit_steps or session.finished:
            curve.append(measure(step, wall))
    final = curve[-1]
    log(
        f"  {schedule:>11}: {step} steps, {editor.calls} editor calls ({editor.views_edited} views, "
        f"{editor.unet_passes} UNet passes), {wall:.0f} s -> held-out PSNR "
        f"{final['psnr']:.2f} dB, SSIM {final['ssim']:.3f}"
    )
    return {
        "params": params.to_dict(),
        "curve": curve,
        "final": final,
        **{key: final[key] for key in COUNTS},
        "editor_index_mismatches": editor.index_mismatches,
        "wall_s": wall,
        "steps": step,
        "renders": last_renders,  # the final held-out renders; not written to JSON
    }


def run_scene(
    pair: ScenePair,
    schedules: list[str],
    work_root: Path,
    config: FusionConfig,
    editor_settings: ReferenceEditorSettings,
    log: Log = print,
    seeds: list[int] | None = None,
) -> dict[str, Any]:
    """The base reconstruction (once, with the config's seed) and every schedule for one pair, each run
    once per seed (engine and reference editor both take the seed) and merged (`seeds.merge_seeds`)."""
    seeds = [config.seed] if seeds is None else seeds
    held_out = HeldOut(pair)
    log(f"scene {pair.name}:")
    base_dir = work_root / pair.name / "base"
    base = train_base(pair, base_dir, config, held_out, log)
    results = {}
    for name in schedules:
        runs = [
            run_schedule(
                pair,
                name,
                base_dir,
                work_root / pair.name / f"{name}-seed{seed}",
                dataclasses.replace(config, seed=seed),
                dataclasses.replace(editor_settings, seed=seed),
                held_out,
                log,
            )
            for seed in seeds
        ]
        results[name] = merge_seeds(runs, seeds)
    return {
        "base": base,
        "schedules": results,
        "references": {"original": list(held_out.original), "edited": list(held_out.edited)},
    }
