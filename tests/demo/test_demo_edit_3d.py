"""The Iterative Dataset Update with the bundled demo editor, measured at cameras no edit ever saw.

The scene is the demo's procedural sample (spheres on a checkered ground), rendered by our own ray caster:
the CPU preset reconstructs it well at held-out cameras, so what is measured here is the edit, not the
reconstruction. The edit uses the demo model's recommended settings (its `in2n_recommended.json`).
The renders must follow the instruction ("make it blue") while keeping the
scene's structure: the project's whole promise, run offline on a CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from in2n_server.editor.loading import NAMED_MODELS, recommended_settings
from in2n_server.engine.session import EditSession
from in2n_server.engine.types import CameraSpec, EditParams
from in2n_server.samples.procedural import generate_scene

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # tools/ is not installed
    sys.path.insert(0, str(REPO_ROOT))

from tools.demo_editor.metrics import edge_correlation, hue_share  # noqa: E402

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

BLUE_HUE = 225.0
BASE_STEPS, EDIT_STEPS = 250, 300


@pytest.fixture(scope="module")
def edit_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    assert Path(NAMED_MODELS["demo"], "model_index.json").is_file(), "the demo editor must be committed"
    scene = generate_scene(tmp_path_factory.mktemp("scene"), num_views=24, size=48, num_heldout=4)
    params = EditParams(
        instruction="make it blue",
        tier="in2n-cpu",
        model="demo",
        base_iterations=BASE_STEPS,
        edit_iterations=EDIT_STEPS,
        seed=0,
        optimize_cameras=False,  # the sample's cameras are exact
        **recommended_settings("demo"),
    )
    session = EditSession.create(scene.root, tmp_path_factory.mktemp("demo-edit"), params, device="cpu")
    heldout = [CameraSpec.from_wire(camera) for camera in scene.heldout_cameras]
    photos = [
        np.asarray(Image.open(scene.root / camera["file_path"]).convert("RGB"), dtype=np.float32) / 255
        for camera in scene.heldout_cameras
    ]
    session.run(max_steps=params.base_iterations)
    before = [session.render(camera).rgb for camera in heldout]
    session.run()
    after = [session.render(camera).rgb for camera in heldout]
    return {
        "photos": photos,
        "before": before,
        "after": after,
        "edits": session.progress.edits_done,
        "edit_rate": session.params.edit_rate,
    }


def test_the_edit_ran_through_the_demo_editor(edit_run: dict) -> None:
    assert edit_run["edit_rate"] == recommended_settings("demo")["edit_rate"]  # the model's own IDU setting
    assert edit_run["edits"] == EDIT_STEPS // edit_run["edit_rate"]


def test_heldout_views_follow_the_instruction(edit_run: dict) -> None:
    before = np.mean([hue_share(image, BLUE_HUE) for image in edit_run["before"]])
    after = np.mean([hue_share(image, BLUE_HUE) for image in edit_run["after"]])
    print(f"held-out blue share: reconstruction {before:.2f}, after the edit {after:.2f}")
    assert before < 0.3
    assert after > 0.6


# Measured with the committed weights (2026-12-02, run 5, `tools/demo_editor/tune_idu.py`): held-out edge
# correlation with the photos 0.85 for the reconstruction, 0.80 after the edit (ratio 0.95); blue share 0.88.
# At 250 base steps (2026-12-06, for the suite's time): 0.79 and 0.79, blue share 0.88 (200 edit steps: 0.42).
def test_heldout_views_keep_the_scene_structure(edit_run: dict) -> None:
    baseline = [edge_correlation(b, p) for b, p in zip(edit_run["before"], edit_run["photos"], strict=True)]
    correlations = [
        edge_correlation(a, p) for a, p in zip(edit_run["after"], edit_run["photos"], strict=True)
    ]
    print(
        "held-out edge correlation with the photos: "
        f"reconstruction {np.mean(baseline):.2f}, after the edit {np.mean(correlations):.2f}"
    )
    assert np.mean(baseline) > 0.5  # the reconstruction itself is sound at these cameras
    assert np.mean(correlations) >= 0.6 * np.mean(baseline)
