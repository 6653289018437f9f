"""Joint (cross-view) attention in the batched IP2P call (editor/joint_attention.py), on tiny offline models.

Randomness: two editors built with the same seed draw the same latents, start timesteps and noise for a call
of the same views, whatever the joint mode (the mode changes only which keys the self-attentions read), so
the outputs of two such calls differ only by what joint attention does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from in2n_protocol import edit_params
from in2n_server.editor.ip2p import EditSettings, InstructPix2PixEditor
from in2n_server.editor.joint_attention import (
    MAX_JOINT_VIEWS,
    JointAttnProcessor,
    attention_weight_bytes,
    joint_attention,
    selected_layer,
    view_groups,
)
from in2n_server.editor.loading import load_ip2p_pipeline

SIZE = 32  # 4x4 latents at the tiny UNet's attention level


@pytest.fixture(scope="module")
def pipe(tiny_ip2p_dir: Path):
    return load_ip2p_pipeline(str(tiny_ip2p_dir), torch.device("cpu"), torch.float32)


def _views(count: int, seed: int = 0) -> list[torch.Tensor]:
    return [
        torch.rand(SIZE, SIZE, 3, generator=torch.Generator().manual_seed(seed + i)) for i in range(count)
    ]


def _edit(pipe, views: list[torch.Tensor], mode: str | None, seed: int = 3, **settings) -> list[torch.Tensor]:
    """One batched call of `views` (their own originals) by a fresh editor; `mode` None: not set at all."""
    chosen = {} if mode is None else {"joint_attention": mode}
    editor = InstructPix2PixEditor(pipe, EditSettings(diffusion_steps=3, **chosen, **settings), seed=seed)
    return editor.edit_batch(views, views, "make it blue", list(range(len(views))))


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> list[bool]:
    return [torch.equal(x, y) for x, y in zip(a, b, strict=True)]


# -- the editor ----------------------------------------------------------------------------------------------


def test_off_never_touches_the_processors_and_is_todays_call(pipe, monkeypatch) -> None:
    views = _views(3)
    before = dict(pipe.unet.attn_processors)
    default = _edit(pipe, views, None)

    def refuse(*args, **kwargs):
        raise AssertionError("an 'off' call must not install attention processors")

    with monkeypatch.context() as patch:
        patch.setattr(pipe.unet, "set_attn_processor", refuse)
        assert all(_same(_edit(pipe, views, "off"), default))
    assert EditSettings().joint_attention == edit_params.default("joint_attention") == "off"
    assert all(pipe.unet.attn_processors[name] is processor for name, processor in before.items())


def test_a_joint_call_gives_the_unet_its_own_processors_back(pipe) -> None:
    views = _views(3)
    before = dict(pipe.unet.attn_processors)
    _edit(pipe, views, "all")
    assert all(pipe.unet.attn_processors[name] is processor for name, processor in before.items())
    assert all(_same(_edit(pipe, views, "off"), _edit(pipe, views, None)))  # nothing left behind
    with pytest.raises(RuntimeError, match="boom"), joint_attention(pipe.unet, "anchor", 3):
        assert any(isinstance(p, JointAttnProcessor) for p in pipe.unet.attn_processors.values())
        raise RuntimeError("boom")
    assert all(pipe.unet.attn_processors[name] is processor for name, processor in before.items())


def test_the_anchor_view_is_edited_exactly_as_without_joint_attention(pipe) -> None:
    """The anchor attends only to itself: its result is its edit with joint attention off in the same call
    (same draws), which is its lone edit (test_ip2p_editor: a batch draws and edits each view as alone)."""
    views = _views(4)
    off, anchor = _edit(pipe, views, "off"), _edit(pipe, views, "anchor")
    assert torch.equal(anchor[0], off[0])
    assert not any(_same(anchor[1:], off[1:]))  # the others read the anchor
    alone = _edit(pipe, views[:1], "anchor")
    assert torch.equal(alone[0], _edit(pipe, views[:1], "off")[0])  # a lone view has nobody to attend to


def test_a_view_changes_with_its_neighbours_only_when_they_attend_to_each_other(pipe) -> None:
    views = _views(3)
    changed = [*views[:2], torch.rand(SIZE, SIZE, 3, generator=torch.Generator().manual_seed(99))]
    assert all(_same(_edit(pipe, views, "off")[:2], _edit(pipe, changed, "off")[:2]))
    joint, joint_changed = _edit(pipe, views, "all"), _edit(pipe, changed, "all")
    for view in (0, 1):
        assert (joint[view] - joint_changed[view]).abs().max() > 1e-4
    # anchor: view 2 reads only itself and view 0, so views 0 and 1 ignore it; a new anchor moves view 1
    assert all(_same(_edit(pipe, views, "anchor")[:2], _edit(pipe, changed, "anchor")[:2]))
    new_anchor = [changed[2], *views[1:]]
    assert not torch.equal(_edit(pipe, views, "anchor")[1], _edit(pipe, new_anchor, "anchor")[1])


def test_only_the_decoders_self_attentions_when_asked(pipe) -> None:
    names = list(pipe.unet.attn_processors)
    up = [n for n in names if selected_layer(n, "up")]
    every = [n for n in names if selected_layer(n, "all")]
    assert up and set(up) < set(every) and all(n.endswith("attn1.processor") for n in every)
    assert all(n.startswith("up_blocks.") for n in up)
    views = _views(3)
    only_up = _edit(pipe, views, "all", joint_layers="up")
    assert not any(_same(only_up, _edit(pipe, views, "all")))
    with pytest.raises(ValueError, match="joint_layers"):
        EditSettings(joint_layers="middle")


def test_the_parameter_is_declared_once_and_reaches_the_settings() -> None:
    assert "joint_attention" in edit_params.EDITOR_FIELDS and "joint_attention" in edit_params.PIPELINE_FIELDS
    settings = EditSettings.from_params({"joint_attention": "anchor"})
    assert settings.joint_attention == "anchor"
    with pytest.raises(ValueError, match="joint_attention"):
        EditSettings(joint_attention="some")
    with pytest.raises(ValueError, match="joint_attention"):
        edit_params.EditParams(instruction="x", joint_attention="some")


# -- the processor -------------------------------------------------------------------------------------------

BRANCHES, VIEWS, TOKENS, WIDTH = 3, 4, 6, 8


@pytest.fixture(scope="module")
def attention() -> Attention:
    torch.manual_seed(0)
    layer = Attention(query_dim=WIDTH, heads=2, dim_head=4)
    layer.set_processor(AttnProcessor2_0())
    return layer.eval()


def _rows(seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[branches * views, tokens, width]: branch-major, as the editor's `torch.cat([latents] * 3)`."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(BRANCHES * VIEWS, TOKENS, WIDTH, generator=generator).to(dtype)


def _joint(
    attention: Attention, mode: str, hidden: torch.Tensor, group: int = MAX_JOINT_VIEWS
) -> torch.Tensor:
    with torch.no_grad():
        return JointAttnProcessor(mode, VIEWS, attention.processor, group)(attention, hidden)


def _plain(attention: Attention, hidden: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return attention.processor(attention, hidden)


@pytest.mark.parametrize("mode", ["all", "anchor"])
def test_every_guidance_branch_is_its_own_attention_group(attention: Attention, mode: str) -> None:
    hidden = _rows()
    out = _joint(attention, mode, hidden)
    for branch in range(BRANCHES):
        changed = hidden.clone()
        rows = slice(branch * VIEWS, (branch + 1) * VIEWS)
        changed[rows] += 1.0
        moved = (_joint(attention, mode, changed) - out).abs().amax(dim=(1, 2)).view(BRANCHES, VIEWS)
        others = [b for b in range(BRANCHES) if b != branch]
        assert torch.all(moved[others] == 0), f"{mode}: branch {branch} leaked into another branch"
        assert torch.all(moved[branch, 1:] > 0)


def test_all_is_one_attention_over_the_branchs_views_tokens(attention: Attention) -> None:
    hidden = _rows(1)
    out = _joint(attention, "all", hidden)
    for branch in range(BRANCHES):
        tokens = hidden[branch * VIEWS : (branch + 1) * VIEWS].reshape(1, VIEWS * TOKENS, WIDTH)
        expected = _plain(attention, tokens).view(VIEWS, TOKENS, WIDTH)
        assert torch.allclose(out[branch * VIEWS : (branch + 1) * VIEWS], expected, atol=1e-6)


def test_anchor_reads_itself_and_the_others_read_themselves_and_the_anchor(attention: Attention) -> None:
    hidden = _rows(2)
    out = _joint(attention, "anchor", hidden)
    plain = _plain(attention, hidden)
    for branch in range(BRANCHES):
        anchor_row = branch * VIEWS
        assert torch.equal(out[anchor_row], plain[anchor_row])
        for view in range(1, VIEWS):
            row = anchor_row + view
            q = attention.to_q(hidden[row : row + 1])
            kv = torch.cat([hidden[row], hidden[anchor_row]])[None]
            expected = _by_hand(attention, q, attention.to_k(kv), attention.to_v(kv))
            assert torch.allclose(out[row], expected[0], atol=1e-6)


def _by_hand(attention: Attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Multi-head softmax attention written out, then the output projection."""
    heads, dim = attention.heads, q.shape[-1] // attention.heads
    q, k, v = (x.view(1, -1, heads, dim).transpose(1, 2) for x in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-1, -2) / dim**0.5, dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(1, -1, heads * dim)
    with torch.no_grad():
        return attention.to_out[0](out)


