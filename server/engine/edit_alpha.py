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
- surface may become empty only where the edit shows the background *continuously from the view's empty
  space*, at most the margin deep (a removed part reveals the emptiness it bordered): a surface recoloured
  white keeps its alpha inside, since white paint and a hole look alike to a key;
- a pixel whose original was near-white and opaque keeps at least its original alpha (a white object must
  not key out where it borders the empty space);
- the colour is un-composited from the background (straight alpha, as the captures store it).

Failure cases (what the rule cannot tell): a surface recoloured white or near-white, where it borders empty
space, loses up to the margin of its silhouette; a *new* white surface keys out where it grows into empty
space; shadows, halos or a vignette the editor paints on the background inside the region become surface
there; a new hole enclosed by surface (a donut's) cannot open; antialiased edges of new surface come out
slightly wide (a pixel half covered by a strongly coloured surface is already past `KEY_HIGH`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .regions import GrowRegion

EDIT_BACKGROUND = (1.0, 1.0, 1.0)
"""What the editor sees behind the objects of an RGBA dataset: white, as product shots and IP2P's data."""
KEY_LOW = 0.1
"""RMS distance from the background (in [0, 1] colour units) below which an edited pixel is empty."""
KEY_HIGH = 0.25
"""RMS distance from the background at and above which an edited pixel is opaque surface."""
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


def edited_rgba(original: torch.Tensor, edited: torch.Tensor, grow: GrowRegion) -> torch.Tensor:
    """The stored view [H, W, 4] (straight alpha) of an edit.

    `original`: the captured view [H, W, 4] (straight alpha); `edited`: the editor's RGB [H, W, 3] over the
    background; `grow`: where the silhouette may change. Outside its region: the edit's colour with the
    original alpha, exactly as without growing.
    """
    original = original.to(edited.device, edited.dtype)
    region = grow.region().to(edited.device)
    alpha = original[..., 3:]
    background = edit_background(edited, alpha, region)
    keyed = key_alpha(edited, background)
    white = torch.tensor(EDIT_BACKGROUND, device=edited.device, dtype=edited.dtype)
    unseen = alpha * (1.0 - key_alpha(over_background(original[..., :3], alpha, False), white))
    removable = revealed(keyed[..., 0] < 0.5, alpha[..., 0] <= 0, grow.steps)
    removable &= grow.inside.to(edited.device)
    floor = torch.where(removable[..., None], unseen, alpha)
    grown = torch.maximum(keyed, floor)
    colour = ((edited - background * (1.0 - grown)) / grown.clamp_min(1e-3)).clamp(0, 1)
    colour = torch.where(grown > 1e-3, colour, edited)
    inside = region[..., None]
    return torch.cat([torch.where(inside, colour, edited), torch.where(inside, grown, alpha)], dim=-1)


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
