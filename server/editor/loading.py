"""Finding and loading InstructPix2Pix weights: hub ids, local directories, and named bundled models.

Model download failures with no offline path were a common complaint about the original. Here a missing
model raises one `EditorUnavailableError` whose message says exactly how to provide the weights, and
there is never a silent fallback to another model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from in2n_protocol import edit_params

if TYPE_CHECKING:  # torch is imported where it is used: health and job routes import this module
    import torch

DEFAULT_MODEL = "timbrooks/instruct-pix2pix"
BUNDLED_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
# Short names a user can pass instead of a hub id or a path.
NAMED_MODELS = {"ip2p": DEFAULT_MODEL, "demo": str(BUNDLED_MODELS_DIR / "demo")}
# In a local pipeline folder: the edit settings that suit that model better than IP2P's (model-tuned
# fields of in2n_protocol.edit_params only). The bundled demo editor has one: docs/demo-editor.md.
RECOMMENDED_FILE = "in2n_recommended.json"


class EditorUnavailableError(RuntimeError):
    """The editor's weights cannot be loaded; the message says how to provide them."""


def resolve_model(model: str | None) -> str:
    """A registered name, local directory or hub id -> a local directory or a hub id."""
    model = model or DEFAULT_MODEL
    model = NAMED_MODELS.get(model, model)
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


def recommended_settings(model: str | None) -> dict[str, float]:
    """The model's values for the model-tuned edit parameters a job leaves unset (empty: IP2P's apply).

    Read from `RECOMMENDED_FILE` in a local pipeline folder; a hub id recommends nothing.
    """
    file = Path(resolve_model(model)) / RECOMMENDED_FILE
    if not file.is_file():
        return {}
    values = json.loads(file.read_text(encoding="utf-8"))
    return {name: values[name] for name in edit_params.model_tuned_fields() if name in values}


def is_local(model: str) -> bool:
    return Path(model).is_dir()


def how_to_provide(model: str) -> str:
    return (
        f"InstructPix2Pix weights {model!r} are not available on this machine. "
        "Provide them in one of these ways: "
        f"(1) on a machine with internet run `huggingface-cli download {DEFAULT_MODEL}` "
        "and copy the Hugging Face "
        "cache (~/.cache/huggingface, or wherever HF_HOME points) here; "
        "(2) point --model at a local diffusers pipeline directory (one that holds model_index.json); "
        "(3) use the small bundled demo editor with --model demo (CPU friendly, low quality)."
    )


def describe_model(model: str | None) -> tuple[bool, str]:
    """Whether the model can be loaded without a download, and a sentence saying so (for health)."""
    resolved = resolve_model(model)
    if is_local(resolved):
        if (Path(resolved) / "model_index.json").is_file():
            return True, f"local pipeline at {resolved}"
        return False, f"{resolved} is not a diffusers pipeline directory (no model_index.json)"
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(resolved, "model_index.json")
    except Exception:  # noqa: BLE001 - a malformed id is simply "not available"
        cached = None
    if isinstance(cached, str):
        return True, f"{resolved} found in the Hugging Face cache"
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", ""):
        return False, how_to_provide(resolved)
    return False, f"{resolved} is not cached; it will be downloaded at the first edit (about 5 GB)"


def editor_dtype(device: torch.device, half_precision: bool) -> torch.dtype:
    """fp16 only on CUDA; the CPU runs every component in fp32 (mixed dtypes fail there)."""
    import torch

    return torch.float16 if half_precision and device.type == "cuda" else torch.float32


def load_ip2p_pipeline(model: str | None, device: torch.device, dtype: torch.dtype):
    """Load a StableDiffusionInstructPix2PixPipeline from a hub id or a local directory."""
    from diffusers import StableDiffusionInstructPix2PixPipeline

    resolved = resolve_model(model)
    if not is_local(resolved) and Path(resolved).is_absolute():
        raise EditorUnavailableError(
            f"model directory {resolved} does not exist. " + how_to_provide(resolved)
        )
    try:
        pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(
            resolved, dtype=dtype, safety_checker=None, requires_safety_checker=False
        )
    except (OSError, ValueError) as error:
        raise EditorUnavailableError(f"{how_to_provide(resolved)} (loader said: {error})") from error
    # transformers may return a 2-token tokenizer instead of raising when files are missing.
    if len(pipe.tokenizer) < 100:
        raise EditorUnavailableError(
            f"the tokenizer of {resolved} is incomplete. " + how_to_provide(resolved)
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)
