"""The tiers, and their registration as nerfstudio methods."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from in2n_server.engine.method_configs import TIERS, tier_config

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier


def test_tiers_differ_where_they_should() -> None:
    full, small, tiny, cpu = (tier_config(t) for t in TIERS)
    assert full.pipeline.model.use_lpips and not full.pipeline.ip2p_half_precision
    assert (
        full.pipeline.datamanager.train_num_rays_per_batch == 16384
        and full.pipeline.datamanager.patch_size == 32
    )
    assert small.pipeline.ip2p_half_precision and small.pipeline.model.use_lpips
    assert tiny.pipeline.ip2p_half_precision and not tiny.pipeline.model.use_lpips
    assert tiny.pipeline.datamanager.train_num_rays_per_batch == 4096
    assert not cpu.mixed_precision and not cpu.pipeline.model.use_lpips
    assert [c.method_name for c in (full, small, tiny, cpu)] == list(TIERS)


def test_tier_configs_are_independent_copies() -> None:
    first = tier_config("in2n-cpu")
    first.pipeline.prompt = "changed"
    first.pipeline.model.camera_optimizer.mode = "off"
    second = tier_config("in2n-cpu")
    assert second.pipeline.prompt != "changed" and second.pipeline.model.camera_optimizer.mode == "SO3xR3"


def test_unknown_tier_is_named() -> None:
    with pytest.raises(ValueError, match="in2n-huge"):
        tier_config("in2n-huge")


def test_ns_train_lists_the_method_and_its_tiers() -> None:
    from nerfstudio.plugins.registry import discover_methods

    # What `ns-train --help` lists comes from this registry (entry points); asked in-process, as a
    # second `ns-train` run would cost ~40 s of nerfstudio start-up on two cores.
    methods, descriptions = discover_methods()
    for tier in TIERS:
        assert tier in methods, tier
    assert "Instruct-NeRF2NeRF preset small enough for CPU" in descriptions["in2n-cpu"]
    ns_train = Path(sys.executable).with_name("ns-train")
    env = {**os.environ, "COLUMNS": "200"}
    method = subprocess.run(
        [ns_train, "in2n-cpu", "--help"], capture_output=True, text=True, env=env, timeout=300
    )
    assert method.returncode == 0 and "--pipeline.prompt" in method.stdout
    assert "DDIM steps per edit." in method.stdout  # the field docstrings are ns-train's help


def test_full_tier_trains_with_the_patch_lpips_loss(tiny_scene, tiny_ip2p_dir: Path, tmp_path: Path) -> None:
    """The `in2n` tier (16384 rays in 32x32 patches, LPIPS) takes real steps, editing included."""
    from in2n_server.engine.session import EditSession
    from in2n_server.engine.types import EditParams

    params = EditParams(
        instruction="make it blue",
        tier="in2n",
        base_iterations=1,
        edit_iterations=1,
        diffusion_steps=2,
        model=str(tiny_ip2p_dir),
    )
    session = EditSession.create(tiny_scene.root, tmp_path / "full", params, device="cpu")
    sampler = session.pipeline.datamanager.train_pixel_sampler
    assert sampler.num_rays_per_batch == 16384 and type(sampler).__name__ == "PatchPixelSampler"
    sampler.num_rays_per_batch = 2 * 32 * 32  # two patches: the same code path at a CPU-friendly cost
    assert session.pipeline.model.lpips_loss is not None
    assert session.run()
    losses = session.progress.losses
    assert {"rgb_loss", "lpips_loss"} <= set(losses) and all(v == v for v in losses.values())
    assert session.progress.edits_done == 1
    # The frozen AlexNet is not part of the checkpoint.
    assert not any("lpips" in key for key in session.pipeline.model.state_dict())


def test_tiers_are_the_wire_tiers() -> None:
    """One list of tiers (wire.TIERS: the schema's Literal, the extension's enum); the pipeline's edit
    fields are checked against EditParams in test_pipeline_config.py."""
    from in2n_protocol import wire

    assert TIERS == wire.TIERS
    assert [tier_config(t).method_name for t in wire.TIERS] == list(wire.TIERS)
