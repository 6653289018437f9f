"""The IP2P editor on a tiny random pipeline: what is noised, what conditions, which timesteps run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from in2n_server.editor.edit_math import LATENT_SCALE, edit_timesteps
from in2n_server.editor.ip2p import EditSettings, InstructPix2PixEditor, load_ip2p_editor
from in2n_server.editor.loading import EditorUnavailableError, describe_model, load_ip2p_pipeline


class RecordingUNet:
    """Wraps the real UNet and records every call (`calls` with the first row's timestep, `rows` with all)."""

    def __init__(self, unet) -> None:
        self.unet, self.calls, self.rows = unet, [], []
        self.device, self.dtype = unet.device, unet.dtype

    def __call__(self, sample, timestep, encoder_hidden_states):
        rows = torch.as_tensor(timestep).flatten().tolist()
        self.calls.append((sample.clone(), int(rows[0]), encoder_hidden_states.clone()))
        self.rows.append(rows)
        return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states)


class RecordingVAE:
    """Wraps the real VAE and records what gets encoded."""

    def __init__(self, vae) -> None:
        self.vae, self.encoded = vae, []
        self.config, self.dtype = vae.config, vae.dtype

    def encode(self, images):
        self.encoded.append(images.clone())
        return self.vae.encode(images)

    def decode(self, latents):
        return self.vae.decode(latents)


@pytest.fixture(scope="module")
def pipe(tiny_ip2p_dir: Path):
    return load_ip2p_pipeline(str(tiny_ip2p_dir), torch.device("cpu"), torch.float32)


def _recording_editor(pipe, settings: EditSettings, seed: int = 0) -> InstructPix2PixEditor:
    editor = InstructPix2PixEditor(pipe, settings, seed=seed)
    editor.unet = RecordingUNet(pipe.unet)
    editor.vae = RecordingVAE(pipe.vae)
    return editor


def test_render_is_noised_and_original_conditions(pipe) -> None:
    settings = EditSettings(diffusion_steps=4, lower_bound=0.5, upper_bound=0.5)
    render, original = torch.full((32, 32, 3), 0.9), torch.full((32, 32, 3), 0.1)
    editor = _recording_editor(pipe, settings)
    edited = editor.edit(render, original, "make it blue", view_index=0)
    assert edited.shape == (32, 32, 3) and edited.min() >= 0 and edited.max() <= 1

    # The VAE sees the render first (to be noised), then the original (the conditioning).
    first, second = editor.vae.encoded
    assert torch.allclose(first, render.permute(2, 0, 1)[None] * 2 - 1)
    assert torch.allclose(second, original.permute(2, 0, 1)[None] * 2 - 1)

    # T = 500 exactly: the UNet runs at 376, 251, 126, 1 (stride 125, SD's offset 1).
    assert (
        [t for _, t, _ in editor.unet.calls] == edit_timesteps(500, 4, steps_offset=1) == [376, 251, 126, 1]
    )

    # Conditioning channels: [original, original, zeros]; the noisy latents are the same in all three.
    sample, _, embeddings = editor.unet.calls[0]
    condition = pipe.vae.encode(original.permute(2, 0, 1)[None] * 2 - 1).latent_dist.mode()
    assert torch.allclose(sample[0, 4:], condition[0], atol=1e-5)
    assert torch.allclose(sample[1, 4:], condition[0], atol=1e-5)
    assert torch.count_nonzero(sample[2, 4:]) == 0
    assert torch.equal(sample[0, :4], sample[1, :4]) and torch.equal(sample[0, :4], sample[2, :4])

    # Text embeddings: [instruction, "", ""].
    tokens = pipe.tokenizer(["make it blue", ""], padding="max_length", max_length=77, return_tensors="pt")
    expected = pipe.text_encoder(tokens.input_ids)[0]
    assert torch.allclose(embeddings[0], expected[0], atol=1e-5)
    assert torch.allclose(embeddings[1], expected[1], atol=1e-5) and torch.allclose(
        embeddings[2], expected[1], atol=1e-5
    )


def test_noised_latent_is_the_scaled_render_latent_plus_noise(pipe) -> None:
    settings = EditSettings(diffusion_steps=2, lower_bound=0.3, upper_bound=0.3)
    render = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(1))
    editor = _recording_editor(pipe, settings, seed=7)
    editor.edit(render, torch.zeros(16, 16, 3), "make it red", view_index=0)

    # Replay the editor's random draws: latent sample, start timestep, noise.
    generator = torch.Generator().manual_seed(7)
    latent = (
        pipe.vae.encode(render.permute(2, 0, 1)[None] * 2 - 1).latent_dist.sample(generator) * LATENT_SCALE
    )
    torch.randint(300, 301, (1,), generator=generator)
    noise = torch.randn(latent.shape, generator=generator)
    first_t = edit_timesteps(300, 2, steps_offset=1)[0]
    alpha = editor.scheduler.alphas_cumprod[first_t]
    expected = alpha.sqrt() * latent + (1 - alpha).sqrt() * noise
    assert torch.allclose(editor.unet.calls[0][0][:1, :4], expected, atol=1e-5)


