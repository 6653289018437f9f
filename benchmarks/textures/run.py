"""Edits on the artist's own objects: baked textures against the other results, rendered by Blender.

For the fusion benchmark's material-only pairs (`object`: Suzanne, clay to a blue checker; `tabletop_local`:
the cube recoloured), captured by the extension with the edited objects' surfaces and light maps: the
original scene is reconstructed and edited by the rolling IDU with the reference editor, then every result
is rendered by Blender with the scene's own lights and settings at held-out cameras nobody trained on, and
scored against Blender's render of the edited scene (PSNR and SSIM inside the edited objects' masks and over
the whole view, composited on white):

(a) the original objects with the `textures` export applied (*Apply as Textures*);
(b) the textured mesh export of the edited objects (masked_only), in place of the originals;
(c) the vertex-coloured mesh export at the same face count;
(d) the NeRF's own render;
(e) textures baked the same way from the edited scene's own views (Blender's renders) over the *original*
    scene's light: projection and lighting treatment, no NeRF;
(f) the same from the edited views with the edited scene's own light (its exact diffuse colour): projection
    alone.

Also times the `textures` export, the mesh export and a 200k-point point-cloud export of the same job.

    .venv/bin/python -m benchmarks.textures.run [--pairs object tabletop_local] [--size 96 --views 24]
        [--texture-size 512] [--faces 20000] [--schedule rolling|ceiling] [--name textures]

Writes benchmarks/results/<name>.json and <name>.png. `--schedule ceiling` edits with the edited scene's
exact views instead of the reference editor: what (a) to (d) reach when every edit agrees, which separates
the exports' own losses from the IDU's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from in2n_server.engine.dataset import read_transforms
from in2n_server.engine.surfaces import SURFACES_KEY, read_surfaces
from in2n_server.engine.workdir import dataset_dir
from in2n_server.export.run import export_geometry
from in2n_server.export.textures import Textures, bake_object, bake_view, bake_views, view_inputs
from in2n_server.export.writers import write_textures

from ..fusion.metrics import psnr, ssim
from ..fusion.runner import HeldOut, edited_with_reference
from ..fusion.scenes import WHITE, RenderSettings, ScenePair, load_masks, render_scene_pair
from ..fusion.schedules import FusionConfig

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
CACHE = RESULTS / "cache"
PAIRS = ("object", "tabletop_local")
VARIANTS = {
    "a": "(a) baked textures on the originals",
    "b": "(b) textured mesh",
    "c": "(c) vertex-coloured mesh",
    "d": "(d) NeRF render",
    "e": "(e) bake of the edited views, original light",
    "f": "(f) bake of the edited views, own light",
}


def over_white(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        rgba = np.asarray(image.convert("RGBA"), np.float32) / 255.0
    return rgba[..., :3] * rgba[..., 3:] + np.asarray(WHITE, np.float32) * (1.0 - rgba[..., 3:])


def reference_bake(colours_dir: Path, light_dir: Path, texture_size: int, path: Path) -> Path:
    """(e)/(f): the capture's own views of `colours_dir` baked into the surfaces with `light_dir`'s light
    maps and exact depth, exactly as the `textures` export bakes the NeRF's renders."""
    colours_meta, light_meta = read_transforms(colours_dir), read_transforms(light_dir)
    views = []
    for frame, inputs in zip(colours_meta["frames"], view_inputs(light_dir, light_meta), strict=True):
        with Image.open(colours_dir / frame["file_path"]) as image:
            rgba = np.asarray(image.convert("RGBA"), np.float64) / 255.0
        views.append(bake_view(inputs, rgba[..., :3], rgba[..., 3]))
    surfaces = read_surfaces(light_dir / light_meta[SURFACES_KEY])
    objects = [bake_object(surface, views, texture_size) for surface in surfaces]
    return write_textures(path, Textures(texture_size, "removed", objects))


