"""The alpha of an edited view of an RGBA capture: where an edit may add or remove surface, and where not.

The editor sees each view composited over `EDIT_BACKGROUND` (white) and returns RGB. Each view has a grow
region (engine/regions.py `GrowRegion`: the selected objects' masks or the silhouette, grown by
`grow_margin`). Outside it, the edited view keeps the captured alpha exactly: what was empty stays empty, so
an edit cannot bring back the fog of unbounded NeRFs. Inside it, the edit is keyed against the background:

- the background is the editor's own rendition of white: the median colour of the edit where the view was
  empty and may not grow (white when fewer than `MIN_BACKGROUND_SHARE` of the pixels are), so an edit that
  tints or darkens the whole image does not turn its background into surface;
- a pixel's distance from it (RMS over the channels) ramps the alpha from 0 at `KEY_LOW` to 1 at `KEY_HIGH`
  (faint fog the render carries into the edit stays below `KEY_LOW`, and so keys out): empty space may
  become surface anywhere in the region;
- surface the edit shows as background *continuously from the view's empty space*, at most the margin deep,
  is *alpha-free*: the editor either removed it or painted it the background's colour, and one view cannot
  tell which (white paint and a hole look alike to a key). Its stored alpha stays the original's and the
  NeRF's loss compares it over the background only (model.ALPHA_FREE_KEY), so the view asks for the
  background's colour there without saying whether by surface or by emptiness: other views decide. A view
  that sees the place in front of another surface (the board behind a sphere's removed side) demands the
  removal; where every view sees it against empty space, the surface stays and takes the colour;
- background-like pixels the empty space does not reach (a white spot inside a surface) are paint: they
  keep their alpha;
- the colour is un-composited from the background (straight alpha, as the captures store it).

Failure cases (what the rule cannot tell): a part removed from a lone object, seen only against empty space by
every view, stays as a surface of the background's colour (an invisible ghost over white, visible over other
backgrounds); a *new* white surface keys out where it grows into empty space; shadows, halos or a vignette the
editor paints on the background inside the region become surface there; a new hole enclosed by surface (a
donut's) cannot open; a surface that shrinks in front of another (a sphere turned into a smaller cone on a
board) keeps alpha 1 there, so `reshaped` does not release its captured depth (engine/moved_surface.py does,
where the edited views' colours show the surface moved); antialiased edges of new surface come out slightly
wide (a pixel half covered by a strongly coloured surface is already past `KEY_HIGH`). Measured on the fusion
benchmark's `tabletop` pair with the edited scene's exact views (48 px, silhouettes grown by 0.05): the former
rule, which emptied those pixels, keyed out the white squares along the board's edge (silhouette IoU 0.913
against the edited alpha, below the 0.985 of keeping the captured alpha).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .regions import GrowRegion, dilate

EDIT_BACKGROUND = (1.0, 1.0, 1.0)
"""What the editor sees behind the objects of an RGBA dataset: white, as product shots and IP2P's data."""
KEY_LOW = 0.1
"""RMS distance from the background (in [0, 1] colour units) below which an edited pixel is empty."""
KEY_HIGH = 0.25
"""RMS distance from the background at and above which an edited pixel is opaque surface."""
ALPHA_TOLERANCE = 1.5 / 255
"""Alpha differences below this are the 8-bit rounding of a stored edit, not a changed shape."""
MIN_BACKGROUND_SHARE = 0.02
"""Fewest pixels (a share of the view) that must show the background for its colour to be measured."""


def over_background(rgb: torch.Tensor, alpha: torch.Tensor, premultiplied: bool) -> torch.Tensor:
    """`rgb` ([..., 3]) composited over EDIT_BACKGROUND with `alpha` ([..., 1])."""
    background = torch.tensor(EDIT_BACKGROUND, device=rgb.device, dtype=rgb.dtype)
    colour = rgb if premultiplied else rgb * alpha
    return (colour + background * (1.0 - alpha)).clamp(0, 1)


