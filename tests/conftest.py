"""Session-wide offline fixtures: no test may reach a model hub or download weights.

- HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE: the hub is unreachable here; fail fast instead of retrying.
- TORCH_HOME with randomly initialised AlexNet weights: nerfstudio's nerfacto and the lpips package
  build AlexNet-based LPIPS and would otherwise download the trunk (the metric is meaningless with
  random weights, but the code path is the real one). Written once, after collection and before any
  test or fixture runs, when a selected test is `slow` (the tests that train, and the servers they start
  as subprocesses, which read TORCH_HOME from the environment): the fast tier never imports torch here.
- A tiny random InstructPix2Pix pipeline and a procedural scene, built once per session.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest


def _share_the_cores() -> None:
    """Under pytest-xdist (`-n`, pyproject's addopts) each worker gets its share of the cores, for torch
    and for the servers and Blenders it starts: two workers with a thread per core each would slow both
    several times over. Set before anything imports torch; an explicit OMP_NUM_THREADS wins."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


_share_the_cores()
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="in2n-tests-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HOME", str(_SESSION_HOME / "hf"))
os.environ.setdefault("TORCH_HOME", str(_SESSION_HOME / "torch"))
os.environ.setdefault("MPLBACKEND", "Agg")

FIXTURE_DATA = Path(__file__).resolve().parent / "fixtures" / "data"
BPE_GZ = FIXTURE_DATA / "bpe_simple_vocab_16e6.txt.gz"


def _install_random_alexnet(torch_home: Path) -> None:
    import torch
    import torchvision

    target = torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet().state_dict(), target)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The AlexNet weights, before the first test, when any selected test trains or starts a process."""
    if any(item.get_closest_marker("slow") for item in session.items):
        _install_random_alexnet(Path(os.environ["TORCH_HOME"]))


@pytest.fixture(scope="session")
def tiny_ip2p_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random StableDiffusionInstructPix2PixPipeline directory (save_pretrained)."""
    from in2n_server.editor.tiny import build_tiny_ip2p

    return build_tiny_ip2p(tmp_path_factory.mktemp("tiny-ip2p"), BPE_GZ)


@pytest.fixture(scope="session")
def tiny_scene(tmp_path_factory: pytest.TempPathFactory):
    """The procedural scene (16 views, 48x48) with its ground truth (a ProceduralScene)."""
    from in2n_server.samples.procedural import generate_scene

    return generate_scene(tmp_path_factory.mktemp("scene"), num_views=16, size=48)


@pytest.fixture(scope="session")
def tiny_scene_dir(tiny_scene) -> Path:
    """A nerfstudio dataset directory (transforms.json + images/) of the procedural scene."""
    return tiny_scene.root
