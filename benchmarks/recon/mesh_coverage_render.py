"""The room's textured mesh (GLB) with and without the coverage views, imported by the extension and
rendered by Blender 5.3 at the held-out cameras, next to Blender's render of the scene.

Uses the splats benchmark's trained `room` reconstruction (run `benchmarks.splats.run` first). Prints the
PSNR of each held-out view and writes benchmarks/results/mesh_coverage_room_blender.png (rows: held-out
views; columns: Blender's render of the scene, the mesh without the coverage views, with them).

    .venv/bin/python -m benchmarks.recon.mesh_coverage_render
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

from in2n_server.engine.session import EditSession
from in2n_server.export import mesh
from in2n_server.export.run import export_geometry

from ..splats.run import REPO, blender_renders, over_white
from .run import CACHE, RESULTS

SCENE = "room"
SAMPLES = 64
BLENDER = REPO / ".venv-blender-5.3" / "bin" / "python"


def main() -> None:
    data = next(CACHE.glob(f"{SCENE}-blender-*"))
    session = EditSession.open_for_export(CACHE / "splats" / SCENE / "job", device="cpu")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        files = {"mesh.with": export_geometry(session, "mesh", "glb", out / "with.glb")}
        with mock.patch.object(mesh, "coverage_views", lambda *_: []):
            files["mesh.without"] = export_geometry(session, "mesh", "glb", out / "without.glb")
        cameras = data / "heldout" / "transforms.json"
        blender_renders(BLENDER, cameras, files, out / "renders", SAMPLES)
        frames = json.loads(cameras.read_text())["frames"]
        rows = []
        for index, frame in enumerate(frames):
            reference = over_white(data / "heldout" / frame["file_path"])
            renders = [
                over_white(out / "renders" / k / f"{index:04d}.png") for k in ("mesh.without", "mesh.with")
            ]
            psnr = [float(-10 * np.log10(np.mean((r - reference) ** 2))) for r in renders]
            print(f"view {index}: PSNR without {psnr[0]:.2f} dB, with {psnr[1]:.2f} dB", flush=True)
            rows.append(np.concatenate([reference, *renders], axis=1))
    image = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255).astype(np.uint8)
    path = RESULTS / "mesh_coverage_room_blender.png"
    Image.fromarray(image).resize((image.shape[1] * 3, image.shape[0] * 3), Image.NEAREST).save(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
