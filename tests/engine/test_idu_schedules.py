"""The new IDU schedules inside a real session: batched calls, the annealed bound, warped starts.

Real nerfstudio training on the CPU on a Blender-like capture (RGBA + exact depth); the editor records
what the engine hands it and paints every edit one flat colour, so a warped start is recognisable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from in2n_server.engine.session import EditSession
from in2n_server.engine.types import EditParams
from in2n_server.samples.procedural import generate_scene

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

EDIT_STEPS, RATE, PER_CALL = 30, 10, 3
PAINT = torch.tensor([1.0, 0.0, 0.0])


class PaintingEditor:
    """Records every call; returns each view painted PAINT."""

    def __init__(self) -> None:
        self.single: list[dict] = []
        self.batches: list[dict] = []

    def edit(self, render, original, instruction, *, view_index, upper_bound=None, crop=None):
        self.single.append({"view": view_index, "upper_bound": upper_bound, "start": render.clone()})
        return PAINT.expand_as(render).clone()

    def edit_batch(self, renders, originals, instruction, view_indices, *, upper_bound=None):
        self.batches.append(
            {"views": list(view_indices), "upper_bound": upper_bound, "starts": [r.clone() for r in renders]}
        )
        return [PAINT.expand_as(render).clone() for render in renders]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory):
    return generate_scene(tmp_path_factory.mktemp("capture"), num_views=8, size=32, as_blender_capture=True)


def _params(**changes) -> EditParams:
    return EditParams(
        instruction="paint it red",
        tier="in2n-cpu",
        base_iterations=20,
        edit_iterations=EDIT_STEPS,
        edit_rate=RATE,
        edit_count=PER_CALL,
        anneal=True,
        anneal_to=0.3,
        warp_start=True,
        optimize_cameras=False,
        **changes,
    )


@pytest.fixture(scope="module")
def run(capture, tmp_path_factory: pytest.TempPathFactory) -> dict:
    editor = PaintingEditor()
    session = EditSession.create(capture.root, tmp_path_factory.mktemp("session"), _params(), editor=editor)
    session.run()
    return {"editor": editor, "session": session}


def test_several_views_of_a_step_go_to_the_editor_as_one_batch(run: dict) -> None:
    editor = run["editor"]
    assert editor.single == []
    assert [len(batch["views"]) for batch in editor.batches] == [PER_CALL] * (EDIT_STEPS // RATE)
    assert run["session"].pipeline.edits_done == PER_CALL * (EDIT_STEPS // RATE)


def test_the_highest_start_noise_falls_over_the_edit_phase(run: dict) -> None:
    bounds = [batch["upper_bound"] for batch in run["editor"].batches]
    expected = [0.98 + (0.3 - 0.98) * step / (EDIT_STEPS - 1) for step in range(0, EDIT_STEPS, RATE)]
    assert bounds == pytest.approx(expected)


def test_edits_start_from_the_nearest_edited_view_warped_by_depth(run: dict) -> None:
    """The first edits start from renders; once views are edited, later starts carry the paint where
    the neighbour sees the same surface, and nothing where the view sees no surface."""
    session = run["session"]
    depths = session.pipeline.datamanager.image_batch["depth_image"][..., 0].cpu()

    def painted_share(start: torch.Tensor, view: int) -> float:
        painted = (start - PAINT).abs().amax(dim=-1) < 0.02
        surface = depths[view] > 0
        assert not bool(painted[~surface].any())  # the background is never warped in
        return float(painted[surface].float().mean())

    first, *later = run["editor"].batches
    assert all(
        painted_share(start, view) < 0.05 for start, view in zip(first["starts"], first["views"], strict=True)
    )
    shares = [
        painted_share(start, view) for b in later for start, view in zip(b["starts"], b["views"], strict=True)
    ]
    assert np.mean(shares) > 0.3, shares


def test_resumed_session_remembers_which_views_were_edited(run: dict) -> None:
    session = run["session"]
    session.save()
    resumed = EditSession.resume(session.workdir, editor=PaintingEditor(), device="cpu")
    assert resumed.pipeline.edited_views == session.pipeline.edited_views != set()


def test_warped_starts_need_depth_maps(tiny_scene_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="warp_start: this scene has no depth maps"):
        EditSession.create(tiny_scene_dir, tmp_path / "s", _params(), editor=PaintingEditor())
    assert not (tmp_path / "s" / "dataset").exists()
