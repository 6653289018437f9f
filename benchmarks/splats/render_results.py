"""Render exported results with Blender at held-out cameras, imported by the extension's own importer.

Run with a Blender that renders native splats (bpy 5.3: `.venv-blender-5.3/bin/python`):

    python benchmarks/splats/render_results.py --cameras HELDOUT/transforms.json --out DIR \
        --result splats=FILE.ply --result point_cloud=FILE.ply [--samples 16]

For each result: an empty scene, lit only by a uniform white world of strength 1 (splats render unlit; a
Principled point cloud shows roughly its base colour under it), a transparent film and the Standard view
transform (so the sRGB colours the server wrote come back as they were), the result imported with
`scene_import.import_geometry` (native splats on 5.3), and one Cycles CPU render per camera into
DIR/<kind>/NNNN.png (RGBA). This file imports only bpy, the extension and the standard library.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from blender_in2n import dataset_cameras, scene_import  # noqa: E402


def empty_scene(samples: int) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.cycles.seed = 0
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.image_settings.color_depth = "8"
    scene.view_settings.view_transform = "Standard"
    world = bpy.data.worlds.new("White")
    if bpy.app.version < (5, 0, 0):
        world.use_nodes = True
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    background.inputs["Strength"].default_value = 1.0
    scene.world = world


def render_result(kind: str, path: str, cameras: list[dict], out: Path, samples: int) -> dict:
    """`kind` is the importer's kind, optionally with a label after a dot (`splats.placed`): the images go
    to out/<kind with label>/."""
    empty_scene(samples)
    ob = scene_import.import_geometry(path, kind=kind.split(".")[0], name=f"Result {kind}")
    created = dataset_cameras.show_dataset_cameras(bpy.context, cameras)
    (out / kind).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for index, camera in enumerate(created):
        bpy.context.scene.camera = camera
        bpy.context.scene.render.filepath = str(out / kind / f"{index:04d}.png")
        bpy.ops.render.render(write_still=True)
    return {
        "kind": kind,
        "object_type": ob.type,
        "splat_type": getattr(ob.data, "type", "") if ob.type == "POINTCLOUD" else "",
        "render_s": time.perf_counter() - started,
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=Path, required=True, help="a transforms.json of held-out cameras")
    parser.add_argument("--out", type=Path, required=True, help="folder for DIR/<kind>/NNNN.png")
    parser.add_argument("--result", action="append", default=[], help="KIND[.LABEL]=PLY, repeatable")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    args = parser.parse_args(argv)
    cameras = json.loads(args.cameras.read_text())["frames"]
    reports = []
    for item in args.result:
        kind, path = item.split("=", 1)
        reports.append(render_result(kind, path, cameras, args.out, args.samples))
    print("RESULT " + json.dumps({"version": bpy.app.version_string, "results": reports}), flush=True)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:])
