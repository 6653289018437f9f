"""The Iterative Dataset Update with the bundled demo editor, on a small Blender-rendered scene.

Measured at cameras that no edit ever saw: the renders must follow the instruction ("make it blue")
while keeping the scene's structure. This is the project's whole promise, run offline on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.fusion.scenes import render_scene_pair
from in2n_server.editor.loading import NAMED_MODELS, recommended_settings
from in2n_server.engine.session import EditSession
from in2n_server.engine.types import CameraSpec, EditParams
from tools.demo_editor.metrics import edge_correlation, hue_share

BLUE_HUE = 225.0


@pytest.fixture(scope="module")
def edit_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    assert Path(NAMED_MODELS["demo"], "model_index.json").is_file(), "the demo editor must be committed"
    pair = render_scene_pair("object", tmp_path_factory.mktemp("scenes"))
    params = EditParams(
        instruction="make it blue",
        tier="in2n-cpu",
        model="demo",
        base_iterations=300,
        edit_iterations=300,
        edit_rate=5,
        seed=0,
        optimize_cameras=False,
        **recommended_settings("demo"),
    )
    session = EditSession.create(pair.train_dir, tmp_path_factory.mktemp("demo-edit"), params, device="cpu")
    heldout = _heldout(pair.heldout_dir)
    session.run(max_steps=params.base_iterations)
    before = [session.render(camera).rgb for camera, _ in heldout]
    session.run()
    after = [session.render(camera).rgb for camera, _ in heldout]
    return {"photos": [photo for _, photo in heldout], "before": before, "after": after, "session": session}


def _heldout(dataset_dir: Path) -> list[tuple[CameraSpec, np.ndarray]]:
    import json

    meta = json.loads((dataset_dir / "transforms.json").read_text())
    views = []
    for frame in meta["frames"]:
        photo = (
            np.asarray(Image.open(dataset_dir / frame["file_path"]).convert("RGB"), dtype=np.float32) / 255
        )
        views.append((CameraSpec.from_wire({**meta, **frame}), photo))
    return views


def test_heldout_views_follow_the_instruction(edit_run: dict) -> None:
    before = np.mean([hue_share(image, BLUE_HUE) for image in edit_run["before"]])
    after = np.mean([hue_share(image, BLUE_HUE) for image in edit_run["after"]])
    print(f"held-out blue share: reconstruction {before:.2f}, after the edit {after:.2f}")
    assert before < 0.3
    assert after > 0.6


def test_heldout_views_keep_the_scene_structure(edit_run: dict) -> None:
    correlations = [
        edge_correlation(a, p) for a, p in zip(edit_run["after"], edit_run["photos"], strict=True)
    ]
    baseline = [edge_correlation(b, p) for b, p in zip(edit_run["before"], edit_run["photos"], strict=True)]
    print(
        "held-out edge correlation with the photos: "
        f"before {np.mean(baseline):.2f}, after {np.mean(correlations):.2f}"
    )
    assert np.mean(correlations) > 0.5 * np.mean(baseline)
