"""Masked (local) edits on the CPU: the instruction changes the masked part of each view and nothing else.

Real nerfstudio training (tier in2n-cpu) on the procedural scene, the real IP2P code on tiny random
weights, masks given per view (the upper-left quarter), as the Blender extension sends masks of the
selected objects.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from in2n_server.engine.regions import soft_mask
from in2n_server.engine.session import EditSession
from in2n_server.engine.types import EditParams

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier


def with_quarter_masks(scene_root: Path, out: Path) -> Path:
    shutil.copytree(scene_root, out)
    meta = json.loads((out / "transforms.json").read_text())
    (out / "masks").mkdir()
    for index, frame in enumerate(meta["frames"]):
        mask = np.zeros((frame["h"], frame["w"]), np.uint8)
        mask[: frame["h"] // 2, : frame["w"] // 2] = 255
        Image.fromarray(mask).save(out / "masks" / f"{index}.png")
        frame["mask_path"] = f"masks/{index}.png"
    (out / "transforms.json").write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("crop", [False, True])
def test_masked_edits_leave_the_outside_of_the_mask_as_the_original(
    tiny_scene, tiny_ip2p_dir: Path, tmp_path: Path, crop: bool
) -> None:
    data = with_quarter_masks(tiny_scene.root, tmp_path / "data")
    params = EditParams(
        instruction="make it blue",
        tier="in2n-cpu",
        base_iterations=20,
        edit_iterations=20,
        edit_rate=5,
        diffusion_steps=2,
        model=str(tiny_ip2p_dir),
        edit_region="masked",
        crop_to_mask=crop,
    )
    session = EditSession.create(data, tmp_path / "work", params, device="cpu")
    session.run()
    edited = sorted((tmp_path / "work" / "edited").glob("*.png"))
    assert len(edited) == 4
    for path in edited:
        index = int(path.stem)
        image, original = session.edited_image(index), session.original_image(index)
        weight = soft_mask(session.pipeline.datamanager.edit_mask(index)).numpy()[..., 0]
        outside = weight == 0
        np.testing.assert_array_equal(image[outside], original[outside])
        assert (
            np.abs(image[weight == 1] - original[weight == 1]).mean() > 0.01
        )  # the random editor changed it
    # what exports keep with masked_only: each training camera's mask, at its prepared size
    for index, camera in enumerate(session.training_cameras):
        mask = session.view_mask(index)
        assert mask is not None and mask.dtype == bool and mask.shape == (camera.height, camera.width)
        expected = np.zeros_like(mask)
        expected[: camera.height // 2, : camera.width // 2] = True
        assert np.mean(mask == expected) > 0.97


def test_masked_edits_need_masks(tiny_scene, tiny_ip2p_dir: Path, tmp_path: Path) -> None:
    params = EditParams(instruction="make it blue", tier="in2n-cpu", edit_region="masked")
    with pytest.raises(ValueError, match="no masks"):
        EditSession.create(tiny_scene.root, tmp_path / "work", params, device="cpu")
    assert not (tmp_path / "work" / "session.json").exists() and not (tmp_path / "work" / "dataset").exists()
