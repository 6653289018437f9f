"""The editor interface: anything with this `edit()` can drive the Iterative Dataset Update."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Editor(Protocol):
    """Edits one training view.

    `render` is the NeRF's current render of the view and `original` the unedited photo, both
    `[H, W, 3]` float tensors in [0, 1] on any device. Returns the edited view, `[H, W, 3]` in [0, 1],
    same size and device as `render`. `view_index` identifies the training view (IP2P ignores it; the
    benchmark's reference editor uses it to look up the edited scene). For a crop-and-edit of a local
    edit, the engine also passes `crop=(top, left, side)`: the square of the view (in its pixels) that
    `render` and `original` were cut from and resized; only editors that accept it are given it.
    An editor may say its native resolution as `working_size` (crops are edited at that size). With an
    annealed schedule the engine also passes `upper_bound`, the highest start noise of this call.
    """

    def edit(
        self, render: torch.Tensor, original: torch.Tensor, instruction: str, *, view_index: int
    ) -> torch.Tensor: ...


@runtime_checkable
class BatchEditor(Editor, Protocol):
    """An editor that can also edit several views of one size in one call (one batched model call per
    denoising step; each view still draws its own start timestep, as it would alone). The engine sends the
    views of one edit step this way."""

    def edit_batch(
        self,
        renders: list[torch.Tensor],
        originals: list[torch.Tensor],
        instruction: str,
        view_indices: list[int],
        *,
        upper_bound: float | None = None,
    ) -> list[torch.Tensor]: ...
