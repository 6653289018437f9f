"""Render the texture benchmark's results with Blender at the pair's held-out cameras (its own process).

Each variant starts from the pair's *original* scene, built by the fusion benchmark's own builder, with its
lights and render settings, and changes only the edited objects:
- `--textures NAME=ZIP`: the extension's *Apply as Textures* (duplicates with the baked images), the
  originals hidden from the render;
- `--mesh NAME=FILE`: the extension's mesh import of an exported mesh, the originals hidden.
Every variant is captured with the extension's own capture, as the reference (`heldout_edited`) was: RGBA
colour at the same size and samples. Prints `RESULT {json}` with each variant's folder.

    python benchmarks/textures/render_variants.py --scene object --out DIR --size 96 --views 24 \
        --heldout 6 --samples 32 --textures a=a.zip --mesh b=b.glb
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fusion"))
import blender_scenes  # noqa: E402

from blender_in2n import scene_import, textures  # noqa: E402


def build(scene: str, size: int, samples: int) -> list:
    """The original scene, as the pair's renders saw it; returns the objects the edit changes."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_scenes._setup_render(size, samples)
    return blender_scenes.BUILDERS[scene](False)


def render_variant(kind: str, path: Path, args: argparse.Namespace, out: Path) -> None:
    edited = build(args.scene, args.size, args.samples)
    if kind == "textures":
        applied = textures.apply_textures(bpy.context, str(path))
        if len(applied.duplicates) != len(edited):
            raise SystemExit(f"applied {applied.duplicates} for {[ob.name for ob in edited]}")
        replacements = [bpy.data.objects[name] for name in applied.duplicates]
    else:
        replacements = [scene_import.import_geometry(str(path), kind="mesh", name="In2N Mesh")]
    for ob in edited:
        ob.hide_render = True
    _, held = blender_scenes.camera_poses(args.scene.removesuffix("_local"), args.views, args.heldout)
    lens = 20.0 if args.scene == "room" else 35.0
    blender_scenes.render_set(held, out, args.size, lens, replacements)  # masks: where the result lands


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", choices=blender_scenes.SCENES, required=True, help="the pair's scene")
    parser.add_argument("--out", type=Path, required=True, help="folder for one sub-folder per variant")
    parser.add_argument("--size", type=int, required=True, help="image side, px (the pair's)")
    parser.add_argument("--views", type=int, required=True, help="the pair's training views (camera layout)")
    parser.add_argument("--heldout", type=int, required=True, help="the pair's held-out views")
    parser.add_argument("--samples", type=int, required=True, help="Cycles samples (the pair's)")
    parser.add_argument("--textures", action="append", default=[], help="NAME=ZIP: a textures export")
    parser.add_argument("--mesh", action="append", default=[], help="NAME=FILE: a mesh export")
    args = parser.parse_args(argv)
    done = {}
    for kind, items in (("textures", args.textures), ("mesh", args.mesh)):
        for item in items:
            name, _, path = item.partition("=")
            render_variant(kind, Path(path), args, args.out / name)
            done[name] = str(args.out / name)
    print("RESULT " + json.dumps(done))


if __name__ == "__main__":
    main(sys.argv[1:])