def textures_at_scale(session: Any, copies: int, texture_size: int) -> Textures:
    """What a `textures` export of `copies` objects at `texture_size`² costs on this job: the renders once,
    then the pair's first object baked `copies` times (a stand-in for as many objects of its size)."""
    folder = dataset_dir(session.workdir)
    meta = read_transforms(folder)
    surface = read_surfaces(folder / meta[SURFACES_KEY])[0]
    views = bake_views(session, view_inputs(folder, meta))
    return Textures(
        texture_size, "removed", [bake_object(surface, views, texture_size) for _ in range(copies)]
    )


def blender_variants(pair: ScenePair, files: dict[str, Path], args: argparse.Namespace, out: Path) -> None:
    command = [sys.executable, str(HERE / "render_variants.py"), f"--scene={pair.name}", f"--out={out}"]
    command += [f"--size={args.size}", f"--views={args.views}", f"--heldout={args.heldout}"]
    command += [f"--samples={args.samples}"]
    for name, path in files.items():
        command.append(f"--{'textures' if path.suffix == '.zip' else 'mesh'}={name}={path}")
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(out / "blender-user"))
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0 or "RESULT " not in done.stdout:
        raise RuntimeError(f"rendering the variants failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


def masked_scores(
    images: list[np.ndarray], references: list[np.ndarray], masks: np.ndarray
) -> dict[str, float]:
    """PSNR over the masks' pixels (all views together) and SSIM over each mask's bounding box (padded by
    the SSIM window), averaged; and both over the whole views."""
    inside = np.concatenate([(a - b)[m] for a, b, m in zip(images, references, masks, strict=True)])
    crops = []
    for image, reference, mask in zip(images, references, masks, strict=True):
        rows, cols = np.nonzero(mask)
        r0, r1 = max(rows.min() - 5, 0), min(rows.max() + 6, mask.shape[0])
        c0, c1 = max(cols.min() - 5, 0), min(cols.max() + 6, mask.shape[1])
        crops.append(ssim(image[r0:r1, c0:c1], reference[r0:r1, c0:c1]))
    return {
        "psnr_mask": float(-10 * np.log10(np.mean(inside.astype(np.float64) ** 2))),
        "ssim_mask": float(np.mean(crops)),
        "psnr": float(np.mean([psnr(a, b) for a, b in zip(images, references, strict=True)])),
        "ssim": float(np.mean([ssim(a, b) for a, b in zip(images, references, strict=True)])),
    }


def timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def measure(name: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    settings = RenderSettings(
        size=args.size, views=args.views, heldout=args.heldout, samples=args.samples, for_textures=True
    )
    pair = render_scene_pair(name, CACHE / "pairs", settings)
    held_out = HeldOut(pair)
    shutil.rmtree(work, ignore_errors=True)
    config = FusionConfig(seed=args.seed, base_steps=args.base_steps, edit_steps=args.edit_steps)
    session = edited_with_reference(pair, work / "job", config, held_out, print, args.schedule)
    files, seconds = {}, {}
    files["a"], seconds["textures"] = timed(
        lambda: export_geometry(session, "textures", "zip", work / "a.zip", texture_size=args.texture_size)
    )
    if args.timings:
        _, seconds[f"textures_{args.timing_objects}x{args.timing_size}"] = timed(
            lambda: textures_at_scale(session, args.timing_objects, args.timing_size)
        )
        _, seconds["point_cloud_200k"] = timed(
            lambda: export_geometry(session, "point_cloud", "ply", work / "points.ply", num_points=200_000)
        )
    if args.meshes:
        mesh = {"masked_only": True, "faces": args.faces, "texture_size": args.texture_size}
        files["b"], seconds["mesh_textured"] = timed(
            lambda: export_geometry(session, "mesh", "glb", work / "b.glb", **mesh)
        )
        files["c"], seconds["mesh_vertex"] = timed(
            lambda: export_geometry(session, "mesh", "glb", work / "c.glb", vertex_colors=True, **mesh)
        )
    files["e"] = reference_bake(pair.train_edited_dir, pair.train_dir, args.texture_size, work / "e.zip")
    files["f"] = reference_bake(
        pair.train_edited_dir, pair.train_edited_dir, args.texture_size, work / "f.zip"
    )
    blender_variants(pair, files, args, work / "renders")
    references = list(held_out.edited)
    images = {
        key: [over_white(work / "renders" / key / "images" / f"{i:04d}.png") for i in range(len(references))]
        for key in files
    }
    images["d"] = held_out.renders(session)
    masks = load_masks(pair.heldout_dir) | load_masks(pair.heldout_edited_dir)
    scores = {key: masked_scores(images[key], references, masks) for key in VARIANTS if key in images}
    coverage = {
        entry["name"]: {k: entry[k] for k in ("seen_share", "visible_seen_share", "filled_share")}
        for entry in manifest_of(files["a"])["objects"]
    }
    for key, s in scores.items():
        label = VARIANTS[key]
        print(
            f"{name} {label}: mask {s['psnr_mask']:.2f} dB / {s['ssim_mask']:.3f}, whole {s['psnr']:.2f} dB"
        )
    print(f"{name} export s: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()) + f"; seen {coverage}")
    return {
        "pair": name,
        "scores": scores,
        "export_s": seconds,
        "seen_share": coverage,
        "images": images,
        "references": references,
    }


def manifest_of(path: Path) -> dict[str, Any]:
    """The manifest of a textures zip."""
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Per pair, the first two held-out views: Blender's render of the edit, then every variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ("references", *(key for key in VARIANTS if key in results[0]["scores"]))
    columns = [(r, i) for r in results for i in range(min(2, len(r["references"])))]
    fig, axes = plt.subplots(
        len(rows), len(columns), figsize=(2.1 * len(columns), 2.0 * len(rows)), squeeze=False
    )
    for col, (result, index) in enumerate(columns):
        for row, key in enumerate(rows):
            views = result["references"] if key == "references" else result["images"][key]
            ax = axes[row][col]
            ax.imshow(np.clip(views[index], 0, 1))
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{result['pair']} #{index}", fontsize=9)
            if col == 0:
                ax.set_ylabel("Blender (edited)" if key == "references" else VARIANTS[key][:3], fontsize=9)
            if key != "references":
                ax.set_xlabel(f"mask {result['scores'][key]['psnr_mask']:.1f} dB", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="*", choices=PAIRS, default=list(PAIRS), help="material-only pairs")
    parser.add_argument("--size", type=int, default=96, help="capture size, px (square views)")
    parser.add_argument("--views", type=int, default=24, help="training views per pair")
    parser.add_argument("--heldout", type=int, default=6, help="held-out views per pair (measuring only)")
    parser.add_argument("--samples", type=int, default=32, help="Cycles samples of every render")
    parser.add_argument("--base-steps", type=int, default=300, help="NeRF steps of the base reconstruction")
    parser.add_argument("--edit-steps", type=int, default=400, help="NeRF steps of the IDU")
    parser.add_argument("--texture-size", type=int, default=512, help="texels per side of each texture")
    parser.add_argument("--faces", type=int, default=20000, help="face budget of both mesh exports")
    parser.add_argument("--timing-objects", type=int, default=4, help="objects in the export-time check")
    parser.add_argument("--timing-size", type=int, default=1024, help="texture size in the export-time check")
    parser.add_argument(
        "--meshes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also (b) and (c), the textured and the vertex-coloured mesh exports",
    )
    parser.add_argument(
        "--schedule",
        choices=("rolling", "ceiling"),
        default="rolling",
        help="the edit: the rolling IDU with the reference editor, or the edited views exactly (the ceiling: "
        "what the exports reach when every edit agrees)",
    )
    parser.add_argument(
        "--timings",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time four objects at 1024² and a 200k-point point cloud",
    )
    parser.add_argument("--name", default="textures", help="file stem of the results JSON and picture")
    parser.add_argument("--seed", type=int, default=0, help="training and reference editor seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for textures.json and textures.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = [measure(name, args, CACHE / "textures" / args.schedule / name) for name in args.pairs]
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"}
    plain = [{k: v for k, v in r.items() if k not in ("images", "references")} for r in results]
    json_path, png_path = args.out / f"{args.name}.json", args.out / f"{args.name}.png"
    json_path.write_text(json.dumps({"settings": settings, "results": plain}, indent=1))
    plot(results, png_path)
    print(f"wrote {json_path} and {png_path}")


if __name__ == "__main__":
    main()
