"""A small procedural scene rendered by exact ray casting: known geometry, known cameras, no downloads.

Three coloured spheres on a checkered ground, seen from a ring of cameras. The scene's world frame is
deliberately awkward (offset, scaled by 3.7, rotated so that "up" is not +Z): exports and previews must
come back in this frame, and tests can measure how far exported points are from the true surfaces.
Used by the tests, the benchmarks and the offline demo.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Sphere:
    centre: tuple[float, float, float]
    radius: float
    colour: tuple[float, float, float]


DEFAULT_SPHERES = (
    Sphere((0.0, 0.0, 0.5), 0.5, (0.85, 0.15, 0.12)),
    Sphere((0.85, -0.55, 0.3), 0.3, (0.15, 0.7, 0.2)),
    Sphere((-0.75, 0.6, 0.35), 0.35, (0.95, 0.8, 0.15)),
)
GROUND_HALF_SIZE = 4.0
SKY_COLOUR = np.array([0.55, 0.7, 0.9], dtype=np.float32)
LIGHT_DIRECTION = np.array([0.4, -0.3, 0.85]) / np.linalg.norm([0.4, -0.3, 0.85])


def _rotation(axis: tuple[float, float, float], angle_deg: float) -> np.ndarray:
    axis_v = np.asarray(axis, dtype=np.float64)
    axis_v /= np.linalg.norm(axis_v)
    x, y, z = axis_v
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return np.array(
        [
            [c + x * x * (1 - c), x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
            [y * x * (1 - c) + z * s, c + y * y * (1 - c), y * z * (1 - c) - x * s],
            [z * x * (1 - c) - y * s, z * y * (1 - c) + x * s, c + z * z * (1 - c)],
        ]
    )


@dataclass(frozen=True)
class SceneFrame:
    """world = scale * rotation @ local + translation (a similarity; local is z-up, metric-ish)."""

    scale: float = 3.7
    rotation: np.ndarray = field(default_factory=lambda: _rotation((1.0, 0.3, -0.2), -75.0))
    translation: np.ndarray = field(default_factory=lambda: np.array([12.0, -5.0, 7.0]))

    def points_to_world(self, points: np.ndarray) -> np.ndarray:
        return self.scale * points @ self.rotation.T + self.translation

    def points_to_local(self, points: np.ndarray) -> np.ndarray:
        return ((points - self.translation) / self.scale) @ self.rotation

    def pose_to_world(self, c2w_local: np.ndarray) -> np.ndarray:
        pose = np.eye(4)
        pose[:3, :3] = self.rotation @ c2w_local[:3, :3]
        pose[:3, 3] = self.points_to_world(c2w_local[:3, 3][None])[0]
        return pose


@dataclass(frozen=True)
class ProceduralScene:
    """What a test needs to know about a generated scene (everything in the world frame)."""

    root: Path
    frame: SceneFrame
    spheres: tuple[Sphere, ...]
    heldout_cameras: list[dict]

    @property
    def radius(self) -> float:
        """Radius of the region that holds the objects (the ground is larger)."""
        return 1.6 * self.frame.scale

    @property
    def object_centre(self) -> np.ndarray:
        return self.frame.points_to_world(np.array([[0.0, 0.0, 0.4]]))[0]

    def distance_to_surfaces(self, points_world: np.ndarray) -> np.ndarray:
        """Unsigned distance (world units) from each point to the nearest sphere or the ground."""
        local = self.frame.points_to_local(points_world)
        distances = [np.abs(local[:, 2])]
        for sphere in self.spheres:
            distances.append(
                np.abs(np.linalg.norm(local - np.asarray(sphere.centre), axis=1) - sphere.radius)
            )
        return np.min(np.stack(distances), axis=0) * self.frame.scale

    def object_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounds (world frame) of the spheres."""
        corners = []
        for sphere in self.spheres:
            for dx in (-1, 1):
                for dy in (-1, 1):
                    for dz in (-1, 1):
                        corners.append(np.asarray(sphere.centre) + sphere.radius * np.array([dx, dy, dz]))
        world = self.frame.points_to_world(np.array(corners))
        return world.min(axis=0), world.max(axis=0)


