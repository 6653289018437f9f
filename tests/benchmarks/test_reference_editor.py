"""The reference editor: reproducible, inconsistent between calls, and centred on the edited scene."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.fusion.metrics import psnr
from benchmarks.fusion.reference_editor import ReferenceEditor, ReferenceEditorSettings


def _views(count: int = 4, size: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random 'original' and 'edited' views (smooth, so blur and misalignment stay small)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.2, 0.8, (2, count, 3, 4, 4)).astype(np.float32)
    fine = torch.nn.functional.interpolate(torch.from_numpy(coarse.reshape(-1, 3, 4, 4)), size=(size, size))
    images = fine.reshape(2, count, 3, size, size).permute(0, 1, 3, 4, 2).numpy()
    return images[0].copy(), images[1].copy()


def _edit(editor: ReferenceEditor, originals: np.ndarray, render: np.ndarray, index: int) -> np.ndarray:
    out = editor.edit(torch.from_numpy(render), torch.from_numpy(originals[index]), "x", view_index=index)
    return out.numpy()


def test_same_seed_same_edits_and_calls_differ() -> None:
    originals, targets = _views()
    first, second = ReferenceEditor(targets, originals), ReferenceEditor(targets, originals)
    a1, a2 = _edit(first, originals, originals[0], 0), _edit(first, originals, originals[0], 0)
    b1 = _edit(second, originals, originals[0], 0)
    np.testing.assert_array_equal(a1, b1)  # (seed, call number) fixes every draw
    assert np.abs(a1 - a2).mean() > 0.005  # a second call on the same view gives another edit
    assert first.calls == 2 and second.calls == 1


def test_output_matches_render_shape_dtype_and_range() -> None:
    originals, targets = _views()
    editor = ReferenceEditor(targets, originals)
    render = torch.from_numpy(originals[1]).to(torch.float64)
    out = editor.edit(render, torch.from_numpy(originals[1]), "x", view_index=1)
    assert out.shape == render.shape and out.dtype == render.dtype and out.device == render.device
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert all(0.02 <= t <= 0.98 for t in editor.timesteps)


def test_full_strength_edits_scatter_around_the_target() -> None:
    """With t forced high, edits follow the target; their mean is closer to it than any single edit."""
    originals, targets = _views()
    settings = ReferenceEditorSettings(lower_bound=0.9, upper_bound=0.95)
    editor = ReferenceEditor(targets, originals, settings)
    edits = np.stack([_edit(editor, originals, originals[2], 2) for _ in range(24)])
    singles = [psnr(edit, targets[2]) for edit in edits]
    assert psnr(originals[2], targets[2]) < min(singles)  # each edit moved towards the edited scene
    assert psnr(edits.mean(axis=0), targets[2]) > max(singles) + 3.0  # and disagreements average out


def test_small_timesteps_keep_the_render() -> None:
    originals, targets = _views()
    settings = ReferenceEditorSettings(lower_bound=0.0, upper_bound=1e-6)
    out = _edit(ReferenceEditor(targets, originals, settings), originals, originals[3], 3)
    np.testing.assert_allclose(out, originals[3], atol=1e-4)


def test_wrong_view_index_is_found_by_its_original() -> None:
    originals, targets = _views()
    settings = ReferenceEditorSettings(lower_bound=0.9, upper_bound=0.95, detail_amplitude=0.0)
    editor = ReferenceEditor(targets, originals, settings)
    out = editor.edit(torch.from_numpy(originals[1]), torch.from_numpy(originals[1]), "x", view_index=3)
    assert editor.index_mismatches == 1
    assert psnr(out, targets[1]) > psnr(out, targets[3]) + 5.0


def test_resizes_to_the_render() -> None:
    originals, targets = _views(size=32)
    editor = ReferenceEditor(targets, originals)
    small = torch.nn.functional.interpolate(
        torch.from_numpy(originals[0]).permute(2, 0, 1)[None], size=(16, 16)
    )
    small = small[0].permute(1, 2, 0)
    assert editor.edit(small, small, "x", view_index=0).shape == (16, 16, 3)
    assert editor.index_mismatches == 0


def test_rejects_mismatched_arrays() -> None:
    originals, targets = _views()
    with pytest.raises(ValueError, match="targets/originals"):
        ReferenceEditor(targets[:2], originals)


def test_a_batched_call_is_one_call_with_a_timestep_per_view() -> None:
    """As the IP2P editor's batch: every view its own draw, one denoising loop's passes for all."""
    originals, targets = _views()
    editor = ReferenceEditor(targets, originals)
    renders = [torch.from_numpy(originals[i]) for i in range(3)]
    edits = editor.edit_batch(renders, renders, "x", [0, 1, 2])
    assert (editor.calls, editor.views_edited, editor.unet_passes) == (1, 3, 20)
    assert len(set(editor.timesteps)) == 3
    alone = ReferenceEditor(targets, originals)
    assert torch.equal(alone.edit(renders[0], renders[0], "x", view_index=0), edits[0])  # view 0: a lone call
    assert all(
        psnr(edit.numpy(), targets[i]) > psnr(originals[i], targets[i]) for i, edit in enumerate(edits)
    )


def test_fewer_steps_cost_fewer_passes_and_a_larger_step_error() -> None:
    """With scale_steps the passes follow the engine's rule; the added error grows with the step size."""
    from benchmarks.fusion.reference_editor import STEP_ERROR, step_error

    originals, targets = _views()
    editor = ReferenceEditor(targets, originals, scale_steps=True)
    for _ in range(10):
        _edit(editor, originals, originals[0], 0)
    expected = sum(max(1, min(20, int(np.ceil(int(1000 * t) / 49.0 - 1e-9)))) for t in editor.timesteps)
    assert editor.unet_passes == expected < 10 * 20
    assert step_error(STEP_ERROR, 0.5, 49) > step_error(STEP_ERROR, 0.5, 25) > 0.0
    assert step_error((), 0.5, 49) == 0.0
