"""Captures the reconstruction benchmark's scenes through the extension's own capture (run as a script: bpy).

Scenes: the fusion benchmark's `object`, `tabletop` and `room` (their original versions, their training
and held-out cameras), and `artist`: a few objects off the world origin, rotated, on a plain world
background, captured with the extension's default rig around them, as an artist would. Every view goes
through `blender_in2n.capture.capture` (colour, alpha, depth from render passes), so the benchmark
measures what the product uploads. The true surfaces are sampled from the evaluated meshes
(`blender_in2n.ground_truth`).

    python benchmarks/recon/capture_scenes.py --scene artist --out DIR [--size 64 --views 24 --heldout 6]
        [--opaque]

writes DIR/{train,heldout}/ (transforms.json, images/, depths/) and DIR/surface.npy ([N, 3] world points).
`--opaque` captures training views as the project did before RGBA + depth captures: world background, no
depth.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "fusion"))

import blender_scenes  # noqa: E402

from benchmarks import ground_truth  # noqa: E402
from blender_in2n import capture, rig  # noqa: E402

SCENES = (*blender_scenes.SCENES, "artist")
ARTIST_CENTRE = Vector((3.0, -2.0, 1.2))
SURFACE_SAMPLES = 40000


def build_artist() -> list[bpy.types.Object]:
    """Four objects around (3, -2, 1.2), each rotated, on a plain grey-blue world."""
    blender_scenes._world((0.5, 0.55, 0.65), 0.8)
    blender_scenes._sun((45, 15, 40), 3.0)
    c = ARTIST_CENTRE
    objects = []
    bpy.ops.mesh.primitive_monkey_add(
        size=1.0, location=c + Vector((0.0, 0.0, 0.3)), rotation=(0.3, 0.1, 2.2)
    )
    objects.append(
        blender_scenes._assign(blender_scenes._smooth(bpy.context.object), _mat("clay", (0.8, 0.45, 0.2)))
    )
    bpy.ops.mesh.primitive_cube_add(
        size=0.7, location=c + Vector((-0.9, 0.5, -0.2)), rotation=(0.4, 0.2, 0.7)
    )
    objects.append(
        blender_scenes._assign(
            bpy.context.object,
            blender_scenes._textured("check", "checker", (0.1, 0.3, 0.8), (0.9, 0.9, 0.85), 5.0),
        )
    )
    bpy.ops.mesh.primitive_torus_add(
        major_radius=0.45, minor_radius=0.14, location=c + Vector((0.9, -0.4, -0.3)), rotation=(1.1, 0.3, 0.0)
    )
    objects.append(blender_scenes._assign(bpy.context.object, _mat("green", (0.15, 0.65, 0.25))))
    bpy.ops.mesh.primitive_cone_add(
        radius1=0.35, depth=0.8, location=c + Vector((0.3, 0.9, -0.35)), rotation=(0.0, 0.5, 0.3)
    )
    objects.append(
        blender_scenes._assign(
            bpy.context.object,
            blender_scenes._textured("stripes", "stripes", (0.7, 0.1, 0.1), (0.95, 0.8, 0.3), 4.0),
        )
    )
    return objects


def _mat(name: str, color: tuple[float, float, float]) -> bpy.types.Material:
    return blender_scenes._principled(name, color)


def artist_cameras(views: int, heldout: int) -> tuple[list, list]:
    """Training: the extension's default rig around the selection; held-out: a band between its views."""
    bpy.ops.object.select_all(action="DESELECT")
    for ob in bpy.context.scene.objects:
        ob.select_set(ob.type == "MESH")
    train = rig.make_rig(bpy.context, "HEMISPHERE", views)
    radius = (train[0].matrix_world.translation - _rig_centre()).length
    poses = blender_scenes.orbit_cameras(heldout, radius, (20.0, 55.0), _rig_centre(), phase=0.9)
    return train, blender_scenes.camera_objects(poses, 35.0, "heldout")


def _rig_centre() -> Vector:
    lo, hi = rig.world_bounds([ob for ob in bpy.context.scene.objects if ob.type == "MESH"])
    return (lo + hi) / 2.0


def write_capture(cameras: list, out: Path, size: int, transparent: bool, depth: bool) -> None:
    result = capture.capture(
        bpy.context, cameras, str(out), max_size=size, with_depth=depth, transparent_background=transparent
    )
    (out / "transforms.json").write_text(json.dumps(result.transforms, indent=1))


def main(argv: list[str]) -> None:
    parser = blender_scenes.capture_arguments(SCENES)
    parser.description = __doc__.splitlines()[0]
    parser.add_argument("--opaque", action="store_true", help="training views as before: opaque, no depth")
    args = parser.parse_args(argv)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    blender_scenes._setup_render(args.size, args.samples)
    if args.scene == "artist":
        build_artist()
        train, held = artist_cameras(args.views, args.heldout)
    else:
        blender_scenes.BUILDERS[args.scene](False)
        train_poses, held_poses = blender_scenes.camera_poses(args.scene, args.views, args.heldout)
        lens = 20.0 if args.scene == "room" else 35.0
        train = blender_scenes.camera_objects(train_poses, lens, "train")
        held = blender_scenes.camera_objects(held_poses, lens, "heldout")
    transparent = not args.opaque
    write_capture(train, args.out / "train", args.size, transparent, depth=not args.opaque)
    write_capture(held, args.out / "heldout", args.size, transparent, depth=True)
    meshes = [ob for ob in bpy.context.scene.objects if ob.type == "MESH" and not ob.hide_render]
    samples = ground_truth.surface_samples(meshes, SURFACE_SAMPLES)
    np.save(args.out / "surface.npy", samples.astype(np.float32))
    print(json.dumps({"scene": args.scene, "views": len(train), "heldout": len(held)}))


if __name__ == "__main__":
    main(sys.argv[1:])
