"""Checkpoints that load with `torch.load(weights_only=True)` and are never half-written.

nerfstudio 1.1.5's own checkpoints hold a numpy scalar, which torch >= 2.6 refuses under
`weights_only=True`; ours hold only tensors and plain Python values. Base reconstructions saved by
`ns-train` are still accepted, with just the numpy types they need allowed.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..fileio import write_bytes_atomic
from .workdir import checkpoint_path

FORMAT_VERSION = 1


def plain(value: Any) -> Any:
    """Numpy scalars (nerfstudio's schedulers put them in their states) -> Python numbers, recursively."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def atomic_save(payload: dict[str, Any], path: Path) -> Path:
    """torch.save `payload` (numpy scalars made plain) so that `path` is never half-written."""
    buffer = io.BytesIO()
    torch.save(plain(payload), buffer)
    write_bytes_atomic(Path(path), buffer.getvalue())
    return Path(path)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load one of our checkpoints, or a nerfstudio one (`{"step", "pipeline", ...}`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    numpy_types = [np.core.multiarray.scalar, np.dtype, type(np.dtype("float64")), type(np.dtype("int64"))]
    with torch.serialization.safe_globals(numpy_types):
        return torch.load(path, map_location=map_location, weights_only=True)


def find_checkpoint(location: Path) -> Path:
    """A checkpoint file, a session workdir, or a nerfstudio run's `nerfstudio_models` folder -> the file."""
    location = Path(location)
    if location.is_file():
        return location
    candidates = [checkpoint_path(location)]
    for folder in (location, location / "nerfstudio_models"):
        candidates += sorted(
            folder.glob("step-*.ckpt"), key=lambda p: int(p.stem.split("-")[1]), reverse=True
        )
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no checkpoint found at {location}")


def model_state(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model's weights from either format (nerfstudio prefixes them with `_model.`)."""
    if "model" in checkpoint:
        return checkpoint["model"]
    state = checkpoint["pipeline"]
    return {
        k.removeprefix("_model.").removeprefix("module."): v
        for k, v in state.items()
        if k.startswith("_model.")
    }