def key_alpha(image: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """[H, W, 1] in [0, 1]: how surely each pixel of `image` ([H, W, 3]) is not `background` ([3])."""
    distance = (image - background).pow(2).mean(dim=-1, keepdim=True).sqrt()
    return ((distance - KEY_LOW) / (KEY_HIGH - KEY_LOW)).clamp(0, 1)


def edit_background(edited: torch.Tensor, original_alpha: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """[3]: the colour the edit shows where the view was empty and may not grow, else EDIT_BACKGROUND."""
    empty = (original_alpha[..., 0] <= 0) & ~region
    if int(empty.sum()) < max(1, MIN_BACKGROUND_SHARE * empty.numel()):
        return torch.tensor(EDIT_BACKGROUND, device=edited.device, dtype=edited.dtype)
    return edited[empty].median(dim=0).values


def revealed(background_like: torch.Tensor, empty: torch.Tensor, steps: int) -> torch.Tensor:
    """[H, W] bool: the `background_like` pixels joined to `empty` ones through background-like pixels
    (8-neighbours) in at most `steps` steps: where a surface may have been removed."""
    reached = background_like & empty
    for _ in range(steps):
        grown = F.max_pool2d(reached.float()[None, None], kernel_size=3, stride=1, padding=1)[0, 0] > 0.5
        grown &= background_like
        if torch.equal(grown, reached):
            break
        reached = grown
    return reached


class KeyedEdit(NamedTuple):
    """An edited view of an RGBA capture as training stores it."""

    rgba: torch.Tensor
    """[H, W, 4] straight alpha."""
    alpha_free: torch.Tensor
    """[H, W] bool: removed or painted the background's colour, undecided (compared over the background)."""


def key_edit(original: torch.Tensor, edited: torch.Tensor, grow: GrowRegion) -> KeyedEdit:
    """The stored view of an edit and its alpha-free pixels.

    `original`: the captured view [H, W, 4] (straight alpha); `edited`: the editor's RGB [H, W, 3] over the
    background; `grow`: where the silhouette may change. Outside its region: the edit's colour with the
    original alpha, exactly as without growing, and nothing alpha-free.
    """
    original = original.to(edited.device, edited.dtype)
    region = grow.region().to(edited.device)
    alpha = original[..., 3:]
    background = edit_background(edited, alpha, region)
    keyed = key_alpha(edited, background)
    free = revealed(keyed[..., 0] < 0.5, alpha[..., 0] <= 0, grow.steps)
    free &= grow.inside.to(edited.device) & (alpha[..., 0] > 0)
    grown = torch.maximum(keyed, alpha)
    colour = ((edited - background * (1.0 - grown)) / grown.clamp_min(1e-3)).clamp(0, 1)
    colour = torch.where(grown > 1e-3, colour, edited)
    inside = region[..., None]
    rgba = torch.cat([torch.where(inside, colour, edited), torch.where(inside, grown, alpha)], dim=-1)
    return KeyedEdit(rgba, free & region)


def reshaped(
    original_alpha: torch.Tensor, stored_alpha: torch.Tensor, alpha_free: torch.Tensor, grow: GrowRegion
) -> torch.Tensor:
    """[H, W] bool: where an edited view shows its shape changing (alpha other than captured, or alpha-free,
    on a pixel the capture saw solid), grown by the margin and kept inside the region: the captured depth no
    longer holds there. Everywhere else, including an edit that only recolours, the surface stays where
    Blender saw it.

    A captured edge pixel's fractional alpha is how much of it the surface covers, which no key of an edit
    made over white reproduces: on the exact edited views of a recolour (24 views at 96 px) every alpha
    change (4,760 pixels) was on such a pixel, as were the alpha-free ones (4,446, a light edge over white
    looks like background), and grown by the margin they released 32% of all pixels. A shape that changes
    turns solid pixels (empty or fully covered) into others, so those alone count."""
    original = original_alpha.float()
    solid = (original <= ALPHA_TOLERANCE) | (original >= 1.0 - ALPHA_TOLERANCE)
    changed = (((stored_alpha.float() - original).abs() > ALPHA_TOLERANCE) | alpha_free.bool()) & solid
    return dilate(changed, grow.steps) & grow.region().to(changed.device)


def edited_mask(
    mask: torch.Tensor, region: torch.Tensor, original_alpha: torch.Tensor, current_alpha: torch.Tensor
) -> torch.Tensor:
    """The edited objects' mask of an edited view ([H, W] bool; all arguments [H, W]).

    Inside the grow region it follows the edited view: the mask's pixels that are still surface, and the
    pixels that were empty and became surface (the grown part). Pixels of other objects inside the region
    stay out: keying cannot say which object a surface over another belongs to.
    """
    region = region.bool()
    surface = current_alpha >= 0.5
    follows = surface & (mask | (original_alpha < 0.5))
    return torch.where(region, follows, mask)
