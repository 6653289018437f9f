"""Joint (cross-view) self-attention for a batched edit call: the views of one call attend to each other.

Edited one by one, or side by side in an ordinary batch, every view invents its own variant of the edit and
the NeRF has to average their disagreement away. Multi-view editors (DGE, GaussCtrl, TokenFlow-style video
editing) let the self-attention of each view read the keys and values of the others, so one call produces one
edit seen from several cameras. This module does that with diffusers' attention-processor hook on the
self-attention layers (`attn1`) of any `UNet2DConditionModel`, for the duration of one call only.

The UNet's batch of an edit call is `branches x views` rows, branch-major: `[branch 0: view 0..k-1,
branch 1: view 0..k-1, ...]` (InstructPix2Pix has 3 classifier-free-guidance branches: text and image, image,
none). Each branch is its own attention group: rows of different branches never see each other, since each
branch is a different model prediction that guidance later combines. Within a group:

- `"all"`: every view's queries attend to the keys and values of all the group's views (concatenated along
  the token axis);
- `"anchor"`: every view attends to its own tokens and the group's first view's (the anchor's); the anchor
  attends only to itself, so its result is exactly what it would be without joint attention.

Groups hold at most `MAX_JOINT_VIEWS` views; a larger call is cut into consecutive groups (each with its own
anchor), processed one after another so memory follows the group, not the call.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

from in2n_protocol.edit_params import JOINT_ATTENTION_MODES as JOINT_MODES  # off, anchor, all

JOINT_LAYERS = ("all", "up")
"""Which self-attention layers are joint: every `attn1` (down, mid and up blocks), or the decoder's only
(`up_blocks`: the layers that shape the output's appearance, the cheaper choice of video editors)."""

MAX_JOINT_VIEWS = 5
"""Most views in one attention group. "all" multiplies the keys each query reads by the group's size, so the
attention weights of one group at the UNet's largest self-attention layer grow with its square: for
InstructPix2Pix (SD 1.5) at 512 px (64² = 4,096 tokens, 8 heads, fp16, 3 branches) 0.75 GiB for a view alone,
18.75 GiB for a group of 5 if a kernel materialised them ("anchor": 6 GiB; `attention_weight_bytes`).
PyTorch's flash and memory-efficient kernels (CUDA, fp16) never do: they hold the group's queries, keys,
values and output, about 30 MiB per view. 5 is the schedules benchmark's batch (batched-5); the estimate
table is in docs/benchmarks.md, the measured peak comes from benchmarks/joint_attention/gpu_check.py."""


def selected_layer(name: str, layers: str) -> bool:
    """Whether the processor named `name` (a key of `unet.attn_processors`) is a joint self-attention."""
    if layers not in JOINT_LAYERS:
        raise ValueError(f"joint layers: choose one of {', '.join(JOINT_LAYERS)}, got {layers!r}")
    if not name.endswith("attn1.processor"):
        return False
    return layers == "all" or name.startswith("up_blocks.")


def view_groups(views: int, group: int = MAX_JOINT_VIEWS) -> list[range]:
    """Consecutive groups of at most `group` views: the sets of views that attend to each other."""
    if views < 1 or group < 1:
        raise ValueError(f"need at least one view and a group of at least one, got {views}, {group}")
    return [range(start, min(start + group, views)) for start in range(0, views, group)]


def attention_weight_bytes(
    mode: str, views: int, tokens: int, heads: int, *, branches: int = 3, element_size: int = 2
) -> int:
    """Bytes of the attention weights of one self-attention layer for one call, if a kernel materialised
    them (the worst case; flash and memory-efficient kernels hold none), the largest group at a time."""
    if mode not in JOINT_MODES:
        raise ValueError(f"joint attention: choose one of {', '.join(JOINT_MODES)}, got {mode!r}")
    per_pair = branches * heads * tokens * tokens * element_size  # one view's queries x one view's keys
    if mode == "off":
        return views * per_pair
    group = max(len(g) for g in view_groups(views))
    if mode == "all":
        return group * group * per_pair
    return max(1, 2 * (group - 1)) * per_pair  # the non-anchor views' call: own tokens and the anchor's


def _attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float | None) -> torch.Tensor:
    return F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False, scale=scale)


def _tokens_of_group(x: torch.Tensor) -> torch.Tensor:
    """[branches, g, heads, N, d] -> [branches, heads, g*N, d]: a group's views as one token sequence."""
    branches, group, heads, tokens, dim = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(branches, heads, group * tokens, dim)


def attend_all(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None) -> torch.Tensor:
    """Every view of the group reads every view's keys ([branches, g, heads, N, d] in and out)."""
    branches, group, heads, tokens, dim = q.shape
    out = _attend(_tokens_of_group(q), _tokens_of_group(k), _tokens_of_group(v), scale)
    return out.reshape(branches, heads, group, tokens, dim).permute(0, 2, 1, 3, 4)


