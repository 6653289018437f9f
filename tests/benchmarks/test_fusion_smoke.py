"""A minute-scale run of the whole edit-fusion benchmark: one small scene, four schedules, few steps.

It goes through the real pieces: Blender renders the pair, the engine's EditSession trains the base and
runs each schedule with the reference editor, renders at held-out cameras are scored, JSON and PNG written.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from benchmarks.fusion.reference_editor import ReferenceEditorSettings
from benchmarks.fusion.report import markdown_table
from benchmarks.fusion.scenes import RenderSettings
from benchmarks.fusion.schedules import FusionConfig
from benchmarks.run import run_fusion

# The floor, the ceiling, in2n's, and the one that uses every new idea (batched, annealed, fewer steps, warp).
SCHEDULES = ("rolling", "once", "ceiling", "combined+warp")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs bpy (the dev extra)"),
]


def test_fusion_benchmark_end_to_end(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)  # other tests may run beside this one on two cores
    views = 6
    config = FusionConfig(base_steps=30, edit_steps=20, eval_every=10)
    results = run_fusion(
        ["object"],
        list(SCHEDULES),
        config,
        RenderSettings(size=32, views=views, heldout=2, samples=8),
        ReferenceEditorSettings(),
        tmp_path / "results",
        tmp_path / "cache",
        log=lambda line: None,
    )

    written = json.loads((tmp_path / "results" / "fusion.json").read_text())
    assert written["scenes"].keys() == {"object"}
    assert (tmp_path / "results" / "fusion.png").stat().st_size > 10_000
    scene = results["scenes"]["object"]
    assert math.isfinite(scene["base"]["vs_original"]["psnr"])
    for name in SCHEDULES:
        result = scene["schedules"][name]
        assert [point["step"] for point in result["curve"]] == [0, 10, 20]
        assert all(math.isfinite(point["psnr"]) and 0 < point["ssim"] <= 1 for point in result["curve"])
        assert result["curve"][0]["psnr"] == pytest.approx(scene["base"]["vs_edited"]["psnr"], abs=1e-3)
        # The engine hands the editor the dataset's own view indices.
        assert result["editor_index_mismatches"] == 0
    spent = {
        name: tuple(scene["schedules"][name]["final"][key] for key in ("editor_calls", "views_edited"))
        for name in SCHEDULES
    }
    # rolling: one view at edit steps 0 and 10; once and ceiling: all six views in one batched call at step
    # 0; combined: six views per call every 60 steps, so one call at step 0.
    assert spent == {
        "rolling": (2, 2),
        "once": (1, views),
        "ceiling": (1, views),
        "combined+warp": (1, views),
    }
    passes = {name: scene["schedules"][name]["final"]["unet_passes"] for name in SCHEDULES}
    assert passes["rolling"] == 2 * 20 and passes["once"] == 20  # 20 DDIM steps per call
    assert 1 <= passes["combined+warp"] <= 20  # fewer steps when the drawn start noise is lower
    # Training on the edited scene's own views moves the held-out renders towards it.
    assert scene["schedules"]["ceiling"]["final"]["psnr"] > scene["base"]["vs_edited"]["psnr"]
    assert math.isfinite(scene["target_psnr"])  # may lie below the start if no schedule improved in 20 steps
    table = markdown_table(results)
    assert table.count("| object |") == len(SCHEDULES)
