"""The committed demo editor (server/models/demo) loads offline and follows its instructions in 2D.

Fixed images and seeds, a plain diffusers InstructPix2Pix call (the same two-scale classifier-free guidance
in2n uses), the measures of tools/demo_editor/metrics.py. Thresholds come from the issue; the structure
threshold from measurement (see server/models/demo/MODEL_CARD.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO_ROOT / "server" / "models" / "demo"
if str(REPO_ROOT) not in sys.path:  # tools/ is not installed
    sys.path.insert(0, str(REPO_ROOT))

from in2n_server.editor.loading import recommended_settings  # noqa: E402
from tools.demo_editor.metrics import brightness, edge_correlation, hue_share  # noqa: E402

pytestmark = pytest.mark.slow  # runs the demo editor's diffusion on the CPU (seconds per edit)

BLUE = 230.0
RECOMMENDED = recommended_settings(str(MODEL_DIR))  # the model's own in2n_recommended.json
GUIDANCE, IMAGE_GUIDANCE = RECOMMENDED["guidance_scale"], RECOMMENDED["image_guidance_scale"]
# From the issue. Measured with the committed weights (run 5): 0.72 / 0.92 after "make it blue", 0.71 / 0.91
# after "make it darker" (64² / 128²; MODEL_CARD.md).
MIN_EDGE_CORRELATION = 0.5


def _coordinates(size: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    return y, x


def flat_shapes(size: int = 64) -> np.ndarray:
    """An orange-to-green gradient with a red disc and a yellow square."""
    y, x = _coordinates(size)
    image = (
        np.array([1.0, 0.6, 0.2]) + (np.array([0.3, 0.75, 0.3]) - np.array([1.0, 0.6, 0.2])) * x[..., None]
    )
    disc = (y - 0.35) ** 2 + (x - 0.35) ** 2 < 0.2**2
    image[disc] = [0.85, 0.15, 0.15]
    square = (np.abs(y - 0.7) < 0.15) & (np.abs(x - 0.7) < 0.15)
    image[square] = [0.95, 0.85, 0.2]
    return image.astype(np.float32)


def shaded_ball(size: int = 128) -> np.ndarray:
    """A render-like view: a lit red ball on beige ground under a pale warm sky."""
    y, x = _coordinates(size)
    image = np.where((y < 0.45)[..., None], [0.85, 0.8, 0.7], [0.6, 0.5, 0.35]).astype(np.float32)
    image[y >= 0.45] *= (0.7 + 0.3 * y[y >= 0.45])[:, None]
    inside = (y - 0.5) ** 2 + (x - 0.5) ** 2 < 0.25**2
    light = np.clip(1.0 - 2.2 * np.hypot(y - 0.4, x - 0.4), 0.25, 1.0)
    image[inside] = np.array([0.9, 0.2, 0.15]) * light[inside][:, None]
    return image.astype(np.float32)


@pytest.fixture(scope="module")
def pipe():
    os.environ["HF_HUB_OFFLINE"] = "1"
    from diffusers import StableDiffusionInstructPix2PixPipeline

    if not (MODEL_DIR / "model_index.json").exists():
        pytest.fail(f"the demo editor is missing: {MODEL_DIR} (train it: docs/demo-editor.md)")
    pipeline = StableDiffusionInstructPix2PixPipeline.from_pretrained(MODEL_DIR)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def edit(pipe, image: np.ndarray, instruction: str, seed: int = 0) -> np.ndarray:  # noqa: ANN001
    from PIL import Image

    torch.set_num_threads(min(2, torch.get_num_threads()))
    result = pipe(
        instruction,
        image=Image.fromarray((image * 255).round().astype(np.uint8)),
        num_inference_steps=20,
        guidance_scale=GUIDANCE,
        image_guidance_scale=IMAGE_GUIDANCE,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
    )
    return result.images[0]


IMAGES = {"flat_shapes_64": flat_shapes, "shaded_ball_128": shaded_ball}
_EDITED: dict[tuple[str, str], np.ndarray] = {}


def edited_image(pipe, name: str, instruction: str) -> np.ndarray:  # noqa: ANN001
    """The edit of fixture `name`, made once per module: the colour and the structure test read one edit."""
    if (name, instruction) not in _EDITED:
        _EDITED[name, instruction] = edit(pipe, IMAGES[name](), instruction)
    return _EDITED[name, instruction]


@pytest.mark.parametrize("name", IMAGES)
def test_make_it_blue_turns_most_pixels_blue(pipe, name: str) -> None:
    image = IMAGES[name]()
    edited = edited_image(pipe, name, "make it blue")
    before, after = hue_share(image, BLUE), hue_share(edited, BLUE)
    assert before < 0.3, f"fixture already blue: {before:.2f}"
    assert after > 0.8, f"blue share {before:.2f} -> {after:.2f}"


@pytest.mark.parametrize("name", IMAGES)
def test_make_it_blue_keeps_structure(pipe, name: str) -> None:
    image = IMAGES[name]()
    correlation = edge_correlation(edited_image(pipe, name, "make it blue"), image)
    assert correlation >= MIN_EDGE_CORRELATION, f"edge correlation {correlation:.2f}"


@pytest.mark.parametrize("name", IMAGES)
def test_make_it_darker_cuts_brightness_by_a_third(pipe, name: str) -> None:
    image = IMAGES[name]()
    edited = edited_image(pipe, name, "make it darker")
    assert brightness(edited) <= brightness(image) * 2 / 3, (
        f"{brightness(image):.3f} -> {brightness(edited):.3f}"
    )


@pytest.mark.parametrize("name", IMAGES)
def test_make_it_darker_keeps_structure(pipe, name: str) -> None:
    image = IMAGES[name]()
    edited = edited_image(pipe, name, "make it darker")
    correlation = edge_correlation(edited, image)
    assert correlation >= MIN_EDGE_CORRELATION, f"edge correlation {correlation:.2f}"


def test_committed_model_is_small_and_its_tokenizer_trimmed(pipe) -> None:
    weights = sum(path.stat().st_size for path in MODEL_DIR.rglob("*.safetensors"))
    assert weights <= 30 * 2**20, f"{weights / 2**20:.1f} MB of weights"
    assert len(pipe.tokenizer) < 2000
    assert pipe.text_encoder.config.vocab_size == len(pipe.tokenizer)
    # Words outside the trimmed vocabulary fall back to byte pieces instead of failing.
    ids = pipe.tokenizer("Zeige es im Mondschein, bitte! 🌙 ünïcödé 42").input_ids
    assert len(ids) > 10 and max(ids) < len(pipe.tokenizer)
    assert pipe.tokenizer.tokenize("make it blue") == ["make</w>", "it</w>", "blue</w>"]
