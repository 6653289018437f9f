"""2D: do the views of one edit call agree more with joint attention? The bundled demo editor, "make it blue".

    .venv/bin/python -m benchmarks.joint_attention.views2d [--scenes object tabletop] [--calls 6]
        [--per-call 5] [--starts idu full] [--seed 0]

Blender captures with exact depth (benchmarks/recon's, 24 training views at 64 px, RGBA over white). Each
"call" is `--per-call` training views drawn at random, as the IDU's shuffled schedule hands them over; the
same views are edited four ways, every view conditioned on its photo and starting from it (the first edits
of an IDU, where the render is still the photo):

- `single`: one view per editor call, one after another;
- `batched`: one batched call, joint attention off (today's `edit_count: 5`);
- `anchor`, `all`: one batched call with joint attention (every self-attention layer);
- `all-up`: "all" in the decoder's self-attentions only (`joint_layers="up"`).

The batched modes use one editor seed per call, so they draw the same latents, start noises and noise: they
differ only by attention, and their differences from `batched` are paired per call. Start noise: `idu`
draws t ~ U[0.02, 0.98] per view (the IDU's); `full` starts every view at 0.98 (an edit from almost pure
noise, where views are freest to disagree, all at one noise level).
Writes benchmarks/results/joint_attention_2d.json and prints the Markdown table of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from in2n_protocol import edit_params
from in2n_server.editor.ip2p import EditSettings, InstructPix2PixEditor
from in2n_server.editor.loading import load_ip2p_pipeline, recommended_settings

from ..recon.run import capture_scene, load_views
from .common import (
    BLUE_HUE,
    INSTRUCTION,
    RESULTS,
    Agreement,
    agreement,
    edge_correlation,
    hue_share,
    mean_and_error,
    pooled,
)

MODES = ("single", "batched", "anchor", "all", "all-up")
STARTS = {"idu": (0.02, 0.98), "full": (0.98, 0.98)}


def settings_for(start: str, mode: str) -> EditSettings:
    """The demo editor's recommended settings, with this start-noise range and joint mode."""
    low, high = STARTS[start]
    joint, _, layers = mode.partition("-")
    values = {"lower_bound": low, "upper_bound": high}
    values["joint_attention"] = joint if joint in ("anchor", "all") else "off"
    values |= edit_params.resolve_model_defaults(values, recommended_settings("demo"))
    settings = EditSettings.from_params(values)
    return dataclasses.replace(settings, joint_layers=layers or "all")


def edit_call(pipe: Any, views: list[np.ndarray], start: str, mode: str, seed: int) -> list[np.ndarray]:
    """The views edited as `mode` says (each conditioned on itself), [H, W, 3] in [0, 1]."""
    editor = InstructPix2PixEditor(pipe, settings_for(start, mode), seed=seed)
    tensors = [torch.from_numpy(view) for view in views]
    if mode == "single":
        edited = [editor.edit(view, view, INSTRUCTION, view_index=i) for i, view in enumerate(tensors)]
    else:
        edited = editor.edit_batch(tensors, tensors, INSTRUCTION, list(range(len(tensors))))
    return [image.numpy() for image in edited]


def call_views(count: int, per_call: int, calls: int, seed: int) -> list[list[int]]:
    """Random view sets, as consecutive slices of shuffled permutations (the IDU's schedule)."""
    rng = np.random.default_rng(seed)
    order: list[int] = []
    while len(order) < calls * per_call:
        order += rng.permutation(count).tolist()
    return [order[c * per_call : (c + 1) * per_call] for c in range(calls)]


def measure_scene(pipe: Any, scene: str, args: argparse.Namespace) -> dict[str, Any]:
    data = capture_scene(scene, "blender", args.size, args.views, args.heldout)
    views = load_views(data / "train")
    sets = call_views(len(views), args.per_call, args.calls, args.seed)
    floor = pooled([_agreement(views, indices, [views[i][1] for i in indices]) for indices in sets])
    result: dict[str, Any] = {"floor": _plain(floor), "starts": {}}
    for start in args.starts:
        result["starts"][start] = {}
        for mode in args.modes:
            started = time.perf_counter()
            per_call = []
            for call, indices in enumerate(sets):
                photos = [views[i][1] for i in indices]
                edits = edit_call(pipe, photos, start, mode, seed=args.seed * 1000 + call)
                per_call.append(_call_figures(views, indices, edits))
            summary = _summary(per_call, time.perf_counter() - started)
            result["starts"][start][mode] = summary
            print(f"{scene:>9} {start:>4} {mode:>7}: {_line(summary)}", flush=True)
    return result


def _agreement(views: list, indices: list[int], images: list[np.ndarray]) -> Agreement:
    return agreement(
        images,
        [views[i][1] for i in indices],
        [views[i][2] for i in indices],
        [views[i][0] for i in indices],
    )


def _call_figures(views: list, indices: list[int], edits: list[np.ndarray]) -> dict[str, Any]:
    photos = [views[i][1] for i in indices]
    surfaces = [views[i][2] > 0 for i in indices]
    return {
        "agreement": _agreement(views, indices, edits),
        "blue_share": float(np.mean([hue_share(e, BLUE_HUE) for e in edits])),
        "surface_blue_share": float(
            np.mean([hue_share(e[s], BLUE_HUE) for e, s in zip(edits, surfaces, strict=True)])
        ),
        "edge_correlation": float(
            np.mean([edge_correlation(e, p) for e, p in zip(edits, photos, strict=True)])
        ),
    }


