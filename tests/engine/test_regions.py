"""Local-edit compositing and crop-and-edit (server/engine/regions.py) on small exact tensors."""

from __future__ import annotations

import torch

from in2n_server.engine.regions import (
    Box,
    composite,
    crop_box,
    edit_crop,
    edit_region,
    grow_region,
    soft_mask,
)


def square_mask(size: int, top: int, left: int, side: int) -> torch.Tensor:
    mask = torch.zeros(size, size)
    mask[top : top + side, left : left + side] = 1.0
    return mask


def test_soft_mask_is_one_inside_zero_far_outside_and_ramps_between() -> None:
    mask = square_mask(100, 40, 40, 20)
    weight = soft_mask(mask)[..., 0]
    assert weight.shape == (100, 100)
    assert torch.all(weight[40:60, 40:60] == 1.0)  # never weaker than the mask itself
    assert weight[0, 0] == 0.0 and weight[50, 90] == 0.0
    ramp = weight[50, 60:70]
    assert torch.all(ramp[1:] <= ramp[:-1]) and 0.0 < ramp[3] < 1.0  # a monotone seam


def test_composite_keeps_the_outside_exactly() -> None:
    edited, outside = torch.ones(8, 8, 3), torch.zeros(8, 8, 3)
    weight = torch.zeros(8, 8, 1)
    weight[2:4, 2:4] = 1.0
    result = composite(edited, outside, weight)
    assert torch.equal(result[weight[..., 0] == 0], outside[weight[..., 0] == 0])
    assert torch.equal(result[2:4, 2:4], edited[2:4, 2:4])


def test_crop_box_is_a_square_with_margin_inside_the_image() -> None:
    assert crop_box(square_mask(100, 40, 40, 20)) == Box(37, 37, 26)  # 20 px + 15% each side
    near_edge = crop_box(square_mask(100, 0, 90, 10))
    assert near_edge is not None and near_edge.left + near_edge.side == 100 and near_edge.top == 0
    assert crop_box(torch.zeros(50, 50)) is None
    assert crop_box(square_mask(50, 0, 0, 48)) is None  # covers the image: nothing to gain


def test_crop_is_edited_at_the_working_size_and_pasted_back_in_place() -> None:
    seen = []

    def edit(render: torch.Tensor, original: torch.Tensor, box: Box) -> torch.Tensor:
        assert box == Box(10, 30, 10)  # the editor is told which part of the view it edits
        seen.append((tuple(render.shape), tuple(original.shape), float(original.mean())))
        return torch.ones_like(render)

    render = torch.zeros(64, 64, 3)
    original = torch.zeros(64, 64, 3)
    original[10:20, 30:40] = 0.5  # the conditioning image is cut at the same place
    result = edit_crop(edit, render, original, Box(10, 30, 10), working_size=32)
    assert seen == [((32, 32, 3), (32, 32, 3), 0.5)]
    assert torch.all(result[10:20, 30:40] == 1.0)
    outside = torch.ones(64, 64, dtype=torch.bool)
    outside[10:20, 30:40] = False
    assert torch.all(result[outside] == 0.0)


def test_masked_edit_changes_nothing_far_from_the_mask() -> None:
    render = torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(0))
    original = torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(1))
    mask = square_mask(64, 20, 20, 8)
    for crop in (False, True):
        result = edit_region(
            lambda r, o, *box: torch.ones_like(r),
            render,
            original,
            mask,
            outside=original,
            crop=crop,
            working_size=64,
        )
        assert torch.all(result[20:28, 20:28] == 1.0)
        assert torch.equal(result[:10], original[:10]) and torch.equal(result[:, 40:], original[:, 40:])


def test_grow_region_is_the_mask_grown_by_the_margin_and_nothing_at_zero() -> None:
    inside = square_mask(50, 20, 20, 10) > 0.5
    assert not grow_region(inside, 0.0).region().any()  # margin 0: the captured alpha stays everywhere
    grow = grow_region(inside, 0.1)  # 5 px of the 50 px side
    assert grow.steps == 5 and torch.equal(grow.inside, inside)
    expected = square_mask(50, 15, 15, 20) > 0.5
    assert torch.equal(grow.region(), expected)


def test_a_shape_edit_is_kept_whole_over_its_grow_region() -> None:
    """With `kept` (the grow region), the edit is not feathered away inside it, only beyond it."""
    render, original = torch.zeros(64, 64, 3), torch.zeros(64, 64, 3)
    mask = square_mask(64, 28, 28, 8)
    kept = grow_region(mask > 0.5, 0.125).region()  # 8 px: rows and columns 20..43
    result = edit_region(
        lambda r, o, *box: torch.ones_like(r),
        render,
        original,
        mask,
        outside=original,
        crop=False,
        working_size=64,
        kept=kept,
    )
    assert torch.all(result[kept] == 1.0)
    plain = edit_region(
        lambda r, o, *box: torch.ones_like(r),
        render,
        original,
        mask,
        outside=original,
        crop=False,
        working_size=64,
    )
    assert plain[21, 32, 0] < 1.0  # without it the same pixel, 7 px from the mask, is feathered
    assert torch.equal(result[:8], original[:8])
