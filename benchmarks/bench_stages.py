"""Stage timings of a preset tier (the CPU one by default): where an edit job spends its time.

    .venv/bin/python benchmarks/bench_stages.py [--tier in2n-cpu] [--out benchmarks/results/stages.json]

Times, on the benchmark's Blender "object" scene (64 px, 12 views): a NeRF step of the base phase, a step of
the edit phase (one in 10 calls the editor), the tiny random InstructPix2Pix editor alone at 64² and 128²
(the real code path; its edits are noise), a preview render at 256², and the point-cloud and mesh exports
at the server's default sizes. Figures are medians of a few repeats after a warm-up; nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.fusion.report import machine_description  # noqa: E402
from benchmarks.fusion.scenes import RenderSettings, render_scene_pair  # noqa: E402

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
BPE_GZ = REPO_ROOT / "tests" / "fixtures" / "data" / "bpe_simple_vocab_16e6.txt.gz"


def _median_seconds(action: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        action()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _tiny_editor(scratch: Path):
    """The tiny random IP2P pipeline (as the tests build it), loaded through the engine's normal path."""
    import torch

    from in2n_server.editor.ip2p import EditSettings, load_ip2p_editor
    from in2n_server.editor.tiny import build_tiny_ip2p

    model_dir = build_tiny_ip2p(scratch / "tiny-ip2p", BPE_GZ)
    return load_ip2p_editor(str(model_dir), torch.device("cpu"), EditSettings())


def time_editor(editor, size: int, repeats: int = 5) -> float:
    import torch

    generator = torch.Generator().manual_seed(size)
    render = torch.rand(size, size, 3, generator=generator)
    original = torch.rand(size, size, 3, generator=generator)
    return _median_seconds(lambda: editor.edit(render, original, "make it red", view_index=0), repeats)


def run_stages(out_path: Path, *, tier: str = "in2n-cpu", log=print) -> dict[str, Any]:
    """Measure every stage, write `out_path` (JSON) and print a table."""
    import torch

    from in2n_server.engine.session import EditSession
    from in2n_server.engine.types import EditParams

    figures: dict[str, Any] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="in2n-stages-") as scratch_name:
        scratch = Path(scratch_name)
        pair = render_scene_pair("object", RESULTS_DIR / "cache", RenderSettings(size=64))
        editor = _tiny_editor(scratch)
        figures["editor_64_s"] = time_editor(editor, 64)
        figures["editor_128_s"] = time_editor(editor, 128)

        base_steps, measured = 40, 30
        params = EditParams(
            instruction="make it red", tier=tier, base_iterations=base_steps, edit_iterations=measured + 5
        )
        session = EditSession.create(pair.train_dir, scratch / "session", params, editor=editor, device="cpu")
        warmup = base_steps - measured
        for _ in range(warmup):
            session.step()
        started = time.perf_counter()
        for _ in range(measured):
            session.step()
        figures["nerf_step_base_s"] = (time.perf_counter() - started) / measured
        started = time.perf_counter()
        for _ in range(measured):
            session.step()
        figures["nerf_step_edit_phase_s"] = (time.perf_counter() - started) / measured
        figures["edits_in_edit_phase"] = session.progress.edits_done

        camera = session.training_cameras[0].resized(256, 256)
        figures["preview_256_s"] = _median_seconds(lambda: session.render(camera), repeats=3)

        try:
            from in2n_server.export.run import export_geometry

            figures["export_point_cloud_200k_s"] = _median_seconds(
                lambda: export_geometry(session, "point_cloud", "ply", scratch / "cloud.ply", 200_000, 128),
                repeats=2,
                warmup=0,
            )
            figures["export_mesh_128_s"] = _median_seconds(
                lambda: export_geometry(session, "mesh", "ply", scratch / "mesh.ply", 200_000, 128),
                repeats=2,
                warmup=0,
            )
        except Exception as error:  # noqa: BLE001 - a missing or failing export is reported, not fatal
            notes.append(f"export not timed: {type(error).__name__}: {error}")

    result = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "torch_threads": torch.get_num_threads(),
        "tier": tier,
        "scene": "object (64 px, 12 views)",
        "figures": figures,
        "notes": notes,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1))
    log(markdown_table(result))
    for note in notes:
        log(f"note: {note}")
    log(f"wrote {out_path}")
    return result


LABELS = {
    "nerf_step_base_s": "NeRF step, base phase (s)",
    "nerf_step_edit_phase_s": "NeRF step, edit phase incl. 1 tiny-editor edit per 10 steps (s, mean)",
    "editor_64_s": "tiny editor, one edit at 64² (s)",
    "editor_128_s": "tiny editor, one edit at 128² (s)",
    "preview_256_s": "preview render at 256² (s)",
    "export_point_cloud_200k_s": "point-cloud export, 200k points (s)",
    "export_mesh_128_s": "mesh export, TSDF 128 voxels (s)",
}


def markdown_table(result: dict[str, Any]) -> str:
    lines = [f"| stage ({result['tier']}) | seconds |", "|---|---|"]
    for key, label in LABELS.items():
        value = result["figures"].get(key)
        lines.append(f"| {label} | {'not measured' if value is None else f'{value:.3f}'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="in2n-cpu", help="the engine's preset tier")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "stages.json", help="JSON file to write")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    run_stages(args.out, tier=args.tier)


if __name__ == "__main__":
    main()