def _plain(a: Agreement) -> dict[str, float]:
    return {"pixels": a.pixels, "disagreement": a.disagreement, "change": a.change, "relative": a.relative}


def _summary(per_call: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Pooled figures and, per call, mean ± standard error of the disagreement."""
    agreements = [c["agreement"] for c in per_call]
    calls = {
        "disagreement": [a.disagreement for a in agreements],
        "relative": [a.relative for a in agreements],
        "blue_share": [c["blue_share"] for c in per_call],
        "surface_blue_share": [c["surface_blue_share"] for c in per_call],
        "edge_correlation": [c["edge_correlation"] for c in per_call],
    }
    return {
        **_plain(pooled(agreements)),
        "disagreement_per_call": mean_and_error(calls["disagreement"]),
        "relative_per_call": mean_and_error(calls["relative"]),
        "blue_share": mean_and_error(calls["blue_share"]),
        "surface_blue_share": mean_and_error(calls["surface_blue_share"]),
        "edge_correlation": mean_and_error(calls["edge_correlation"]),
        "per_call": calls,
        "seconds": seconds,
    }


def paired_change(mode: dict[str, Any], reference: dict[str, Any], key: str) -> tuple[float, float]:
    """Mean ± s.e. over calls of (mode / reference - 1) of one per-call figure: same views, same draws."""
    ratios = [m / r - 1.0 for m, r in zip(mode["per_call"][key], reference["per_call"][key], strict=True)]
    return mean_and_error(ratios)


def _line(s: dict[str, Any]) -> str:
    return (
        f"disagreement {s['disagreement']:.4f} (relative {s['relative']:.3f}) on {s['pixels']} px, "
        f"blue share {s['blue_share'][0]:.3f}, edge corr {s['edge_correlation'][0]:.3f}, {s['seconds']:.0f} s"
    )


def table(results: dict[str, Any]) -> list[str]:
    """docs/benchmarks.md's table: one row per scene, start noise and mode, against the unedited floor.

    Paired columns: per call, the mode's figure over `batched`'s (same views, same draws), mean ± s.e."""
    rows = [
        "| scene | start noise | mode | disagreement ×100 (± s.e. over calls) | vs batched (paired) "
        "| per unit of edit change | vs batched (paired) | blue share, objects' pixels (whole image) "
        "| vs batched (paired) | edge correlation | CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scene, result in results["scenes"].items():
        floor = result["floor"]  # the unedited photos' own disagreement
        rows.append(
            f"| {scene} | — | photos (floor) | {100 * floor['disagreement']:.2f} "
            f"| — | — | — | — | — | — | — |"
        )
        for start, modes in result["starts"].items():
            reference = modes.get("batched")
            for mode, s in modes.items():
                d, de = s["disagreement_per_call"]
                r, re = s["relative_per_call"]
                rows.append(
                    f"| {scene} | {start} | {mode} | {100 * d:.2f} ± {100 * de:.2f} "
                    f"| {_paired(s, reference, 'disagreement')} | {r:.3f} ± {re:.3f} "
                    f"| {_paired(s, reference, 'relative')} "
                    f"| {s['surface_blue_share'][0]:.3f} ({s['blue_share'][0]:.3f}) "
                    f"| {_paired(s, reference, 'surface_blue_share')} | {s['edge_correlation'][0]:.3f} "
                    f"| {s['seconds']:.0f} |"
                )
    return rows


def _paired(mode: dict[str, Any], reference: dict[str, Any] | None, key: str) -> str:
    if reference is None or mode is reference:
        return "—"
    change, error = paired_change(mode, reference, key)
    return f"{100 * change:+.0f} ± {100 * error:.0f} %"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="+", default=["object", "tabletop"], help="scenes to run")
    parser.add_argument(
        "--starts",
        nargs="+",
        choices=tuple(STARTS),
        default=list(STARTS),
        help="start noise levels of the edits",
    )
    parser.add_argument(
        "--modes", nargs="+", choices=MODES, default=list(MODES), help="joint attention modes to compare"
    )
    parser.add_argument("--calls", type=int, default=6, help="edit calls per mode")
    parser.add_argument("--per-call", type=int, default=5, help="views per batched call")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--views", type=int, default=24, help="training cameras per scene")
    parser.add_argument("--heldout", type=int, default=6, help="held-out cameras per scene (measuring only)")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--table", action="store_true", help="only print the table of the results file")
    args = parser.parse_args(argv)
    path = RESULTS / "joint_attention_2d.json"
    if args.table:
        print("\n".join(table(json.loads(path.read_text()))))
        return
    torch.set_num_threads(args.threads)
    pipe = load_ip2p_pipeline("demo", torch.device("cpu"), torch.float32)
    for scene in args.scenes:
        results = save_scene(path, scene, measure_scene(pipe, scene, args), vars(args))
    print("\n".join(table(results)))


def save_scene(path: Path, scene: str, result: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Merge one scene's figures into the results file (written after every scene, so a run that stops
    keeps what it measured; run scenes separately with --scenes)."""
    results = json.loads(path.read_text()) if path.is_file() else {"scenes": {}}
    results["scenes"][scene] = {**result, "settings": settings}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