def attend_anchor(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None) -> torch.Tensor:
    """The anchor (view 0) reads itself; every other view reads itself and the anchor."""
    anchor = _attend(q[:, 0], k[:, 0], v[:, 0], scale)[:, None]
    if q.shape[1] == 1:
        return anchor
    rest = q[:, 1:]
    keys = torch.cat([k[:, 1:], k[:, :1].expand_as(k[:, 1:])], dim=3)
    values = torch.cat([v[:, 1:], v[:, :1].expand_as(v[:, 1:])], dim=3)
    others = _attend(rest.flatten(0, 1), keys.flatten(0, 1), values.flatten(0, 1), scale)
    return torch.cat([anchor, others.unflatten(0, rest.shape[:2])], dim=1)


ATTEND = {"all": attend_all, "anchor": attend_anchor}


class JointAttnProcessor:
    """A diffusers attention processor for a self-attention layer whose batch is `branches x views` rows.

    It follows `AttnProcessor2_0` step for step (spatial and group norms, 4-D inputs, q/k norms, output
    projection, residual, rescale) and changes only which keys each row reads. Anything it was not made for
    (cross-attention, a mask, a batch that is not a multiple of `views`, a single view) goes to `original`.
    """

    def __init__(self, mode: str, views: int, original: Any, group: int = MAX_JOINT_VIEWS) -> None:
        if mode not in ATTEND:
            raise ValueError(f"joint attention processor: mode must be 'all' or 'anchor', got {mode!r}")
        self.mode, self.views, self.original, self.group = mode, views, original, group

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        rows = hidden_states.shape[0]
        if (
            encoder_hidden_states is not None
            or attention_mask is not None
            or rows % self.views
            or self.views < 2
        ):
            return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        spatial = hidden_states.shape if hidden_states.ndim == 4 else None
        if spatial is not None:
            hidden_states = hidden_states.view(*spatial[:2], -1).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query, key, value = (_split_heads(attn, p(hidden_states)) for p in (attn.to_q, attn.to_k, attn.to_v))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        out = self.attend(query, key, value, _scale(attn, query.shape[-1]))
        out = out.transpose(1, 2).reshape(rows, -1, attn.heads * query.shape[-1]).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if spatial is not None:
            out = out.transpose(-1, -2).reshape(spatial)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None) -> torch.Tensor:
        """[branches*views, heads, N, d] -> same: each branch's views attend group by group."""
        grouped = [x.unflatten(0, (x.shape[0] // self.views, self.views)) for x in (q, k, v)]
        groups = view_groups(self.views, self.group)
        if len(groups) == 1:
            return ATTEND[self.mode](*grouped, scale).flatten(0, 1)
        out = torch.empty_like(grouped[0])
        for views in groups:
            part = slice(views.start, views.stop)
            out[:, part] = ATTEND[self.mode](*(x[:, part] for x in grouped), scale)
        return out.flatten(0, 1)


def _split_heads(attn: Any, x: torch.Tensor) -> torch.Tensor:
    """[rows, N, heads*d] -> [rows, heads, N, d]."""
    return x.view(x.shape[0], -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)


def _scale(attn: Any, head_dim: int) -> float | None:
    """The layer's softmax scale; None when it is SDPA's default, so the default path runs bit for bit."""
    scale = float(getattr(attn, "scale", head_dim**-0.5))
    return None if math.isclose(scale, head_dim**-0.5, rel_tol=1e-6) else scale


def joint_processors(
    processors: Mapping[str, Any], mode: str, views: int, layers: str = "all", group: int = MAX_JOINT_VIEWS
) -> dict[str, Any]:
    """`processors` (a UNet's `attn_processors`) with the selected self-attentions made joint."""
    return {
        name: JointAttnProcessor(mode, views, processor, group) if selected_layer(name, layers) else processor
        for name, processor in processors.items()
    }


@contextmanager
def joint_attention(
    unet: Any, mode: str, views: int, layers: str = "all", group: int = MAX_JOINT_VIEWS
) -> Iterator[None]:
    """Inside the block, `unet`'s self-attentions are joint across `views` views per branch; on leaving it
    (also on an error) the UNet has its own processors back, so an "off" call is exactly today's."""
    if mode not in JOINT_MODES:
        raise ValueError(f"joint attention: choose one of {', '.join(JOINT_MODES)}, got {mode!r}")
    if mode == "off" or views < 2:
        yield
        return
    original = dict(unet.attn_processors)
    unet.set_attn_processor(joint_processors(original, mode, views, layers, group))
    try:
        yield
    finally:
        unet.set_attn_processor(dict(original))  # set_attn_processor pops from the dict it is given
