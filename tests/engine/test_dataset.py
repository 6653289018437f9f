"""Preparing a user's dataset: downscaling with intrinsics, RGBA, validation, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from in2n_server.engine.dataset import DatasetError, prepare_dataset, target_size

POSE = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]


def _write_dataset(root: Path, images: list[Image.Image], frames: list[dict] | None = None, **top) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    out_frames = []
    for index, image in enumerate(images):
        image.save(root / "images" / f"{index}.png")
        pose = [row[:] for row in POSE]
        pose[0][3] = float(index)  # cameras at distinct positions
        out_frames.append({"file_path": f"images/{index}.png", "transform_matrix": pose})
    for frame, extra in zip(out_frames, frames or [], strict=False):
        frame.update(extra)
    w, h = images[0].size
    meta = {
        "fl_x": 500.0,
        "fl_y": 510.0,
        "cx": w / 2,
        "cy": h / 2,
        "w": w,
        "h": h,
        "frames": out_frames,
        **top,
    }
    (root / "transforms.json").write_text(json.dumps(meta))
    return root


def test_target_size_keeps_the_aspect_and_never_upscales() -> None:
    assert target_size(1024, 600, 512) == (512, 300)
    assert target_size(600, 1024, 512) == (300, 512)
    assert target_size(320, 200, 512) == (320, 200)


def test_large_images_are_downscaled_with_their_intrinsics(tmp_path: Path) -> None:
    src = _write_dataset(tmp_path / "src", [Image.new("RGB", (1024, 600), (200, 10, 10))] * 2)
    out = prepare_dataset(src, tmp_path / "out", max_image_size=512)
    meta = json.loads((out / "transforms.json").read_text())
    assert "in2n_background" not in meta  # opaque photos: the background is part of the scene
    frame = meta["frames"][0]
    assert (frame["w"], frame["h"]) == (512, 300)
    assert frame["fl_x"] == pytest.approx(250.0) and frame["fl_y"] == pytest.approx(510 * 300 / 600)
    assert frame["cx"] == pytest.approx(256.0) and frame["cy"] == pytest.approx(150.0)
    assert Image.open(out / frame["file_path"]).size == (512, 300)


def test_rgba_is_composited_on_white_and_alpha_kept_as_mask(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:4, :, :] = (0, 0, 255, 255)  # opaque blue top half, transparent bottom half
    src = _write_dataset(tmp_path / "src", [Image.fromarray(rgba, "RGBA")] * 2)
    out = prepare_dataset(src, tmp_path / "out")
    frame = json.loads((out / "transforms.json").read_text())["frames"][0]
    image = np.asarray(Image.open(out / frame["file_path"]))
    assert image.shape == (8, 8, 3)
    assert tuple(image[0, 0]) == (0, 0, 255) and tuple(image[7, 7]) == (255, 255, 255)
    mask = np.asarray(Image.open(out / frame["in2n_mask_path"]))
    assert mask[0, 0] == 255 and mask[7, 7] == 0
    assert "mask_path" not in frame  # nerfstudio would stop sampling the masked-out pixels
    meta = json.loads((out / "transforms.json").read_text())
    assert meta["in2n_background"] == "white"  # the NeRF then learns an empty background
    # A job prepares its dataset again from the scene's prepared (already composited) one.
    again = json.loads((prepare_dataset(out, tmp_path / "job") / "transforms.json").read_text())
    assert again["in2n_background"] == "white"


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (
            lambda m: m["frames"][1].update(transform_matrix=[[float("nan")] * 4] * 4),
            "frames[1].transform_matrix",
            "finite",
        ),
        (
            lambda m: m["frames"][0].update(
                transform_matrix=[[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
            ),
            "frames[0]",
            "orthonormal",
        ),
        (lambda m: m["frames"][0].update(file_path="../../etc/passwd"), "frames[0].file_path", "outside"),
        (lambda m: m["frames"][1].update(file_path="images/missing.png"), "frames[1].file_path", "not found"),
        (lambda m: m.update(frames=[]), "frames", "non-empty"),
        (lambda m: m.update(fl_x=-3.0), "frames[0].fl_x", "positive"),
        (lambda m: [f.update(transform_matrix=POSE) for f in m["frames"]], "frames", "one point"),
    ],
)
def test_bad_datasets_name_the_problem_and_write_nothing(
    tmp_path: Path, mutate, field: str, message: str
) -> None:
    src = _write_dataset(tmp_path / "src", [Image.new("RGB", (16, 16))] * 2)
    meta = json.loads((src / "transforms.json").read_text())
    mutate(meta)
    (src / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError) as error:
        prepare_dataset(src, tmp_path / "out")
    assert error.value.field.startswith(field) and message in error.value.message
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # no staging leftovers


def test_images_of_mismatched_size_are_rejected(tmp_path: Path) -> None:
    src = _write_dataset(tmp_path / "src", [Image.new("RGB", (16, 16)), Image.new("RGB", (16, 16))])
    Image.new("RGB", (20, 16)).save(src / "images" / "1.png")
    with pytest.raises(DatasetError, match="camera says 16x16"):
        prepare_dataset(src, tmp_path / "out")