def look_at(position: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Camera-to-world (OpenGL: looks down -Z, +Y up) for a camera at `position` looking at `target`."""
    back = position - target
    back /= np.linalg.norm(back)
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    true_up = np.cross(back, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, true_up, back, position
    return pose


def ring_poses(count: int, radius: float, elevation_deg: float, phase_deg: float = 0.0) -> list[np.ndarray]:
    """Local-frame camera poses on a circle around the objects, looking at their centre."""
    target = np.array([0.0, 0.0, 0.35])
    poses = []
    for i in range(count):
        azimuth = math.radians(phase_deg + 360.0 * i / count)
        elevation = math.radians(elevation_deg)
        position = target + radius * np.array(
            [
                math.cos(azimuth) * math.cos(elevation),
                math.sin(azimuth) * math.cos(elevation),
                math.sin(elevation),
            ]
        )
        poses.append(look_at(position, target, np.array([0.0, 0.0, 1.0])))
    return poses


def render_layers(
    c2w_local: np.ndarray,
    width: int,
    height: int,
    focal: float,
    spheres: tuple[Sphere, ...] = DEFAULT_SPHERES,
    ground: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colour [H, W, 3], alpha [H, W] (1 where a surface was hit) and z-depth [H, W] in local units
    (0 where nothing was hit): what Blender's capture knows of a view, for tests without Blender."""
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    dirs_cam = np.stack([(cols - width / 2) / focal, -(rows - height / 2) / focal, -np.ones_like(cols)], -1)
    dirs = dirs_cam.reshape(-1, 3) @ c2w_local[:3, :3].T
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    origin = c2w_local[:3, 3]
    nearest = np.full(len(dirs), np.inf)
    colour = np.tile(SKY_COLOUR, (len(dirs), 1))
    normal = np.zeros_like(dirs)

    # Ground plane z = 0, limited to a square, with a checker pattern.
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ground = -origin[2] / dirs[:, 2]
    hit = t_ground > 1e-6
    hit_points = origin + t_ground[:, None] * dirs
    hit &= (np.abs(hit_points[:, 0]) < GROUND_HALF_SIZE) & (np.abs(hit_points[:, 1]) < GROUND_HALF_SIZE)
    hit &= ground
    checker = (np.floor(hit_points[:, 0] * 2) + np.floor(hit_points[:, 1] * 2)) % 2
    ground_colour = np.where(checker[:, None] > 0, [0.82, 0.8, 0.76], [0.45, 0.42, 0.4])
    nearest = np.where(hit, t_ground, nearest)
    colour = np.where(hit[:, None], ground_colour, colour)
    normal = np.where(hit[:, None], [0.0, 0.0, 1.0], normal)

    for sphere in spheres:
        offset = origin - np.asarray(sphere.centre)
        b = dirs @ offset
        disc = b * b - (offset @ offset - sphere.radius**2)
        t_sphere = -b - np.sqrt(np.maximum(disc, 0.0))
        hit = (disc > 0) & (t_sphere > 1e-6) & (t_sphere < nearest)
        points = origin + t_sphere[:, None] * dirs
        nearest = np.where(hit, t_sphere, nearest)
        colour = np.where(hit[:, None], np.asarray(sphere.colour), colour)
        normal = np.where(hit[:, None], (points - np.asarray(sphere.centre)) / sphere.radius, normal)

    lit = np.isfinite(nearest)
    shade = 0.35 + 0.65 * np.clip(normal @ LIGHT_DIRECTION, 0.0, 1.0)
    colour = np.where(lit[:, None], colour * shade[:, None], colour)
    forward = -c2w_local[:3, 2] / np.linalg.norm(c2w_local[:3, 2])
    z_depth = np.where(lit, np.where(lit, nearest, 0.0) * (dirs @ forward), 0.0)
    return (
        np.clip(colour, 0, 1).reshape(height, width, 3).astype(np.float32),
        lit.reshape(height, width).astype(np.float32),
        z_depth.reshape(height, width).astype(np.float32),
    )


def _camera_entry(pose_world: np.ndarray, width: int, height: int, focal: float) -> dict:
    return {
        "fl_x": focal,
        "fl_y": focal,
        "cx": width / 2,
        "cy": height / 2,
        "w": width,
        "h": height,
        "transform_matrix": pose_world.tolist(),
    }


def _write_view(
    out_dir: Path,
    name: str,
    pose: np.ndarray,
    size: int,
    focal: float,
    spheres: tuple[Sphere, ...],
    frame: SceneFrame,
    capture_entry: dict | None,
) -> None:
    """Write one view's image; with `capture_entry`, as RGBA plus a depth map the entry then names."""
    colour, alpha, depth = render_layers(pose, size, size, focal, spheres, ground=capture_entry is None)
    if capture_entry is None:
        Image.fromarray((colour * 255).round().astype(np.uint8)).save(out_dir / name)
        return
    rgba = np.concatenate([colour, alpha[..., None]], axis=-1)
    Image.fromarray((rgba * 255).round().astype(np.uint8), "RGBA").save(out_dir / name)
    depth_name = (
        str(Path(name).with_suffix(".npy"))
        .replace("images/", "depths/")
        .replace("heldout/", "heldout_depths/")
    )
    (out_dir / depth_name).parent.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / depth_name, (depth * frame.scale).astype(np.float32), allow_pickle=False)
    capture_entry["depth_file_path"] = depth_name


def generate_scene(
    out_dir: Path,
    *,
    num_views: int = 16,
    size: int = 48,
    num_heldout: int = 4,
    frame: SceneFrame | None = None,
    spheres: tuple[Sphere, ...] = DEFAULT_SPHERES,
    as_blender_capture: bool = False,
) -> ProceduralScene:
    """Write a nerfstudio dataset (transforms.json + images/) and held-out views (heldout/).

    `as_blender_capture`: no ground, RGBA images (empty sky) and float depth maps (`depths/`, world
    units), as the Blender extension captures objects on a world background.
    """
    frame = frame or SceneFrame()
    focal = size / (2 * math.tan(math.radians(50.0) / 2))  # 50° field of view
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "heldout").mkdir(parents=True, exist_ok=True)

    train_poses = ring_poses(num_views // 2, 3.4, 35.0) + ring_poses(
        num_views - num_views // 2, 3.0, 55.0, 22.5
    )
    frames = []
    for index, pose in enumerate(train_poses):
        name = f"images/{index:04d}.png"
        entry = {"file_path": name, **_camera_entry(frame.pose_to_world(pose), size, size, focal)}
        _write_view(out_dir, name, pose, size, focal, spheres, frame, entry if as_blender_capture else None)
        frames.append(entry)
    (out_dir / "transforms.json").write_text(
        json.dumps({"camera_model": "OPENCV", "frames": frames}, indent=1)
    )

    heldout = []
    for index, pose in enumerate(ring_poses(num_heldout, 3.2, 45.0, 11.0)):
        name = f"heldout/{index:04d}.png"
        entry = {"file_path": name, **_camera_entry(frame.pose_to_world(pose), size, size, focal)}
        _write_view(out_dir, name, pose, size, focal, spheres, frame, entry if as_blender_capture else None)
        heldout.append(entry)
    (out_dir / "heldout.json").write_text(json.dumps({"frames": heldout}, indent=1))
    return ProceduralScene(out_dir, frame, spheres, heldout)
