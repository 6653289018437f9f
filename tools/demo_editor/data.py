"""Training images and (source, edit) pairs for the demo editor.

Sources are procedural images (64² and 128²) plus Blender renders (128², also downsampled to 64²), each
Blender view also mirrored. Each source gets a few distinct edits, drawn so every edit appears equally
often; the edit's strength is random per pair (see edits.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.demo_editor.blender_views import render_views
from tools.demo_editor.edits import EDITS
from tools.demo_editor.procedural import procedural_images


def downsample2(images: np.ndarray) -> np.ndarray:
    """Average 2×2 blocks: `[N, H, W, 3]` → `[N, H/2, W/2, 3]`."""
    n, h, w, c = images.shape
    return images.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


@dataclass
class SourceImages:
    """Unedited training images at both sizes; `blender_*` are also part of `images_*`."""

    images_64: np.ndarray  # [N64, 64, 64, 3] float32
    images_128: np.ndarray  # [N128, 128, 128, 3] float32
    blender_count_64: int  # the last `blender_count_64` of images_64 are Blender renders
    blender_count_128: int


def make_sources(
    seed: int, procedural_64: int, procedural_128: int, blender_scenes: int, blender_views: int
) -> SourceImages:
    """Procedural images and Blender renders (mirrored too), all float32 in [0, 1]."""
    proc_64 = procedural_images(procedural_64, 64, seed)
    proc_128 = procedural_images(procedural_128, 128, seed + 1)
    if blender_scenes > 0:
        views = render_views(blender_scenes, blender_views, 128, seed + 2).reshape(-1, 128, 128, 3)
        views = views.astype(np.float32) / 255.0
        views = np.concatenate([views, views[:, :, ::-1]])
    else:
        views = np.zeros((0, 128, 128, 3), dtype=np.float32)
    return SourceImages(
        images_64=np.concatenate([proc_64, downsample2(views)]).astype(np.float32),
        images_128=np.concatenate([proc_128, views]).astype(np.float32),
        blender_count_64=len(views),
        blender_count_128=len(views),
    )


@dataclass
class EditPairs:
    """Which source gets which edit; the edited images themselves are made on the fly while encoding."""

    source_index: np.ndarray  # [P] int64
    edit_index: np.ndarray  # [P] int64, into EDITS


def draw_pairs(
    count: int, blender_count: int, edits_per_source: int, edits_per_blender: int, seed: int
) -> EditPairs:
    """Distinct edits per source; Blender renders (the last `blender_count`) get more of them."""
    rng = np.random.default_rng(seed)
    sources, edits = [], []
    for index in range(count):
        per = edits_per_blender if index >= count - blender_count else edits_per_source
        chosen = rng.choice(len(EDITS), size=min(per, len(EDITS)), replace=False)
        sources.extend([index] * len(chosen))
        edits.extend(chosen.tolist())
    return EditPairs(np.asarray(sources, dtype=np.int64), np.asarray(edits, dtype=np.int64))


def apply_edit(image: np.ndarray, edit_index: int, rng: np.random.Generator) -> np.ndarray:
    return np.clip(EDITS[edit_index].apply(image, rng), 0.0, 1.0).astype(np.float32)
