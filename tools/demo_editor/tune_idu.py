"""Choose the demo editor's recommended IDU settings on the 3D test's scene, at cameras no edit saw.

    .venv/bin/python -m tools.demo_editor.tune_idu [--image-guidance 1.5 2.5 3.5] [--upper-bound 0.98 0.7]
        [--edit-rate 5 10] [--write]

The scene and run are those of `tests/demo/test_demo_edit_3d.py` (the demo's procedural spheres, 24 views
at 48 px, 4 held out; 400 base steps, then 300 edit steps of "make it blue"). The base is trained once; each
setting continues from its checkpoint. For each: held-out blue share and held-out edge correlation with the
photos relative to the reconstruction's (the test's two measures), and the editor calls it took. With
`--write`, the best setting (highest edge ratio among those with blue share ≥ 0.8) is written as the
model's `in2n_recommended.json`. Figures go to `build/demo_editor/tune_idu.json`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from in2n_server.editor.loading import NAMED_MODELS, RECOMMENDED_FILE, recommended_settings
from in2n_server.engine.session import EditSession
from in2n_server.engine.types import CameraSpec, EditParams
from in2n_server.engine.workdir import checkpoint_path
from in2n_server.samples.procedural import generate_scene
from tools.demo_editor.metrics import edge_correlation, hue_share

REPO = Path(__file__).resolve().parents[2]
BLUE_HUE = 225.0
BASE_STEPS, EDIT_STEPS = 400, 300
MIN_BLUE_SHARE = 0.8


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="demo")
    parser.add_argument("--guidance", type=float, default=7.0)
    parser.add_argument("--image-guidance", type=float, nargs="+", default=[1.5, 2.5, 3.5])
    parser.add_argument("--upper-bound", type=float, nargs="+", default=[0.98, 0.7])
    parser.add_argument("--edit-rate", type=int, nargs="+", default=[5])
    parser.add_argument("--write", action="store_true", help="write the best as the model's recommendation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tune-idu-") as temp:
        root = Path(temp)
        scene = generate_scene(root / "scene", num_views=24, size=48, num_heldout=4)
        heldout = [CameraSpec.from_wire(camera) for camera in scene.heldout_cameras]
        photos = [
            np.asarray(Image.open(scene.root / c["file_path"]).convert("RGB"), dtype=np.float32) / 255
            for c in scene.heldout_cameras
        ]

        def params(**edit: float) -> EditParams:
            return EditParams(
                instruction="make it blue",
                tier="in2n-cpu",
                model=args.model,
                base_iterations=BASE_STEPS,
                edit_iterations=EDIT_STEPS,
                seed=0,
                optimize_cameras=False,
                guidance_scale=args.guidance,
                **edit,
            )

        base = EditSession.create(scene.root, root / "base", params(edit_rate=5), device="cpu")
        base.run(max_steps=BASE_STEPS)
        reconstruction = [base.render(camera).rgb for camera in heldout]
        baseline = float(
            np.mean([edge_correlation(r, p) for r, p in zip(reconstruction, photos, strict=True)])
        )
        print(f"reconstruction: held-out edge correlation with the photos {baseline:.3f}", flush=True)
        results = []
        grid = itertools.product(args.image_guidance, args.upper_bound, args.edit_rate)
        for index, (image_guidance, upper_bound, edit_rate) in enumerate(grid):
            setting = {
                "image_guidance_scale": image_guidance,
                "upper_bound": upper_bound,
                "edit_rate": edit_rate,
            }
            started = time.monotonic()
            session = EditSession.create(
                scene.root,
                root / f"run-{index}",
                params(**setting),
                device="cpu",
                base_checkpoint=checkpoint_path(root / "base"),
            )
            session.run()
            after = [session.render(camera).rgb for camera in heldout]
            blue = float(np.mean([hue_share(image, BLUE_HUE) for image in after]))
            edges = float(np.mean([edge_correlation(a, p) for a, p in zip(after, photos, strict=True)]))
            result = {
                **setting,
                "blue_share": round(blue, 3),
                "edge_correlation": round(edges, 3),
                "edge_ratio": round(edges / baseline, 3),
                "edits": session.progress.edits_done,
                "seconds": round(time.monotonic() - started, 1),
            }
            results.append(result)
            print(result, flush=True)
    out = REPO / "build" / "demo_editor" / "tune_idu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"baseline_edge_correlation": baseline, "runs": results}, indent=2) + "\n")
    good = [r for r in results if r["blue_share"] >= MIN_BLUE_SHARE] or results
    best = max(good, key=lambda r: r["edge_ratio"])
    print(f"best: {best}")
    if args.write:
        model_dir = Path(NAMED_MODELS.get(args.model, args.model))
        chosen = {**recommended_settings(args.model), "guidance_scale": args.guidance}
        chosen.update({k: best[k] for k in ("image_guidance_scale", "upper_bound", "edit_rate")})
        (model_dir / RECOMMENDED_FILE).write_text(json.dumps(chosen, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {model_dir / RECOMMENDED_FILE}: {chosen}")


if __name__ == "__main__":
    main()
