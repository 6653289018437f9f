"""Export time of 3D Gaussian splats next to the point cloud's, on one trained session.

    .venv/bin/python benchmarks/bench_splats_export.py [--points 200000] [--sh-degrees 0 3]
        [--refine-steps 0 300] [--no-point-cloud]
    .venv/bin/python benchmarks/bench_splats_export.py --workdir WORKDIR   # a session trained before

Without `--workdir` it trains a small session first: the procedural scene captured as Blender captures
it (RGBA, exact depth; 16 views, 48 px), `--base-steps` NeRF steps on the CPU tier. Each export is timed
once, end to end as the server runs it (`export_geometry`: render the training views, keep the surface,
build the geometry, write the file). Both kinds render the same views, so the difference between them is
what the splats add: normals, scales, rotations and, above degree 0, the spherical-harmonics fit; with
refinement steps, the renders between the training cameras and the optimisation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def trained_session(scratch: Path, base_steps: int):
    """A base-only session on the procedural Blender-like capture (no editor is ever loaded)."""
    from in2n_server.engine.session import EditSession
    from in2n_server.engine.types import EditParams
    from in2n_server.samples.procedural import generate_scene

    scene = generate_scene(scratch / "scene", num_views=16, size=48, num_heldout=0, as_blender_capture=True)
    params = EditParams(
        instruction="unused",
        tier="in2n-cpu",
        base_iterations=base_steps,
        edit_iterations=0,
        optimize_cameras=False,
    )
    session = EditSession.create(scene.root, scratch / "session", params, device="cpu")
    started = time.perf_counter()
    session.run(max_steps=base_steps)
    print(f"trained {base_steps} base steps in {time.perf_counter() - started:.1f} s")
    return session


def timed_export(
    session, kind: str, path: Path, points: int, sh_degree: int = 0, refine_steps: int = 0
) -> tuple[float, int]:
    """Seconds of one `export_geometry` call, and the size of the file it wrote."""
    from in2n_server.export.run import export_geometry

    started = time.perf_counter()
    export_geometry(session, kind, "ply", path, points, 128, sh_degree=sh_degree, refine_steps=refine_steps)
    return time.perf_counter() - started, path.stat().st_size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200_000, help="points / splats per export")
    parser.add_argument("--sh-degrees", type=int, nargs="+", default=[0, 3], help="splat degrees to time")
    parser.add_argument(
        "--refine-steps",
        type=int,
        nargs="+",
        default=[0],
        help="splat refinement steps to time (each degree)",
    )
    parser.add_argument(
        "--point-cloud", action=argparse.BooleanOptionalAction, default=True, help="time the point cloud too"
    )
    parser.add_argument("--base-steps", type=int, default=300, help="NeRF steps of the session trained first")
    parser.add_argument("--workdir", type=Path, help="time the exports of this session instead")
    args = parser.parse_args(argv)

    import torch

    from in2n_server.engine.session import EditSession

    with tempfile.TemporaryDirectory(prefix="in2n-splats-bench-") as scratch_name:
        scratch = Path(scratch_name)
        if args.workdir:
            session = EditSession.open_for_export(args.workdir, device="cpu")
        else:
            session = trained_session(scratch, args.base_steps)
        rows = [("point_cloud", "point cloud", 0, 0)] if args.point_cloud else []
        rows += [
            ("splats", f"splats, sh_degree {degree}, {steps} refinement steps", degree, steps)
            for degree in args.sh_degrees
            for steps in args.refine_steps
        ]
        print(f"{args.points} points per export, torch threads {torch.get_num_threads()}")
        print("| export | seconds | file MB |\n|---|---|---|")
        for kind, label, degree, steps in rows:
            path = scratch / f"{kind}-{degree}-{steps}.ply"
            seconds, size = timed_export(session, kind, path, args.points, degree, steps)
            print(f"| {label} | {seconds:.1f} | {size / 1e6:.1f} |", flush=True)


if __name__ == "__main__":
    main()