def test_views_beyond_the_cap_form_their_own_groups(attention: Attention) -> None:
    assert [list(g) for g in view_groups(7, 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    hidden = _rows(3)
    out = _joint(attention, "all", hidden, group=2)  # views {0, 1} and {2, 3}
    changed = hidden.clone()
    changed[[2, 2 + VIEWS, 2 + 2 * VIEWS]] += 1.0  # view 2 of every branch
    moved = (_joint(attention, "all", changed, group=2) - out).abs().amax(dim=(1, 2)).view(BRANCHES, VIEWS)
    assert torch.all(moved[:, :2] == 0) and torch.all(moved[:, 2:] > 0)


def test_cross_attention_and_masks_go_to_the_layers_own_processor(attention: Attention) -> None:
    hidden, context = _rows(4), torch.randn(BRANCHES * VIEWS, 5, WIDTH)
    with torch.no_grad():
        joint = JointAttnProcessor("all", VIEWS, attention.processor)(attention, hidden, context)
        assert torch.equal(joint, attention.processor(attention, hidden, context))
        odd = hidden[:5]  # not a multiple of the views
        assert torch.equal(
            JointAttnProcessor("all", VIEWS, attention.processor)(attention, odd), _plain(attention, odd)
        )


def test_half_precision_matches_single(attention: Attention) -> None:
    half = Attention(query_dim=WIDTH, heads=2, dim_head=4)
    half.load_state_dict(attention.state_dict())
    half = half.half().eval()
    half.set_processor(AttnProcessor2_0())
    hidden = _rows(5)
    out = _joint(half, "all", hidden.half())
    assert out.dtype == torch.float16
    assert torch.allclose(out.float(), _joint(attention, "all", hidden), atol=5e-3)


def test_memory_estimate_grows_with_the_group() -> None:
    one = attention_weight_bytes("off", 1, 4096, 8)
    assert one == 3 * 8 * 4096 * 4096 * 2  # 0.75 GiB: SD 1.5's largest layer at 512 px, fp16, one view
    assert attention_weight_bytes("all", 5, 4096, 8) == 25 * one
    assert attention_weight_bytes("anchor", 5, 4096, 8) == 8 * one
    assert attention_weight_bytes("all", 10, 4096, 8) == 25 * one  # groups of MAX_JOINT_VIEWS, one at a time


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_joint_attention_on_cuda_in_half_precision(tiny_ip2p_dir: Path) -> None:
    cuda = load_ip2p_pipeline(str(tiny_ip2p_dir), torch.device("cuda"), torch.float16)
    views = [view.cuda() for view in _views(3)]
    off, anchor, joint = (_edit(cuda, views, mode) for mode in ("off", "anchor", "all"))
    assert all(torch.isfinite(image).all() and image.device.type == "cuda" for image in joint + anchor)
    assert torch.allclose(anchor[0], off[0], atol=2e-3)  # same maths; kernels may differ by batch shape
    assert not torch.equal(joint[1], off[1])
