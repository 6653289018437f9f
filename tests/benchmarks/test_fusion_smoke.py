"""A minute-scale run of the whole edit-fusion benchmark: one small scene, every schedule, few steps.

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
from benchmarks.fusion.schedules import SCHEDULE_NAMES, FusionConfig
from benchmarks.run import run_fusion

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
        list(SCHEDULE_NAMES),
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
    for name in SCHEDULE_NAMES:
        result = scene["schedules"][name]
        assert [point["step"] for point in result["curve"]] == [0, 10, 20]
        assert all(math.isfinite(point["psnr"]) and 0 < point["ssim"] <= 1 for point in result["curve"])
        assert result["curve"][0]["psnr"] == pytest.approx(scene["base"]["vs_edited"]["psnr"], abs=1e-3)
        # The engine hands the editor the dataset's own view indices.
        assert result["editor_index_mismatches"] == 0
    calls = {name: scene["schedules"][name]["editor_calls"] for name in SCHEDULE_NAMES}
    # rolling: one view at edit steps 0 and 10; sweep (every 10 x 6 steps) and once: all six views at step 0.
    assert calls == {"rolling": 2, "sweep": views, "once": views}
    assert math.isfinite(scene["target_psnr"])  # may lie below the start if no schedule improved in 20 steps
    table = markdown_table(results)
    assert table.count("| object |") == len(SCHEDULE_NAMES)
