"""The moved-surface test (engine/moved_surface.py) on hand-made, exactly ray-cast scenes.

A checkered board at z = 0 (white around it) with a square lid floating above its centre, seen by seven
cameras around it. The edit either removes the lid (the board shows where it was: moved, although every pixel
stays surface) or only recolours the scene (nothing moved). The captured depth is always the original's.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from in2n_server.engine.moved_surface import moved_pixels
from in2n_server.engine.types import CameraSpec
from in2n_server.samples.procedural import look_at

SIZE = 40
LID_HEIGHT, LID_HALF = 0.8, 0.6
CELL = 0.2
BOARD_HALF = 1.2
SUPERSAMPLING = 4


def _cameras() -> list[CameraSpec]:
    focal = SIZE / (2 * math.tan(math.radians(25)))
    cameras = []
    for i in range(7):
        azimuth = math.radians(40 * i)
        position = np.array([2.4 * math.cos(azimuth), 2.4 * math.sin(azimuth), 2.2])
        pose = look_at(position, np.zeros(3), np.array([0.0, 0.0, 1.0]))
        cameras.append(CameraSpec(focal, focal, SIZE / 2, SIZE / 2, SIZE, SIZE, pose))
    return cameras


def _render(
    camera: CameraSpec, lid: bool, colours: tuple[tuple[float, ...], ...]
) -> tuple[np.ndarray, np.ndarray]:
    """(RGB [H, W, 3] antialiased over SUPERSAMPLING² rays, z-depth [H, W] at the pixel centres: 0 where
    nothing is hit) of the board (a checker of `colours[0]` / `colours[1]`) and, with `lid`, the lid
    (`colours[2]`) in front of it."""
    offsets = (np.arange(SUPERSAMPLING) + 0.5) / SUPERSAMPLING - 0.5
    image = np.mean([_cast(camera, lid, colours, (dx, dy))[0] for dx in offsets for dy in offsets], axis=0)
    return image.astype(np.float32), _cast(camera, lid, colours, (0.0, 0.0))[1].astype(np.float32)


def _cast(
    camera: CameraSpec, lid: bool, colours: tuple[tuple[float, ...], ...], offset: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """One ray per pixel, through its centre moved by `offset` pixels: (RGB, z-depth)."""
    cols, rows = np.meshgrid(np.arange(SIZE) + 0.5 + offset[0], np.arange(SIZE) + 0.5 + offset[1])
    local = np.stack(
        [(cols - camera.cx) / camera.fx, -(rows - camera.cy) / camera.fy, -np.ones_like(cols)], -1
    )
    pose = np.asarray(camera.camera_to_world)
    directions, origin = local @ pose[:3, :3].T, pose[:3, 3]

    def hit(height: float) -> tuple[np.ndarray, np.ndarray]:
        t = (height - origin[2]) / directions[..., 2]  # z-depth: t times the local direction's -z (1)
        return t, origin + t[..., None] * directions

    t_floor, floor = hit(0.0)
    on_board = (np.abs(floor[..., 0]) < BOARD_HALF) & (np.abs(floor[..., 1]) < BOARD_HALF) & (t_floor > 0)
    checker = (np.floor(floor[..., 0] / CELL) + np.floor(floor[..., 1] / CELL)) % 2 == 0
    image = np.where(checker[..., None], colours[0], colours[1])
    image = np.where(on_board[..., None], image, 1.0)  # white where the rays miss the board
    depth = np.where(on_board, t_floor, 0.0)
    if lid:
        t_lid, top = hit(LID_HEIGHT)
        on_lid = (np.abs(top[..., 0]) < LID_HALF) & (np.abs(top[..., 1]) < LID_HALF)
        image = np.where(on_lid[..., None], colours[2], image)
        depth = np.where(on_lid, t_lid, depth)
    return image, depth


ORIGINAL = ((0.9, 0.2, 0.2), (0.95, 0.95, 0.9), (0.2, 0.7, 0.3))
RECOLOURED = ((0.2, 0.3, 0.9), (0.95, 0.85, 0.3), (0.6, 0.2, 0.7))


def _moved(lid_after_edit: bool, colours: tuple, partners: int = 6) -> tuple[torch.Tensor, np.ndarray]:
    cameras = _cameras()
    edited = [torch.from_numpy(_render(c, lid_after_edit, colours)[0]) for c in cameras]
    _, captured = _render(cameras[0], True, ORIGINAL)
    _, floor_depth = _render(cameras[0], False, ORIGINAL)
    moved = moved_pixels(
        edited[0],
        torch.from_numpy(captured),
        cameras[0],
        torch.ones(SIZE, SIZE, dtype=torch.bool),
        edited[1 : 1 + partners],
        cameras[1 : 1 + partners],
    )
    return moved, (captured < floor_depth - 1e-4) | (floor_depth == 0) & (captured > 0)


def test_a_removed_lid_releases_where_it_was_and_little_else() -> None:
    moved, lid = _moved(lid_after_edit=False, colours=RECOLOURED)
    lid = torch.from_numpy(lid)
    assert lid.sum() > 150
    assert moved[lid].float().mean() > 0.7  # most of the lid's pixels now show the board: 171 of 212
    board = torch.from_numpy(_render(_cameras()[0], False, ORIGINAL)[1] > 0) & ~lid
    assert moved[board].float().mean() < 0.04  # the board stayed: 17 of 678 released, along the lid


def test_a_recoloured_scene_keeps_its_depth() -> None:
    moved, _ = _moved(lid_after_edit=True, colours=RECOLOURED)
    surface = torch.from_numpy(_render(_cameras()[0], True, ORIGINAL)[1] > 0)
    assert moved[surface].float().mean() < 0.01  # 3 of 890 pixels


def test_no_verdict_without_two_partners() -> None:
    moved, _ = _moved(lid_after_edit=False, colours=RECOLOURED, partners=1)
    assert not moved.any()
