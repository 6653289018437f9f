"""The procedural sample scene (no alpha, no depth: how photos arrive) through the base reconstruction.

Guards the promise that scenes without what Blender knows train exactly as well as before. Prints the
held-out PSNR of the base NeRF (tier in2n-cpu) against the exact renders at 4 cameras nobody trained on.

    .venv/bin/python -m benchmarks.recon.procedural [--views 24 --size 64 --steps 800]

To compare with an older commit: `git worktree add /tmp/old REV`, put a folder holding a link
`in2n_server -> /tmp/old/server` first on PYTHONPATH, and run this file from the current tree.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import in2n_server
from in2n_server.engine.session import EditSession
from in2n_server.engine.types import CameraSpec, EditParams
from in2n_server.samples.procedural import generate_scene


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=24, help="training cameras per scene")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--steps", type=int, default=800, help="NeRF training steps")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        scene = generate_scene(Path(root) / "scene", num_views=args.views, size=args.size, num_heldout=4)
        params = EditParams(
            instruction="(reconstruction only)",
            tier="in2n-cpu",
            base_iterations=args.steps,
            edit_iterations=0,
        )
        session = EditSession.create(scene.root, Path(root) / "work", params, device="cpu")
        session.run(checkpoint_every=10**9)
        scores = []
        for frame in scene.heldout_cameras:
            reference = np.asarray(Image.open(scene.root / frame["file_path"]), np.float32) / 255.0
            rendered = session.render(CameraSpec.from_wire(frame)).rgb
            scores.append(-10 * np.log10(np.mean((rendered - reference) ** 2)))
    views = ", ".join(f"{s:.2f}" for s in scores)
    print(f"{in2n_server.__file__}: procedural held-out PSNR {np.mean(scores):.2f} dB ({views})")


if __name__ == "__main__":
    main()
