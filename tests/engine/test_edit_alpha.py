"""The alpha rule of edited RGBA views (engine/edit_alpha.py) on hand-made images."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from in2n_server.engine.edit_alpha import KEY_HIGH, KEY_LOW, edited_mask, key_edit, over_background, reshaped
from in2n_server.engine.model import ALPHA_FREE_KEY, In2NModel
from in2n_server.engine.regions import GrowRegion, dilate

H = W = 16
PURPLE = torch.tensor([0.5, 0.1, 0.7])
GREEN = torch.tensor([0.1, 0.7, 0.2])
WHITE = torch.ones(3)


def _empty_view() -> torch.Tensor:
    return torch.zeros(H, W, 4)


def _box(rows: slice, cols: slice) -> torch.Tensor:
    box = torch.zeros(H, W, dtype=torch.bool)
    box[rows, cols] = True
    return box


def _white_edit() -> torch.Tensor:
    return torch.ones(H, W, 3)


def _with_square(view: torch.Tensor, rows: slice, cols: slice, colour: torch.Tensor) -> torch.Tensor:
    view = view.clone()
    view[rows, cols] = torch.cat([colour, torch.ones(1)])
    return view


def edited_rgba(original: torch.Tensor, edit: torch.Tensor, grow: GrowRegion) -> torch.Tensor:
    return key_edit(original, edit, grow).rgba


def test_surface_on_the_keyed_background_becomes_opaque_inside_the_region_not_outside() -> None:
    edit = _white_edit()
    edit[4:12, 2:14] = PURPLE  # a new object, half of it inside the region
    grow = GrowRegion(_box(slice(0, H), slice(0, 4)), 4)  # the region: columns 0-7
    result = edited_rgba(_empty_view(), edit, grow)
    assert torch.all(result[4:12, 2:8, 3] == 1.0)
    torch.testing.assert_close(result[4:12, 2:8, :3], PURPLE.expand(8, 6, 3))
    assert torch.all(result[4:12, 8:14, 3] == 0.0)  # outside: empty as captured
    assert torch.all(result[:4, :8, 3] == 0.0) and torch.all(result[12:, :8, 3] == 0.0)  # keyed background


def test_outside_the_region_the_original_alpha_is_kept_exactly() -> None:
    original = _with_square(_empty_view(), slice(6, 10), slice(6, 10), torch.tensor([0.2, 0.3, 0.4]))
    original[10, 6:10, 3] = 0.4  # a soft edge
    edit = torch.rand(H, W, 3, generator=torch.Generator().manual_seed(0))  # surface-like everywhere
    grow = GrowRegion(original[..., 3] > 0, 1)
    region = grow.region()
    result = edited_rgba(original, edit, grow)
    assert torch.equal(result[..., 3][~region], original[..., 3][~region])
    assert torch.equal(result[..., :3][~region], edit[~region])
    assert (result[..., 3][region] > 0).float().mean() > 0.5  # the same edit did become surface inside


def test_with_no_region_the_edit_keeps_the_original_alpha() -> None:
    original = _with_square(_empty_view(), slice(4, 8), slice(4, 8), torch.tensor([0.2, 0.3, 0.4]))
    edit = torch.rand(H, W, 3, generator=torch.Generator().manual_seed(1))
    result = edited_rgba(original, edit, GrowRegion(original[..., 3] > 0, 0))
    assert torch.equal(result, torch.cat([edit, original[..., 3:]], dim=-1))


def test_a_shrunk_silhouette_is_alpha_free_at_most_the_margin_deep() -> None:
    """Where the edit shows the background from the empty space inwards, the view no longer says whether
    surface is there: its alpha stays the original's and the pixels are alpha-free (the loss compares them
    over the background), at most the margin deep."""
    original = _with_square(_empty_view(), slice(4, 12), slice(4, 12), GREEN)
    edit = _white_edit()
    edit[8:12, 4:12] = PURPLE  # the edit keeps the lower half only
    keyed = key_edit(original, edit, GrowRegion(original[..., 3] > 0, 4))
    assert torch.equal(keyed.alpha_free, _box(slice(4, 8), slice(4, 12)))
    assert torch.equal(keyed.rgba[..., 3], original[..., 3])  # stored alpha: the original's
    torch.testing.assert_close(keyed.rgba[4:8, 4:12, :3], WHITE.expand(4, 8, 3))  # asks for the background
    torch.testing.assert_close(keyed.rgba[8:12, 4:12, :3], PURPLE.expand(4, 8, 3))
    # with a margin of 2 px only what lies within 2 px of the empty space is undecided
    shallow = key_edit(original, edit, GrowRegion(original[..., 3] > 0, 2)).alpha_free
    assert torch.all(shallow[4:6, 4:12]) and not shallow[6:8, 6:10].any()
    assert not shallow[8:, :].any()


def test_a_surface_recoloured_white_keeps_its_alpha_and_only_its_border_is_undecided() -> None:
    """White paint and a hole look alike to a key: only background that joins the empty space may be a
    removal (alpha-free, for the other views to decide); the inside of a surface painted white is paint."""
    original = _with_square(_empty_view(), slice(2, 14), slice(2, 14), GREEN)
    painted = _white_edit()
    painted[2:14, 2:14] = 0.97
    keyed = key_edit(original, painted, GrowRegion(original[..., 3] > 0, 2))
    assert torch.all(keyed.rgba[..., 3] == original[..., 3])
    assert not keyed.alpha_free[4:12, 4:12].any()
    assert torch.all(keyed.alpha_free[2:4, 2:14])
    # an enclosed hole cannot open either: a white centre the rest of the surface surrounds
    holed = original[..., :3].clone()
    holed[6:10, 6:10] = WHITE
    holed = over_background(holed, original[..., 3:], False)
    keyed = key_edit(original, holed, GrowRegion(original[..., 3] > 0, 8))
    assert torch.all(keyed.rgba[6:10, 6:10, 3] == 1.0) and not keyed.alpha_free.any()


def test_other_objects_in_a_masked_edits_region_stay_decided() -> None:
    original = _with_square(_empty_view(), slice(4, 12), slice(2, 7), GREEN)  # the selected object
    original = _with_square(original, slice(4, 12), slice(7, 12), PURPLE)  # its neighbour
    mask = _box(slice(4, 12), slice(2, 7))
    edit = _white_edit()  # the editor whitened both
    keyed = key_edit(original, edit, GrowRegion(mask, 8))
    assert torch.all(keyed.alpha_free[4:12, 2:7])  # the selected object may have gone
    assert not keyed.alpha_free[:, 7:].any()  # its neighbour stays as it is: only the selection may shrink
    assert torch.all(keyed.rgba[4:12, 2:12, 3] == 1.0)


def test_empty_space_stays_empty_and_nothing_outside_the_region_is_undecided() -> None:
    original = _with_square(_empty_view(), slice(4, 12), slice(4, 12), torch.tensor([0.97, 0.97, 0.96]))
    edit = _white_edit()  # the editor leaves the white plate white: indistinguishable from the background
    everywhere = GrowRegion(torch.ones(H, W, dtype=torch.bool), 8)
    keyed = key_edit(original, edit, everywhere)
    assert torch.all(keyed.rgba[4:12, 4:12, 3] == 1.0)
    assert torch.all(keyed.rgba[:4, :, 3] == 0.0)  # while the empty background stays empty
    assert not keyed.alpha_free[original[..., 3] == 0].any()  # and is no undecided pixel: empty is known
    small = GrowRegion(original[..., 3] > 0, 1)
    keyed = key_edit(original, edit, small)
    assert not keyed.alpha_free[~small.region()].any()


def test_soft_edges_ramp_between_the_thresholds() -> None:
    """A row of pixels mixing the purple surface into white in steps: alpha rises monotonically from 0
    (a trace the editor left, below KEY_LOW) to 1 (past KEY_HIGH), with values between on the way, and the
    un-composited colour of a part-covered pixel is closer to the surface's than the edit's own pixel is."""
    mix = torch.linspace(0, 1, W)
    edit = _white_edit()
    edit[:] = WHITE + mix[None, :, None] * (PURPLE - WHITE)
    result = edited_rgba(_empty_view(), edit, GrowRegion(torch.ones(H, W, dtype=torch.bool), 1))
    alpha = result[0, :, 3]
    assert alpha[0] == 0 and alpha[-1] == 1
    assert torch.all(alpha[1:] >= alpha[:-1])
    partial = (alpha > 0) & (alpha < 1)
    assert partial.any()
    column = int(torch.nonzero(partial)[0])
    distance_edit = (edit[0, column] - PURPLE).norm()
    assert (result[0, column, :3] - PURPLE).norm() < distance_edit
    # re-composited over white, a fully keyed pixel is the edit itself
    torch.testing.assert_close(over_background(result[..., :3], result[..., 3:], False)[0, -1], edit[0, -1])


def test_an_edit_that_tints_the_whole_view_keys_against_its_own_background() -> None:
    """The editor darkened everything (its white is grey): measured where the view was empty and may not
    grow, that grey is the background, not surface."""
    grey = 1.0 - (KEY_LOW + KEY_HIGH) / 2 * 1.2  # as far from white as a half-keyed surface
    edit = torch.full((H, W, 3), grey)
    edit[6:10, 6:10] = PURPLE
    result = edited_rgba(_empty_view(), edit, GrowRegion(_box(slice(6, 10), slice(6, 10)), 2))
    assert torch.all(result[4:12, 4:12, 3][edit[4:12, 4:12, 0] == grey] == 0.0)
    assert torch.all(result[6:10, 6:10, 3] == 1.0)
    # with no empty pixel outside the region to measure, the background is the white the editor was shown
    everywhere = edited_rgba(_empty_view(), edit, GrowRegion(torch.ones(H, W, dtype=torch.bool), 1))
    assert everywhere[0, 0, 3] > 0


def test_the_edited_objects_mask_follows_growth_and_shrinkage_inside_the_region() -> None:
    mask = _box(slice(4, 8), slice(4, 8))  # the selected object
    original_alpha = torch.zeros(H, W)
    original_alpha[4:8, 4:8] = 1.0
    original_alpha[10:14, 4:8] = 1.0  # another object, inside the region too
    current = original_alpha.clone()
    current[2:4, 4:8] = 1.0  # grown upwards (a hat)
    current[4:8, 7] = 0.0  # and its right column removed
    current[0, 0] = 1.0  # surface outside the region (cannot happen in an edit; never in the mask)
    region = _box(slice(1, 15), slice(2, 10))
    result = edited_mask(mask, region, original_alpha, current)
    expected = torch.zeros(H, W, dtype=torch.bool)
    expected[2:4, 4:8] = True  # the hat
    expected[4:8, 4:7] = True  # the object, less its removed column
    assert torch.equal(result, expected)


def test_alpha_free_rays_are_compared_over_the_background_whatever_their_opacity() -> None:
    """A removal (accumulation 0) and white paint (white, accumulation 1) both match an alpha-free target;
    on other rays the random background still tells an empty prediction from an opaque target."""
    renderer = SimpleNamespace(background_color="random")
    model = SimpleNamespace(renderer_rgb=renderer, device="cpu", training=True)
    target = torch.tensor([[1.0, 1.0, 1.0, 1.0]] * 2)  # opaque white as stored; the first ray alpha-free
    batch = {"image": target, ALPHA_FREE_KEY: torch.tensor([[True], [False]])}
    for rgb, accumulation in ((torch.zeros(2, 3), torch.zeros(2, 1)), (torch.ones(2, 3), torch.ones(2, 1))):
        torch.manual_seed(0)
        pred, gt = In2NModel.loss_colours(model, {"rgb": rgb, "accumulation": accumulation}, batch)
        torch.testing.assert_close(pred[0], gt[0])
    torch.manual_seed(0)
    pred, gt = In2NModel.loss_colours(
        model, {"rgb": torch.zeros(2, 3), "accumulation": torch.zeros(2, 1)}, batch
    )
    assert (pred[1] - gt[1]).abs().max() > 0.01  # empty against an opaque white target on a random background


def test_the_depth_lets_go_where_solid_pixels_change_not_where_a_soft_edge_is_keyed_differently() -> None:
    """A recolour whose key gives the captured silhouette's anti-aliased edge another coverage changes no
    shape: nothing is released. A shape that grows turns empty pixels into surface: released there and up
    to the margin around, inside the region."""
    original = _with_square(_empty_view(), slice(5, 11), slice(5, 11), GREEN)
    original[11, 5:11, 3] = 0.4  # the soft bottom edge, as Blender's anti-aliasing leaves it
    grow = GrowRegion(original[..., 3] > 0, 2)
    free = torch.zeros(H, W, dtype=torch.bool)
    rekeyed = original[..., 3].clone()
    rekeyed[11, 5:11] = 0.9  # the recolour's key of that edge
    assert not reshaped(original[..., 3], rekeyed, free, grow).any()
    grown = rekeyed.clone()
    grown[5:11, 11] = 1.0  # one more column of surface, where the view was empty
    released = reshaped(original[..., 3], grown, free, grow)
    assert torch.equal(released, dilate(_box(slice(5, 11), slice(11, 12)), 2) & grow.region())
    edge_free = free.clone()
    edge_free[11, 5:11] = True  # the light soft edge keyed like background: undecided, still no shape change
    assert not reshaped(original[..., 3], rekeyed, edge_free, grow).any()
    cut = edge_free.clone()
    cut[10, 5] = True  # a covered pixel left undecided: the edit may have cut it away
    assert reshaped(original[..., 3], rekeyed, cut, grow)[10, 5]
