"""Textured mesh against today's vertex-coloured mesh, at the same face count, at held-out cameras.

A NeRF of a fusion pair's edited scene (by default the base reconstruction of its edited training views, as a
perfectly edited NeRF would be; `--job` takes an existing job's workdir instead) is exported as the server
exports a mesh: TSDF fusion, quadric decimation to `--faces`, then either vertex colours (c) or an xatlas
layout with a `--texture-size`² texture baked from the NeRF's renders (b). Both meshes are rendered unlit (the
NeRF's lit colour as it is, as the extension shows them) by ray casting at the held-out cameras nobody
trained on, `--supersample`² rays per pixel, and scored against Blender's render of the edited scene (PSNR
and SSIM over the whole view and inside the edited objects' masks, composited on white), with the NeRF's own
render (d) for scale; and against the NeRF's renders (what both meshes are made from). Also times each stage
of both exports.

    .venv/bin/python -m benchmarks.textured_mesh [--pair object] [--steps 800] [--faces 20000 200000]
        [--texture-size 512] [--resolution 128]

Writes benchmarks/results/textured_mesh_<pair>[_masked].json and .png (rows: Blender, NeRF, textured mesh
and vertex-coloured mesh at the first budget).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from in2n_server.engine.geometry import camera_points
from in2n_server.engine.session import EditSession
from in2n_server.engine.types import CameraSpec
from in2n_server.export.backproject import SurfaceView
from in2n_server.export.decimate import decimate
from in2n_server.export.mesh import fuse, fusion_views
from in2n_server.export.texture_bake import linear_to_srgb, srgb_to_linear
from in2n_server.export.textured_mesh import TexturedMesh, textured_mesh
from in2n_server.export.writers import write_mesh, write_textured_mesh

from .fusion.metrics import psnr, ssim
from .fusion.runner import HeldOut
from .fusion.scenes import WHITE, RenderSettings, load_masks, render_scene_pair
from .recon.run import train_reconstruction

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = RESULTS / "cache"


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def render_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    camera: CameraSpec,
    supersample: int,
    vertex_colours: np.ndarray | None = None,
    textured: TexturedMesh | None = None,
) -> np.ndarray:
    """[H, W, 3] sRGB over white: the mesh's colour where a ray hits (vertex colours interpolated, or the
    texture sampled bilinearly, both in linear light as Blender does), averaged over supersample² rays."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(np.asarray(vertices, np.float32), np.asarray(faces, np.uint32))
    fine = camera.resized(camera.width * supersample, camera.height * supersample)
    c2w = np.asarray(fine.camera_to_world, np.float64)[:3, :4]
    directions = camera_points(fine, np.ones((fine.height, fine.width))) @ c2w[:, :3].T
    rays = np.concatenate([np.broadcast_to(c2w[:, 3], directions.shape), directions], axis=-1)
    hit = scene.cast_rays(rays.reshape(-1, 6).astype(np.float32))
    seen = np.isfinite(hit["t_hit"].numpy())
    triangle = np.where(seen, hit["primitive_ids"].numpy(), 0).astype(np.int64)
    u, v = hit["primitive_uvs"].numpy().T
    weights = np.stack([1.0 - u - v, u, v], axis=1)  # barycentric of the triangle's three corners
    corners = faces[triangle]
    if textured is not None:
        uv = np.einsum("nk,nkd->nd", weights, textured.uvs[corners])
        colour = bilinear(srgb_to_linear(textured.image), uv)
    else:
        colour = np.einsum("nk,nkd->nd", weights, srgb_to_linear(vertex_colours)[corners])
    linear = np.where(seen[:, None], colour, srgb_to_linear(np.asarray(WHITE)))
    linear = linear.reshape(camera.height, supersample, camera.width, supersample, 3).mean(axis=(1, 3))
    return linear_to_srgb(linear).astype(np.float32)


def bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """`image` [S, S, 3] at UVs [N, 2] (V up, texel centres at +0.5), clamped at the border."""
    size = image.shape[0]
    x, y = uv[:, 0] * size - 0.5, (1.0 - uv[:, 1]) * size - 0.5
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    tx, ty = (x - x0)[:, None], (y - y0)[:, None]

    def at(col: np.ndarray, row: np.ndarray) -> np.ndarray:
        return image[np.clip(row, 0, size - 1), np.clip(col, 0, size - 1)]

    top = at(x0, y0) * (1 - tx) + at(x0 + 1, y0) * tx
    bottom = at(x0, y0 + 1) * (1 - tx) + at(x0 + 1, y0 + 1) * tx
    return top * (1 - ty) + bottom * ty


def scores(images: list[np.ndarray], references: list[np.ndarray], masks: np.ndarray) -> dict[str, float]:
    """Mean PSNR and SSIM over the views; `psnr_mask` over the masks' pixels of all views together."""
    inside = np.concatenate([image[mask] for image, mask in zip(images, masks, strict=True)])
    truth = np.concatenate([reference[mask] for reference, mask in zip(references, masks, strict=True)])
    return {
        "psnr": float(np.mean([psnr(i, r) for i, r in zip(images, references, strict=True)])),
        "ssim": float(np.mean([ssim(i, r) for i, r in zip(images, references, strict=True)])),
        "psnr_mask": float(-10 * np.log10(np.mean((inside.astype(np.float64) - truth) ** 2))),
    }


def session_of(args: argparse.Namespace, pair: Any, work: Path) -> tuple[EditSession, float]:
    """The `--job` given, or a new reconstruction of the pair's edited views (and the seconds it took)."""
    if args.job is not None:
        return EditSession.open_for_export(args.job, device="cpu"), 0.0
    shutil.rmtree(work, ignore_errors=True)
    return train_reconstruction(pair.train_edited_dir, work / "job", args.steps, args.seed)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    settings = RenderSettings(  # for_textures: the same renders as benchmarks/textures (one cache)
        size=args.size, views=args.views, heldout=args.heldout, samples=args.samples, for_textures=True
    )
    pair = render_scene_pair(args.pair, CACHE / "pairs", settings)
    held_out = HeldOut(pair)
    work = CACHE / "textured_mesh" / args.pair
    session, train_s = session_of(args, pair, work)
    (views, region), render_s = timed(
        lambda: fusion_views(session, args.resolution, masked_only=args.masked_only)
    )
    tsdf, fuse_s = timed(lambda: fuse(views, region, args.resolution))
    tsdf_s = render_s + fuse_s  # the TSDF mesh export before this change: renders and fusion
    references = list(held_out.edited)
    masks = load_masks(pair.heldout_edited_dir)
    nerf = held_out.renders(session)
    budgets = [budget(views, tsdf, faces, held_out.cameras, args, work) for faces in args.faces]
    for entry in budgets:
        entry["scores"] = {key: scores(views, references, masks) for key, views in entry["images"].items()}
        entry["against_nerf"] = {key: scores(views, nerf, masks) for key, views in entry["images"].items()}
        entry["export_s"] = {key: tsdf_s + value for key, value in entry["seconds_after_tsdf"].items()}
    nerf_scores = scores(nerf, references, masks)
    print(f"NeRF render: {nerf_scores['psnr']:.2f} dB, inside the masks {nerf_scores['psnr_mask']:.2f} dB")
    for entry in budgets:
        for key, label in (("b", "textured mesh"), ("c", "vertex-coloured mesh")):
            s = entry["scores"][key]
            n = entry["against_nerf"][key]
            print(
                f"{entry['faces']} faces, {label}: {s['psnr']:.2f} dB / SSIM {s['ssim']:.3f}, inside the "
                f"masks {s['psnr_mask']:.2f} dB (against the NeRF's renders: {n['psnr']:.2f} / "
                f"{n['psnr_mask']:.2f} dB); export {entry['export_s'][key]:.1f} s"
            )
        print(f"  renders {render_s:.1f} s, fusion {fuse_s:.1f} s, then {json.dumps(entry['stages'])}")
    return {
        "pair": args.pair,
        "tsdf_faces": len(tsdf[1]),
        "train_s": train_s,
        "render_s": render_s,
        "fuse_s": fuse_s,
        "nerf_scores": nerf_scores,
        "budgets": [{k: v for k, v in entry.items() if k != "images"} for entry in budgets],
        "images": {"d": nerf, **budgets[0]["images"]},
        "references": references,
    }


