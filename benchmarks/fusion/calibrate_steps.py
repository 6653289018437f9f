"""Measures what fewer DDIM steps cost an edit, for the reference editor's step-error table.

    .venv/bin/python -m benchmarks.fusion.calibrate_steps          # about 3 minutes on 2 CPU cores

With the bundled demo editor (the one real diffusion model on this machine), each 64² procedural image is
edited from a fixed start noise t with n DDIM steps and with 100 steps from the *same* latent noise; the RMS
difference (images in [0, 1]) is the discretisation error of n steps. The 100-step edit stands in for the
exact ODE solution. Prints the table in the form `reference_editor.STEP_ERROR` takes and writes
benchmarks/results/step_error.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from in2n_server.editor.ip2p import EditSettings, load_ip2p_editor

RESULTS = Path(__file__).resolve().parents[1] / "results" / "step_error.json"
STARTS = (0.2, 0.4, 0.7, 0.98)
STEPS = (1, 2, 4, 8, 20)
REFERENCE_STEPS = 100
INSTRUCTION = "make it blue"


def edit_at(editor, image: torch.Tensor, start: float, steps: int, seed: int) -> torch.Tensor:  # noqa: ANN001
    """One edit of `image` from exactly `start` with `steps` DDIM steps, noise drawn from `seed`."""
    editor.settings = EditSettings(
        guidance_scale=editor.settings.guidance_scale,
        image_guidance_scale=editor.settings.image_guidance_scale,
        diffusion_steps=steps,
        lower_bound=start,
        upper_bound=start,
    )
    editor.generator.manual_seed(seed)
    return editor.edit(image, image, INSTRUCTION)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="images per scene")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the results are written")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from tools.demo_editor.procedural import procedural_images

    images = procedural_images(args.images, 64, seed=2024)
    editor = load_ip2p_editor(
        "demo", torch.device("cpu"), EditSettings(guidance_scale=7.0, image_guidance_scale=2.5)
    )
    rows = []
    for start in STARTS:
        for index, array in enumerate(images):
            image = torch.from_numpy(np.ascontiguousarray(array))
            reference = edit_at(editor, image, start, REFERENCE_STEPS, index)
            for steps in STEPS:
                edited = edit_at(editor, image, start, steps, index)
                rms = float((edited - reference).pow(2).mean().sqrt())
                rows.append({"start": start, "steps": steps, "image": index, "rms": rms})
    table = []
    for start in STARTS:
        for steps in STEPS:
            values = [r["rms"] for r in rows if r["start"] == start and r["steps"] == steps]
            stride = int(1000 * start) // steps
            table.append((start, stride, round(float(np.mean(values)), 4)))
            print(f"start {start:.2f}  steps {steps:>3}  stride {stride:>4}  RMS {np.mean(values):.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"reference_steps": REFERENCE_STEPS, "rows": rows, "table": table}, indent=1)
    )
    print("STEP_ERROR = (")
    for start, stride, rms in table:
        print(f"    ({start}, {stride}, {rms}),")
    print(")")


if __name__ == "__main__":
    main()