def test_same_seed_same_edit_and_size_is_kept(tiny_ip2p_dir: Path) -> None:
    settings = EditSettings(diffusion_steps=3)
    image = torch.rand(40, 56, 3, generator=torch.Generator().manual_seed(0))
    a = load_ip2p_editor(str(tiny_ip2p_dir), torch.device("cpu"), settings, seed=5).edit(
        image, image, "x", view_index=0
    )
    b = load_ip2p_editor(str(tiny_ip2p_dir), torch.device("cpu"), settings, seed=5).edit(
        image, image, "x", view_index=0
    )
    assert a.shape == image.shape  # 40x56 is not a multiple of 8: resized for the VAE and back
    assert torch.equal(a, b)


def test_bad_settings_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="lower_bound"):
        EditSettings(lower_bound=0.9, upper_bound=0.1)
    with pytest.raises(ValueError, match="diffusion_steps"):
        EditSettings(diffusion_steps=0)


def test_missing_model_offline_says_how_to_provide_it(tmp_path: Path) -> None:
    with pytest.raises(EditorUnavailableError) as error:
        load_ip2p_pipeline("timbrooks/instruct-pix2pix", torch.device("cpu"), torch.float32)
    message = str(error.value)
    assert "huggingface-cli download timbrooks/instruct-pix2pix" in message
    assert "--model demo" in message and "--model" in message
    available, why = describe_model(None)
    assert not available and "--model demo" in why
    with pytest.raises(EditorUnavailableError, match="does not exist"):
        load_ip2p_pipeline(str(tmp_path / "nowhere"), torch.device("cpu"), torch.float32)


def test_local_directory_is_described_as_available(tiny_ip2p_dir: Path, tmp_path: Path) -> None:
    assert describe_model(str(tiny_ip2p_dir))[0]
    assert not describe_model(str(tmp_path))[0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_half_precision_edit_on_cuda(tiny_ip2p_dir: Path) -> None:
    editor = load_ip2p_editor(str(tiny_ip2p_dir), torch.device("cuda"), EditSettings(), half_precision=True)
    assert editor.unet.dtype == torch.float16 and editor.text_encoder.dtype == torch.float16
    image = torch.rand(64, 64, 3, device="cuda")
    edited = editor.edit(image, image, "make it blue", view_index=0)
    assert edited.device.type == "cuda" and edited.dtype == torch.float32 and torch.isfinite(edited).all()


def test_a_batch_is_one_call_with_three_rows_per_view(pipe) -> None:
    settings = EditSettings(diffusion_steps=4, lower_bound=0.5, upper_bound=0.5)
    views = [torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    editor = _recording_editor(pipe, settings)
    edited = editor.edit_batch(views, views, "make it blue", [0, 1, 2])
    assert len(edited) == 3 and all(image.shape == (16, 16, 3) for image in edited)
    assert [t for _, t, _ in editor.unet.calls] == [376, 251, 126, 1]  # one denoising loop for all
    sample, _, embeddings = editor.unet.calls[0]
    assert sample.shape[0] == embeddings.shape[0] == 9  # [text x3, image x3, none x3]
    assert torch.count_nonzero(sample[6:, 4:]) == 0  # the unconditional rows have no image
    assert (editor.calls, editor.views_edited, editor.unet_passes) == (1, 3, 4)


def test_each_view_of_a_batch_draws_its_own_start_and_steps_at_its_own_stride(pipe) -> None:
    """Batching shares the UNet passes, not the draw: a view's edit is what it would be alone."""
    settings = EditSettings(diffusion_steps=20, lower_bound=0.02, upper_bound=0.98, scale_steps=True)
    views = [torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    editor = _recording_editor(pipe, settings, seed=5)
    editor.edit_batch(views, views, "x", [0, 1, 2, 3])
    first = editor.unet.rows[0]
    assert len(first) == 12 and first[:4] == first[4:8] == first[8:]  # a view's three guidance rows
    assert len(set(first[:4])) == 4  # four views, four start timesteps
    steps = len(editor.unet.rows)
    assert steps == editor.unet_passes < 20  # the highest start's count at a full edit's stride
    for view in range(4):
        start = first[view] - 1 + (first[view] - editor.unet.rows[1][view])  # undo the offset, add a stride
        assert [row[view] for row in editor.unet.rows] == edit_timesteps(start, steps, steps_offset=1)


def test_a_batch_of_one_is_the_single_edit(tiny_ip2p_dir: Path) -> None:
    settings = EditSettings(diffusion_steps=3)
    image = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(2))
    single = load_ip2p_editor(str(tiny_ip2p_dir), torch.device("cpu"), settings, seed=3)
    batch = load_ip2p_editor(str(tiny_ip2p_dir), torch.device("cpu"), settings, seed=3)
    assert torch.equal(single.edit(image, image, "x"), batch.edit_batch([image], [image], "x", [0])[0])


def test_annealed_bound_and_fewer_steps_shorten_the_denoising(pipe) -> None:
    settings = EditSettings(diffusion_steps=20, lower_bound=0.49, upper_bound=0.98, scale_steps=True)
    editor = _recording_editor(pipe, settings)
    image = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(4))
    editor.edit(image, image, "x", upper_bound=0.49)  # the bound of this call: start exactly at 490
    assert len(editor.unet.calls) == 10  # 490 at the stride of 20 steps from 980
    assert editor.unet.calls[0][1] == edit_timesteps(490, 10, steps_offset=1)[0]
