"""Preparing a user's dataset: downscaling with intrinsics, RGBA, validation, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from in2n_server.engine.dataset import (
    MAX_NESTING,
    DatasetError,
    frame_cameras,
    parse_transforms,
    prepare_dataset,
    target_size,
)

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


def test_rgba_keeps_its_alpha_and_makes_every_view_rgba(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:4, :, :] = (0, 0, 255, 255)  # opaque blue top half, transparent bottom half
    opaque = Image.new("RGB", (8, 8), (10, 20, 30))
    src = _write_dataset(tmp_path / "src", [Image.fromarray(rgba, "RGBA"), opaque])
    out = prepare_dataset(src, tmp_path / "out")
    meta = json.loads((out / "transforms.json").read_text())
    assert meta["in2n_alpha"] is True  # training then fills empty pixels with random colours
    first, second = meta["frames"]
    image = np.asarray(Image.open(out / first["file_path"]))
    assert image.shape == (8, 8, 4)
    assert tuple(image[0, 0]) == (0, 0, 255, 255) and image[7, 7, 3] == 0
    assert tuple(np.asarray(Image.open(out / second["file_path"]))[3, 3]) == (10, 20, 30, 255)
    mask = np.asarray(Image.open(out / first["in2n_mask_path"]))  # alpha doubles as the edit mask
    assert mask[0, 0] == 255 and mask[7, 7] == 0
    assert "mask_path" not in first  # nerfstudio would stop sampling the masked-out pixels
    # A job prepares its dataset again from the scene's prepared one: alpha survives.
    again = json.loads((prepare_dataset(out, tmp_path / "job") / "transforms.json").read_text())
    assert again["in2n_alpha"] is True


def test_opaque_datasets_stay_rgb_without_bounds(tmp_path: Path) -> None:
    src = _write_dataset(tmp_path / "src", [Image.new("RGB", (8, 8))] * 2)
    meta = json.loads((prepare_dataset(src, tmp_path / "out") / "transforms.json").read_text())
    assert "in2n_alpha" not in meta and "in2n_bounds" not in meta
    assert np.asarray(Image.open(tmp_path / "out" / meta["frames"][0]["file_path"])).shape == (8, 8, 3)


def test_float_depth_becomes_npy_and_gives_the_surfaces_bounds(tmp_path: Path) -> None:
    """Depth 100 m survives (16-bit mm PNG clipped at 65 m); bounds hold exactly the points depth saw."""
    size = 16
    depth = np.zeros((size, size), np.float32)
    depth[4:12, 4:12] = 100.0
    depth[0, 0] = np.nan  # no surface
    src = _write_dataset(
        tmp_path / "src",
        [Image.new("RGB", (size, size))] * 2,
        frames=[{"depth_file_path": "depths/0.npy"}, {"depth_file_path": "depths/1.npy"}],
    )
    (src / "depths").mkdir()
    for index in range(2):
        np.save(src / "depths" / f"{index}.npy", depth)
    out = prepare_dataset(src, tmp_path / "out")
    meta = json.loads((out / "transforms.json").read_text())
    stored = np.load(out / meta["frames"][0]["in2n_depth_path"], allow_pickle=False)
    assert stored.dtype == np.float32 and stored[8, 8] == pytest.approx(100.0) and stored[0, 0] == 0.0
    lo, hi = np.array(meta["in2n_bounds"]["min"]), np.array(meta["in2n_bounds"]["max"])
    # POSE sits at z = 3 looking down -Z; the second camera is 1 to the right. Pixel centres 4.5..11.5
    # at focal 500 / 510 around the centre 8, at 100 units away:
    x = (np.array([4.5, 11.5]) - 8) / 500.0 * 100.0
    y = -(np.array([11.5, 4.5]) - 8) / 510.0 * 100.0
    true_lo, true_hi = np.array([x[0], y[0], -97.0]), np.array([x[1] + 1.0, y[1], -97.0])
    margin = 0.05 * np.linalg.norm(true_hi - true_lo)
    np.testing.assert_allclose(lo, true_lo - margin, atol=1e-3)
    np.testing.assert_allclose(hi, true_hi + margin, atol=1e-3)


def test_legacy_millimetre_png_depth_is_read_in_scene_units(tmp_path: Path) -> None:
    src = _write_dataset(
        tmp_path / "src", [Image.new("RGB", (8, 8))] * 2, frames=[{"depth_file_path": "d.png"}]
    )
    Image.fromarray(np.full((8, 8), 2500, np.uint16)).save(src / "d.png")
    out = prepare_dataset(src, tmp_path / "out")
    frame = json.loads((out / "transforms.json").read_text())["frames"][0]
    assert np.load(out / frame["in2n_depth_path"])[0, 0] == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (np.zeros((8, 8, 3), np.float32), "2-D"),
        (np.zeros((8, 8), np.int32), "float"),
        (np.zeros((8, 4), np.float32), "is 4x8"),
    ],
)
def test_bad_depth_arrays_name_the_problem(tmp_path: Path, payload: np.ndarray, message: str) -> None:
    src = _write_dataset(
        tmp_path / "src", [Image.new("RGB", (8, 8))] * 2, frames=[{"depth_file_path": "d.npy"}]
    )
    np.save(src / "d.npy", payload)
    with pytest.raises(DatasetError) as error:
        prepare_dataset(src, tmp_path / "out")
    assert error.value.field == "frames[0].depth_file_path" and message in error.value.message
    assert not (tmp_path / "out").exists()


def test_pickled_depth_is_refused(tmp_path: Path) -> None:
    src = _write_dataset(
        tmp_path / "src", [Image.new("RGB", (8, 8))] * 2, frames=[{"depth_file_path": "d.npy"}]
    )
    np.save(src / "d.npy", np.array([{"not": "an array"}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="readable .npy"):
        prepare_dataset(src, tmp_path / "out")


def test_given_bounds_are_validated_and_kept(tmp_path: Path) -> None:
    src = _write_dataset(
        tmp_path / "src", [Image.new("RGB", (8, 8))] * 2, in2n_bounds={"min": [0, 0, 0], "max": [1, 2, 3]}
    )
    meta = json.loads((prepare_dataset(src, tmp_path / "out") / "transforms.json").read_text())
    assert meta["in2n_bounds"] == {"min": [0.0, 0.0, 0.0], "max": [1.0, 2.0, 3.0]}
    bad = _write_dataset(
        tmp_path / "bad", [Image.new("RGB", (8, 8))] * 2, in2n_bounds={"min": [0, 0, 0], "max": [1, -2, 3]}
    )
    with pytest.raises(DatasetError, match="min must be below max"):
        prepare_dataset(bad, tmp_path / "out2")


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


def test_intrinsics_a_frame_leaves_out_follow_one_set_of_rules() -> None:
    """The one validator (ingest uses it too): shared keys, camera_angle_x, fl_y := fl_x, centred cx/cy."""
    meta = {
        "camera_angle_x": 2 * np.arctan(0.5),  # 100 px wide -> fl_x = 100
        "w": 100,
        "h": 50,
        "frames": [
            {"transform_matrix": POSE},
            {"transform_matrix": POSE, "fl_x": 80.0, "w": 120},
            {"transform_matrix": POSE, "fl_x": 70.0, "fl_y": 60.0, "cx": 1.0, "cy": 2.0},
        ],
    }
    angle, own_focal, explicit = frame_cameras(meta)
    assert (angle["fl_x"], angle["fl_y"]) == pytest.approx((100.0, 100.0))
    assert (angle["cx"], angle["cy"], angle["w"], angle["h"]) == (50.0, 25.0, 100, 50)
    assert (own_focal["fl_x"], own_focal["fl_y"], own_focal["cx"]) == (80.0, 80.0, 60.0)
    assert (explicit["fl_x"], explicit["fl_y"], explicit["cx"], explicit["cy"]) == (70.0, 60.0, 1.0, 2.0)
    assert "camera_angle_x" not in angle


@pytest.mark.parametrize(
    ("meta", "field"),
    [
        ({"frames": []}, "frames"),
        ({"frames": {"a": 1}}, "frames"),
        ({"frames": [3]}, "frames[0]"),
        (
            {"w": 10, "h": 10, "camera_angle_x": 4.0, "frames": [{"transform_matrix": POSE}]},
            "frames[0].camera_angle_x",
        ),
        ({"w": 10, "h": 10, "frames": [{"transform_matrix": POSE}]}, "frames[0]"),  # no focal at all
        ({"w": 10, "h": 10, "fl_x": 5.0, "frames": [{}]}, "frames[0]"),  # no pose
    ],
)
def test_frames_the_rules_refuse(meta: dict, field: str) -> None:
    with pytest.raises(DatasetError) as error:
        frame_cameras(meta)
    assert error.value.field == field


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 100_000])
def test_json_nested_absurdly_deep_is_refused(depth: int) -> None:
    with pytest.raises(DatasetError, match="nested deeper"):
        parse_transforms('{"frames": [], "x": ' + "[" * depth + "]" * depth + "}")
    assert parse_transforms("[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1))  # within the limit