def budget(
    views: list[SurfaceView],
    tsdf: tuple[np.ndarray, np.ndarray, np.ndarray],
    max_faces: int,
    cameras: list[CameraSpec],
    args: argparse.Namespace,
    work: Path,
) -> dict[str, Any]:
    """Both meshes at one face budget, as the server makes them from the TSDF mesh, and their renders."""
    stages: dict[str, float] = {}
    (vertices, faces, colours), stages["decimate"] = timed(lambda: decimate(*tsdf, max_faces=max_faces))
    textured, stages["unwrap_and_bake"] = timed(
        lambda: textured_mesh(vertices, faces, views, args.texture_size)
    )
    b_path, stages["write_textured_glb"] = timed(
        lambda: write_textured_mesh(work / f"b-{max_faces}.glb", textured, "glb")
    )
    c_path, stages["write_vertex_glb"] = timed(
        lambda: write_mesh(work / f"c-{max_faces}.glb", vertices, faces, colours, "glb")
    )
    images = {  # the textured mesh has its own vertices, split along the charts' seams
        "b": [
            render_mesh(textured.vertices, textured.faces, c, args.supersample, textured=textured)
            for c in cameras
        ],
        "c": [render_mesh(vertices, faces, c, args.supersample, vertex_colours=colours) for c in cameras],
    }
    return {
        "faces": len(faces),
        "texels_seen_share": textured.seen_share,
        "stages": stages,
        "seconds_after_tsdf": {
            "b": stages["decimate"] + stages["unwrap_and_bake"] + stages["write_textured_glb"],
            "c": stages["decimate"] + stages["write_vertex_glb"],
        },
        "file_bytes": {"b": b_path.stat().st_size, "c": c_path.stat().st_size},
        "images": images,
    }


def picture(result: dict[str, Any], path: Path) -> None:
    """Rows: Blender's render of the edited scene, the NeRF, the textured mesh, the vertex-coloured mesh."""
    rows = [result["references"], result["images"]["d"], result["images"]["b"], result["images"]["c"]]
    grid = np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)
    Image.fromarray((np.clip(grid, 0, 1) * 255 + 0.5).astype(np.uint8)).save(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pair", default="object", help="fusion benchmark pair whose edited scene is measured"
    )
    parser.add_argument("--size", type=int, default=96, help="image side of the pair's renders, px")
    parser.add_argument("--views", type=int, default=24, help="training cameras of the pair")
    parser.add_argument(
        "--heldout", type=int, default=6, help="held-out cameras of the pair (measuring only)"
    )
    parser.add_argument("--samples", type=int, default=32, help="Cycles samples of the pair's renders")
    parser.add_argument("--steps", type=int, default=800, help="NeRF steps reconstructing the edited views")
    parser.add_argument(
        "--job",
        type=Path,
        default=None,
        help="an existing job workdir to export instead (an earlier run's: "
        "benchmarks/results/cache/textured_mesh/<pair>/job)",
    )
    parser.add_argument("--resolution", type=int, default=128, help="TSDF voxels along the longest side")
    parser.add_argument(
        "--faces", type=int, nargs="+", default=[20000], help="face budgets (each: both meshes, one TSDF)"
    )
    parser.add_argument("--texture-size", type=int, default=512, help="texels per side of the texture")
    parser.add_argument(
        "--masked-only",
        action="store_true",
        help="meshes of the edited objects alone (the export's masked_only): read the masks' scores",
    )
    parser.add_argument(
        "--supersample", type=int, default=2, help="rays per pixel side when rendering meshes"
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the json and the picture")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = measure(args)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"}
    plain = {k: v for k, v in result.items() if k not in ("images", "references")}
    stem = f"textured_mesh_{args.pair}" + ("_masked" if args.masked_only else "")
    (args.out / f"{stem}.json").write_text(json.dumps({"settings": settings, "result": plain}, indent=1))
    picture(result, args.out / f"{stem}.png")
    print(f"wrote {args.out / stem}.json and .png")


if __name__ == "__main__":
    main()
