"""`in2n-edit --demo`: the whole edit, offline, on a CPU, in a few minutes.

A procedural scene is generated, reconstructed, edited with the bundled demo editor through the normal
InstructPix2Pix path, exported as a point cloud and a mesh, and shown as before/after images from
held-out cameras (views no edit ever saw) plus a turntable GIF of the edited scene.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..engine.session import EditSession
from ..engine.types import CameraSpec, EditParams
from ..engine.workdir import has_session
from ..export.run import export_geometry
from .procedural import generate_scene, look_at


@dataclass(frozen=True)
class DemoSettings:
    """Sized so the whole demo takes about ten minutes on two CPU cores."""

    instruction: str = "make it blue"
    views: int = 24
    size: int = 64
    base_iterations: int = 800
    edit_iterations: int = 800
    edit_rate: int | None = None
    """None (and the same for guidance and upper_bound): the demo editor's recommended value."""
    guidance_scale: float | None = None
    image_guidance_scale: float | None = None
    upper_bound: float | None = None
    diffusion_steps: int = 20
    seed: int = 0
    num_points: int = 50_000
    mesh_resolution: int = 64
    """TSDF voxels along the longest side: 64 keeps the export to about a minute on a CPU."""
    turntable_size: int = 96


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _labelled_row(images: list[np.ndarray], label: str, scale: int = 3) -> Image.Image:
    row = Image.fromarray(np.concatenate([_to_uint8(im) for im in images], axis=1))
    row = row.resize((row.width * scale, row.height * scale), Image.Resampling.NEAREST)
    canvas = Image.new("RGB", (row.width + 110, row.height), "white")
    canvas.paste(row, (110, 0))
    ImageDraw.Draw(canvas).text((6, row.height // 2 - 6), label, fill="black")
    return canvas


def side_by_side(rows: list[tuple[str, list[np.ndarray]]], path: Path) -> Path:
    """One labelled row per stage (photo, reconstruction, edit) of the same held-out views."""
    images = [_labelled_row(views, label) for label, views in rows]
    sheet = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)), "white")
    top = 0
    for image in images:
        sheet.paste(image, (0, top))
        top += image.height
    sheet.save(path)
    return path


def turntable(session: EditSession, scene, path: Path, frames: int = 24, size: int = 96) -> Path:
    """A GIF of the edited scene from a camera circling the objects."""
    focal = size / (2 * math.tan(math.radians(50.0) / 2))
    target = np.array([0.0, 0.0, 0.35])
    images = []
    for i in range(frames):
        azimuth = 2 * math.pi * i / frames
        position = target + 3.2 * np.array([math.cos(azimuth) * 0.7, math.sin(azimuth) * 0.7, 0.71])
        pose = scene.frame.pose_to_world(look_at(position, target, np.array([0.0, 0.0, 1.0])))
        camera = CameraSpec(focal, focal, size / 2, size / 2, size, size, pose)
        images.append(Image.fromarray(_to_uint8(session.render(camera).rgb)))
    images[0].save(path, save_all=True, append_images=images[1:], duration=80, loop=0)
    return path


def run_demo(
    out_dir: Path, *, device: str = "auto", settings: DemoSettings | None = None, model: str = "demo"
) -> dict:
    """Run the demo into `out_dir`; returns a summary (also written as summary.json)."""
    s = settings or DemoSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"[1/5] generating a sample scene ({s.views} views, {s.size}x{s.size})")
    scene = generate_scene(out_dir / "scene", num_views=s.views, size=s.size, num_heldout=4)
    params = EditParams(
        instruction=s.instruction,
        tier="in2n-cpu",
        model=model,
        guidance_scale=s.guidance_scale,
        image_guidance_scale=s.image_guidance_scale,
        upper_bound=s.upper_bound,
        diffusion_steps=s.diffusion_steps,
        base_iterations=s.base_iterations,
        edit_iterations=s.edit_iterations,
        edit_rate=s.edit_rate,
        seed=s.seed,
        optimize_cameras=False,  # the sample's cameras are exact
    )
    workdir = out_dir / "session"
    if has_session(workdir):
        session = EditSession.resume(workdir, device=device)
    else:
        session = EditSession.create(scene.root, workdir, params, device=device)
    heldout = [CameraSpec.from_wire(c) for c in scene.heldout_cameras]
    photos = [
        np.asarray(Image.open(scene.root / c["file_path"]), dtype=np.float32) / 255
        for c in scene.heldout_cameras
    ]

    print(f"[2/5] reconstructing the scene ({s.base_iterations} NeRF steps)")
    session.run(max_steps=max(0, s.base_iterations - session.progress.step), progress_bar=True)
    reconstructed = [session.render(camera).rgb for camera in heldout]
    p = session.params
    print(
        f'[3/5] editing: "{s.instruction}" ({s.edit_iterations} steps, one view edited every {p.edit_rate}, '
        f"guidance {p.guidance_scale} / image {p.image_guidance_scale}, start noise up to {p.upper_bound})"
    )
    session.run(progress_bar=True)
    edited = [session.render(camera).rgb for camera in heldout]

    print("[4/5] exporting the point cloud and the mesh (scene frame)")
    cloud = export_geometry(
        session, "point_cloud", "ply", out_dir / "edited_points.ply", s.num_points, s.mesh_resolution
    )
    mesh = export_geometry(
        session, "mesh", "ply", out_dir / "edited_mesh.ply", s.num_points, s.mesh_resolution
    )

    print("[5/5] writing before/after images")
    comparison = side_by_side(
        [("photo", photos), ("reconstruction", reconstructed), (f"'{s.instruction}'", edited)],
        out_dir / "before_after.png",
    )
    gif = turntable(session, scene, out_dir / "turntable.gif", size=s.turntable_size)
    summary = {
        "instruction": s.instruction,
        "seconds": round(time.perf_counter() - started, 1),
        "edits": session.progress.edits_done,
        "outputs": {p.name: str(p) for p in (comparison, gif, cloud, mesh)},
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"done in {summary['seconds']} s: {out_dir}")
    return summary
