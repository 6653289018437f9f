"""Render views of random simple objects with varied materials in Blender (Cycles, CPU), in a subprocess.

The demo editor edits renders of 3D scenes, so part of its training data must look like them: shaded
primitives with plastic, metal and textured materials on a ground plane, lit by a sun and a coloured sky.
`render_views()` runs this file as a script under the project's Python (where `bpy` from PyPI is
importable), so Blender never loads into the training process, and returns the views as a uint8 array.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

PRIMITIVES = ("cube", "sphere", "cylinder", "cone", "torus", "monkey")


def render_views(
    num_scenes: int, views_per_scene: int, size: int, seed: int, samples: int = 12
) -> np.ndarray:
    """Render `num_scenes` × `views_per_scene` views; returns uint8 `[num_scenes, views, size, size, 3]`."""
    with tempfile.TemporaryDirectory(prefix="demo_views_") as tmp:
        out = Path(tmp) / "views.npy"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--out",
            str(out),
            "--scenes",
            str(num_scenes),
            "--views",
            str(views_per_scene),
            "--size",
            str(size),
            "--seed",
            str(seed),
            "--samples",
            str(samples),
        ]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return np.load(out)


def _build_scene(bpy, rng: np.random.Generator) -> None:  # noqa: ANN001 - bpy is only importable here
    """Replace the scene's content with a ground plane, 1–3 primitives, a sun and a coloured sky."""
    import colorsys

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene

    def material(name: str, textured: bool):  # noqa: ANN202
        mat = bpy.data.materials.new(name)
        mat.use_nodes = True
        nodes, links = mat.node_tree.nodes, mat.node_tree.links
        bsdf = nodes.get("Principled BSDF")
        hue, sat, val = rng.uniform(), rng.uniform(0.0, 1.0) ** 0.7, rng.uniform(0.25, 1.0)
        colour = (*colorsys.hsv_to_rgb(hue, sat, val), 1.0)
        bsdf.inputs["Base Color"].default_value = colour
        bsdf.inputs["Roughness"].default_value = float(rng.uniform(0.15, 0.9))
        bsdf.inputs["Metallic"].default_value = float(rng.uniform(0.7, 1.0) if rng.uniform() < 0.25 else 0.0)
        if textured:
            kind = rng.choice(["ShaderNodeTexChecker", "ShaderNodeTexNoise", "ShaderNodeTexWave"])
            texture = nodes.new(kind)
            texture.inputs["Scale"].default_value = float(rng.uniform(2.0, 8.0))
            if kind == "ShaderNodeTexChecker":
                other = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0, 1), rng.uniform(0.2, 1))
                texture.inputs["Color1"].default_value = colour
                texture.inputs["Color2"].default_value = (*other, 1.0)
                links.new(texture.outputs["Color"], bsdf.inputs["Base Color"])
            else:
                ramp = nodes.new("ShaderNodeValToRGB")
                other = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0, 1), rng.uniform(0.2, 1))
                ramp.color_ramp.elements[0].color = colour
                ramp.color_ramp.elements[1].color = (*other, 1.0)
                links.new(texture.outputs["Fac"], ramp.inputs["Fac"])
                links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
        return mat

    bpy.ops.mesh.primitive_plane_add(size=30.0, location=(0.0, 0.0, 0.0))
    bpy.context.object.data.materials.append(material("ground", textured=rng.uniform() < 0.4))

    for index in range(int(rng.integers(1, 4))):
        kind = PRIMITIVES[int(rng.integers(len(PRIMITIVES)))]
        scale = float(rng.uniform(0.5, 1.1))
        location = (float(rng.uniform(-1.5, 1.5)), float(rng.uniform(-1.5, 1.5)), scale)
        if kind == "cube":
            bpy.ops.mesh.primitive_cube_add(size=1.6 * scale, location=location)
        elif kind == "sphere":
            bpy.ops.mesh.primitive_uv_sphere_add(radius=scale, location=location, segments=32, ring_count=16)
            bpy.ops.object.shade_smooth()
        elif kind == "cylinder":
            bpy.ops.mesh.primitive_cylinder_add(radius=0.7 * scale, depth=2 * scale, location=location)
        elif kind == "cone":
            bpy.ops.mesh.primitive_cone_add(radius1=scale, depth=2 * scale, location=location)
        elif kind == "torus":
            bpy.ops.mesh.primitive_torus_add(
                major_radius=scale,
                minor_radius=0.35 * scale,
                location=(location[0], location[1], 0.4 * scale),
            )
            bpy.ops.object.shade_smooth()
        else:
            bpy.ops.mesh.primitive_monkey_add(size=1.6 * scale, location=location)
            bpy.ops.object.shade_smooth()
        obj = bpy.context.object
        obj.rotation_euler[2] = float(rng.uniform(0, 2 * math.pi))
        obj.data.materials.append(material(f"object{index}", textured=rng.uniform() < 0.3))

    bpy.ops.object.light_add(type="SUN")
    sun = bpy.context.object
    sun.data.energy = float(rng.uniform(1.0, 3.0))
    sun.rotation_euler = (float(rng.uniform(0.1, 1.0)), 0.0, float(rng.uniform(0, 2 * math.pi)))

    world = bpy.data.worlds.new("sky")
    world.use_nodes = True
    sky = colorsys.hsv_to_rgb(rng.uniform(0.45, 0.7), rng.uniform(0.0, 0.6), rng.uniform(0.4, 1.0))
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (*sky, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = float(rng.uniform(0.3, 0.8))
    scene.world = world

    bpy.ops.object.camera_add()
    scene.camera = bpy.context.object
    scene.camera.data.lens = float(rng.uniform(30, 50))


def _place_camera(camera, rng: np.random.Generator) -> None:  # noqa: ANN001
    """Put the camera on a sphere around the objects, looking at a point near the origin."""
    from mathutils import Vector

    azimuth = rng.uniform(0, 2 * math.pi)
    elevation = rng.uniform(0.25, 0.9)
    distance = rng.uniform(4.5, 7.5)
    position = Vector(
        (
            distance * math.cos(elevation) * math.cos(azimuth),
            distance * math.cos(elevation) * math.sin(azimuth),
            distance * math.sin(elevation),
        )
    )
    target = Vector((float(rng.uniform(-0.5, 0.5)), float(rng.uniform(-0.5, 0.5)), 0.5))
    camera.location = position
    camera.rotation_euler = (target - position).to_track_quat("-Z", "Y").to_euler()


def _render_main(args: argparse.Namespace) -> None:
    """Script entry inside the subprocess: render every view to PNG, then pack them into one .npy."""
    import bpy
    from PIL import Image

    rng = np.random.default_rng(args.seed)
    views = np.zeros((args.scenes, args.views, args.size, args.size, 3), dtype=np.uint8)
    png = str(Path(args.out).with_suffix(".png"))
    for scene_index in range(args.scenes):
        _build_scene(bpy, rng)
        scene = bpy.context.scene
        scene.render.engine = "CYCLES"
        scene.cycles.device = "CPU"
        scene.cycles.samples = args.samples
        scene.cycles.use_denoising = False
        scene.cycles.max_bounces = 3
        scene.render.threads_mode = "FIXED"
        scene.render.threads = 1
        scene.render.resolution_x = scene.render.resolution_y = args.size
        scene.render.resolution_percentage = 100
        scene.render.image_settings.file_format = "PNG"
        scene.view_settings.view_transform = "Standard"
        scene.render.filepath = png
        for view_index in range(args.views):
            _place_camera(scene.camera, rng)
            bpy.ops.render.render(write_still=True)
            views[scene_index, view_index] = np.asarray(Image.open(png).convert("RGB"))
        print(f"scene {scene_index + 1}/{args.scenes}", file=sys.stderr, flush=True)
    np.save(args.out, views)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=12)
    _render_main(parser.parse_args())
