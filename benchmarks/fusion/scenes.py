"""Scene pairs on disk: rendered once by Blender in a subprocess, then cached by their settings.

A pair's folder holds four nerfstudio datasets: `train` (the original scene at the training cameras: the
dataset the edit starts from), `train_edited` (the edited scene at the same cameras: the reference editor's
target), `heldout` and `heldout_edited` (both scenes at cameras no edit ever sees: where quality is measured).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from in2n_server.engine.types import CameraSpec

BLENDER_SCRIPT = Path(__file__).with_name("blender_scenes.py")
CAPTURE_MODULE = Path(__file__).resolve().parents[2] / "blender_in2n" / "capture.py"
SCENE_NAMES = ("object", "tabletop", "room", "tabletop_local")
WHITE = (1.0, 1.0, 1.0)
"""Captures are RGBA: images and renders are compared composited on this background."""


@dataclass(frozen=True)
class RenderSettings:
    """How a pair is rendered; part of the benchmark's definition (and of the cache key)."""

    size: int = 48
    """Square image side in pixels (small: every edit renders a whole view, and so does every measurement)."""
    views: int = 12
    """Training cameras (few, so that a CPU run holds several edit cycles of 10 steps per view)."""
    heldout: int = 4
    """Held-out cameras, used only for measuring."""
    samples: int = 32
    """Cycles samples per pixel (denoised)."""
    for_textures: bool = False
    """Training sets also carry the edited objects' surfaces and light maps (benchmarks/textures)."""


@dataclass(frozen=True)
class ScenePair:
    name: str
    root: Path

    @property
    def train_dir(self) -> Path:
        return self.root / "train"

    @property
    def train_edited_dir(self) -> Path:
        return self.root / "train_edited"

    @property
    def heldout_dir(self) -> Path:
        return self.root / "heldout"

    @property
    def heldout_edited_dir(self) -> Path:
        return self.root / "heldout_edited"


def _cache_key(name: str, settings: RenderSettings) -> str:
    digest = hashlib.sha256(BLENDER_SCRIPT.read_bytes() + CAPTURE_MODULE.read_bytes())
    digest.update(repr((name, settings)).encode())
    return f"{name}-{settings.size}px-{settings.views}v-{digest.hexdigest()[:10]}"


def render_scene_pair(name: str, cache_dir: Path, settings: RenderSettings = RenderSettings()) -> ScenePair:
    """The pair `name`, rendered with Blender unless the cache already holds it for these settings."""
    if name not in SCENE_NAMES:
        raise ValueError(f"scene: expected one of {SCENE_NAMES}, got {name!r}")
    final = Path(cache_dir) / _cache_key(name, settings)
    if (final / "heldout_edited" / "transforms.json").is_file():
        return ScenePair(name, final)
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".render-") as scratch:
        command = [
            sys.executable,
            str(BLENDER_SCRIPT),
            f"--scene={name}",
            f"--out={scratch}",
            f"--size={settings.size}",
            f"--views={settings.views}",
            f"--heldout={settings.heldout}",
            f"--samples={settings.samples}",
            *(["--for-textures"] if settings.for_textures else []),
        ]
        env = dict(os.environ, BLENDER_USER_RESOURCES=str(Path(scratch) / "blender-user"))
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"rendering scene {name!r} with Blender failed:\n{result.stderr[-3000:]}")
        shutil.rmtree(Path(scratch) / "blender-user", ignore_errors=True)
        if final.exists():  # another process rendered it meanwhile
            return ScenePair(name, final)
        os.replace(scratch, final)
        Path(scratch).mkdir()  # TemporaryDirectory expects to clean something up
    return ScenePair(name, final)


def load_dataset(dataset_dir: Path) -> tuple[list[CameraSpec], np.ndarray]:
    """Cameras and images (`[N, H, W, 3]` float32 in [0, 1]) of a dataset written by `blender_scenes.py`."""
    meta = json.loads((Path(dataset_dir) / "transforms.json").read_text())
    cameras = [CameraSpec.from_wire(frame) for frame in meta["frames"]]
    images = [_read_rgb(Path(dataset_dir) / frame["file_path"]) for frame in meta["frames"]]
    return cameras, np.stack(images)


def _read_rgb(path: Path) -> np.ndarray:
    """The image composited on WHITE ([H, W, 3] float32 in [0, 1])."""
    with Image.open(path) as image:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    return rgba[..., :3] * rgba[..., 3:] + np.asarray(WHITE, np.float32) * (1.0 - rgba[..., 3:])


def load_alphas(dataset_dir: Path) -> np.ndarray:
    """The views' alpha ([N, H, W] float32 in [0, 1]) of a dataset written by `blender_scenes.py`."""
    meta = json.loads((Path(dataset_dir) / "transforms.json").read_text())
    alphas = []
    for frame in meta["frames"]:
        with Image.open(Path(dataset_dir) / frame["file_path"]) as image:
            alphas.append(np.asarray(image.convert("RGBA"), dtype=np.float32)[..., 3] / 255.0)
    return np.stack(alphas)


def load_masks(dataset_dir: Path) -> np.ndarray:
    """The masks of the edited objects ([N, H, W] bool) of a dataset written by `blender_scenes.py`."""
    meta = json.loads((Path(dataset_dir) / "transforms.json").read_text())
    masks = []
    for frame in meta["frames"]:
        with Image.open(Path(dataset_dir) / frame["mask_path"]) as mask:
            masks.append(np.asarray(mask.convert("L")) > 127)
    return np.stack(masks)
