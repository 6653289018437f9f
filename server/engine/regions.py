"""Local edits: the instruction changes what the mask covers and nothing else.

InstructPix2Pix changes more than the object an instruction names ("make the vase bronze" tints the
table too). Blender knows exact per-view masks of the selected objects, so the edit is confined to them:

- `soft_mask`: the mask grown by a few pixels (an edit may move a silhouette slightly) and feathered, so
  the seam does not show;
- `composite`: edited inside, the outside image (the original photo or the current render) elsewhere;
- `crop_box` / `edit_crop`: a small object gets the editor's whole working resolution: a square around the
  mask's bounding box (with a margin) is cut out, resized to the working size, edited, and pasted back
  at its place and scale. The original (the conditioning image) is cut the same way;
- `grow_region`: where a shape edit of an RGBA view may change its silhouette (engine/edit_alpha.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

DILATE_FRACTION = 0.02
"""The mask grows by this share of the image's longer side (at least 1 px)."""
FEATHER_FRACTION = 0.02
"""...and its edge ramps from 1 to 0 over this share of the longer side."""
CROP_MARGIN = 0.15
"""The crop square extends this share of the mask's larger bounding-box side beyond it on every side."""

EditFn = Callable[..., torch.Tensor]
"""(render, original) -> edited, all [H, W, 3] in [0, 1]; `edit_crop` also passes the Box as a third
argument, so an editor can know which part of the view it is given."""


def _pixels(fraction: float, shape: tuple[int, ...]) -> int:
    """`fraction` of the longer side of an [H, W] image, in pixels (at least 1 when above 0)."""
    return 0 if fraction <= 0 else max(1, round(fraction * max(shape[-2:])))


def dilate(inside: torch.Tensor, pixels: int) -> torch.Tensor:
    """[H, W] bool: `inside` ([H, W] bool) grown by a square of `pixels` around each of its pixels."""
    if pixels <= 0:
        return inside.bool().clone()
    grown = F.max_pool2d(inside.float()[None, None], kernel_size=2 * pixels + 1, stride=1, padding=pixels)
    return grown[0, 0] > 0.5


@dataclass(frozen=True)
class GrowRegion:
    """Where a shape edit of an RGBA view may change its silhouette (engine/edit_alpha.py): up to `steps`
    pixels around `inside` ([H, W] bool: the selected objects' mask, or the view's silhouette)."""

    inside: torch.Tensor
    steps: int

    def region(self) -> torch.Tensor:
        """[H, W] bool: `inside` grown by `steps` (nothing at 0 steps: the captured alpha stays)."""
        if self.steps <= 0:
            return torch.zeros_like(self.inside, dtype=torch.bool)
        return dilate(self.inside, self.steps)


def grow_region(inside: torch.Tensor, margin: float) -> GrowRegion:
    """The grow region of `inside` ([H, W] bool) with `margin` a share of the longer side (0: none)."""
    return GrowRegion(inside.bool(), _pixels(margin, tuple(inside.shape)))


def soft_mask(mask: torch.Tensor) -> torch.Tensor:
    """[H, W, 1] mask in [0, 1]: `mask` ([H, W] or [H, W, 1], > 0.5 = inside) dilated, then feathered."""
    binary = (mask.reshape(mask.shape[0], mask.shape[1]) > 0.5).float()[None, None]
    longer = max(binary.shape[-2:])
    grown = dilate(binary[0, 0], _pixels(DILATE_FRACTION, binary.shape)).float()[None, None]
    feather = max(1, round(FEATHER_FRACTION * longer))
    kernel = 2 * feather + 1
    # A box blur of the grown mask: 1 deep inside, 0 well outside, a linear ramp across the edge.
    blurred = F.avg_pool2d(F.pad(grown, (feather,) * 4, mode="replicate"), kernel_size=kernel, stride=1)
    return torch.maximum(blurred, binary)[0, 0, ..., None].clamp(0, 1)


def composite(edited: torch.Tensor, outside: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`edited` where `weight` ([H, W, 1]) is 1, `outside` where it is 0, blended between."""
    return edited * weight + outside * (1.0 - weight)


@dataclass(frozen=True)
class Box:
    """A square crop in pixels: rows [top, top + side), columns [left, left + side)."""

    top: int
    left: int
    side: int


def crop_box(mask: torch.Tensor) -> Box | None:
    """The square around the mask's bounding box plus a margin, kept inside the image; None when the
    mask is empty or the square would cover the whole image's shorter side (cropping would gain nothing)."""
    inside = mask.reshape(mask.shape[0], mask.shape[1]) > 0.5
    height, width = inside.shape
    rows, cols = torch.nonzero(inside.any(dim=1)), torch.nonzero(inside.any(dim=0))
    if len(rows) == 0:
        return None
    top, bottom = int(rows.min()), int(rows.max()) + 1
    left, right = int(cols.min()), int(cols.max()) + 1
    extent = max(bottom - top, right - left)
    side = round(extent * (1 + 2 * CROP_MARGIN))
    if side >= min(height, width):
        return None
    centre_row, centre_col = (top + bottom) / 2, (left + right) / 2
    box_top = min(max(0, round(centre_row - side / 2)), height - side)
    box_left = min(max(0, round(centre_col - side / 2)), width - side)
    return Box(box_top, box_left, side)


def _resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """[S, S, 3] -> [size, size, 3] (bicubic when enlarging, area when shrinking)."""
    chw = image.permute(2, 0, 1)[None]
    mode = "bicubic" if size > image.shape[0] else "area"
    kwargs = {"align_corners": False} if mode == "bicubic" else {}
    return F.interpolate(chw, size=(size, size), mode=mode, **kwargs)[0].permute(1, 2, 0).clamp(0, 1)


def edit_crop(
    edit: EditFn, render: torch.Tensor, original: torch.Tensor, box: Box, working_size: int
) -> torch.Tensor:
    """Edit the square `box` of `render` at `working_size`, conditioned on the same square of `original`;
    returns `render` with the edited square pasted back at its place and scale."""
    rows = slice(box.top, box.top + box.side)
    cols = slice(box.left, box.left + box.side)
    edited = edit(_resize(render[rows, cols], working_size), _resize(original[rows, cols], working_size), box)
    result = render.clone()
    result[rows, cols] = _resize(edited, box.side).to(result.dtype)
    return result


def edit_region(
    edit: EditFn,
    render: torch.Tensor,
    original: torch.Tensor,
    mask: torch.Tensor,
    *,
    outside: torch.Tensor,
    crop: bool,
    working_size: int,
    kept: torch.Tensor | None = None,
) -> torch.Tensor:
    """The masked edit of one view: (cropped) edit, then composited over `outside` with the soft mask of
    `kept` (default: the mask; a shape edit keeps its whole grow region)."""
    box = crop_box(mask) if crop else None
    edited = edit(render, original) if box is None else edit_crop(edit, render, original, box, working_size)
    weight = soft_mask(mask if kept is None else kept)
    return composite(edited, outside, weight.to(edited.device, edited.dtype))
