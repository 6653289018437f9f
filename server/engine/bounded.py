"""How the NeRF of a scene Blender rendered differs from nerfacto's defaults, which are for photos.

nerfacto is built for unbounded, handheld captures: a contracted far region holds sky and distant walls,
and a per-image appearance embedding absorbs exposure changes. On a few objects rendered over a plain world
background both are harmful: with no force pushing a uniform background far away, every view paints its
own background as fog in front of its camera (held-out PSNR ~19 dB, depth errors ~98%, measured by
benchmarks/recon with `--variants opaque`). What the dataset knows decides the settings:

- alpha (RGBA views): nerfstudio's "random" background colour per ray, so empty pixels must be empty;
- known bounds (from exact depth, or given): scene contraction off, the box as the scene, uniform initial
  proposal samples between the near and far planes the dataparser derives;
- either of them (a synthetic, photometrically exact capture): no appearance embedding.

Datasets with neither (photos, `ns-process-data` output, the procedural sample) train exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .dataset import ALPHA_KEY
from .geometry import BOUNDS_KEY
from .model import In2NModelConfig


def is_exact_capture(dataset_meta: Mapping[str, Any]) -> bool:
    """Whether the dataset carries alpha or known bounds: a rendered scene rather than photos."""
    return bool(dataset_meta.get(ALPHA_KEY)) or dataset_meta.get(BOUNDS_KEY) is not None


def configure_model(model: In2NModelConfig, dataset_meta: Mapping[str, Any]) -> In2NModelConfig:
    """Adjust `model` (in place, and returned) to what the prepared dataset's metadata says."""
    if dataset_meta.get(ALPHA_KEY):
        model.background_color = "random"
    if dataset_meta.get(BOUNDS_KEY) is not None:
        model.disable_scene_contraction = True
        model.proposal_initial_sampler = "uniform"
    if is_exact_capture(dataset_meta):
        model.use_appearance_embedding = False
    return model
