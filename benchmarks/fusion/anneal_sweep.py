"""Chooses the annealed schedule's shape and end point: rolling against annealed variants on one scene.

    .venv/bin/python -m benchmarks.fusion.anneal_sweep --scene object     # about 8 minutes here

One base reconstruction, then rolling and the annealed schedule at each (shape, end point), all with the
fusion benchmark's defaults; prints final held-out PSNR and UNet passes, writes
benchmarks/results/anneal_sweep.json. The winner becomes `schedule.ANNEAL_SHAPE` and `EditParams.anneal_to`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

from in2n_server.engine import schedule as schedule_rules

from .reference_editor import ReferenceEditorSettings
from .runner import HeldOut, run_schedule, train_base
from .scenes import RenderSettings, render_scene_pair
from .schedules import FusionConfig

RESULTS = Path(__file__).resolve().parents[1] / "results"
END_POINTS = (0.2, 0.35, 0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", default="object", help="which scene")
    parser.add_argument(
        "--shapes", default="linear,cosine", help="comma-separated anneal shapes (linear, cosine)"
    )
    parser.add_argument(
        "--ends",
        default=",".join(str(e) for e in END_POINTS),
        help="comma-separated anneal end points (highest start noise at the end)",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "anneal_sweep.json", help="where the results are written"
    )
    args = parser.parse_args(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    ends = [float(e) for e in args.ends.split(",") if e]

    config, editor = FusionConfig(), ReferenceEditorSettings()
    pair = render_scene_pair(args.scene, RESULTS / "cache", RenderSettings())
    held_out = HeldOut(pair)
    rows = []
    with tempfile.TemporaryDirectory(prefix="in2n-anneal-") as scratch:
        work = Path(scratch)
        train_base(pair, work / "base", config, held_out, print)
        result = run_schedule(
            pair, "rolling", work / "base", work / "rolling", config, editor, held_out, print
        )
        rows.append({"schedule": "rolling", "shape": None, "end": None, **_summary(result)})
        for shape in shapes:
            schedule_rules.ANNEAL_SHAPE = shape
            for end in ends:
                run_config = dataclasses.replace(config, anneal_to=end)
                name = f"{shape}-{end}"
                result = run_schedule(
                    pair, "annealed", work / "base", work / name, run_config, editor, held_out, print
                )
                rows.append({"schedule": "annealed", "shape": shape, "end": end, **_summary(result)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"scene": args.scene, "config": dataclasses.asdict(config), "rows": rows}))
    print("\n| schedule | shape | end point | final PSNR | mean PSNR over the run | UNet passes |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['schedule']} | {row['shape'] or '—'} | {row['end'] or '—'} | {row['final_psnr']:.2f} "
            f"| {row['mean_psnr']:.2f} | {row['unet_passes']} |"
        )


def _summary(result: dict) -> dict:
    psnrs = [point["psnr"] for point in result["curve"]]
    return {
        "final_psnr": result["final"]["psnr"],
        "mean_psnr": sum(psnrs) / len(psnrs),
        "unet_passes": result["final"]["unet_passes"],
        "curve": [(point["step"], point["psnr"]) for point in result["curve"]],
    }


if __name__ == "__main__":
    main()
