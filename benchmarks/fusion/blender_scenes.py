"""Renders the benchmark's scene pairs with Blender (run as a script in its own process: bpy is global state).

Each pair is one scene built twice, as the original and as its edited version (materials recoloured or
retextured, one object changed), rendered with Cycles from the same training cameras and from held-out
cameras. Every render set goes through the extension's own capture (`blender_in2n.capture.capture`): RGBA
colour, exact depth, and masks of the objects the edit changes (what an artist would select), written as a
nerfstudio dataset (`transforms.json` with per-frame intrinsics, `transform_matrix` = the camera's
`matrix_world`). `tabletop_local` changes one small object only: the local-edit case.

    python benchmarks/fusion/blender_scenes.py --scene tabletop --out DIR [--size 64 --views 24 --heldout 6]

writes DIR/{train,train_edited,heldout,heldout_edited}/ (transforms.json + images/NNNN.png).
This file imports only bpy and the standard library, so the benchmark's own process never loads Blender.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path

import bpy
from mathutils import Matrix, Vector

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from blender_in2n import capture  # noqa: E402

SCENES = ("object", "tabletop", "room", "tabletop_local")

Color = tuple[float, float, float]


# ---------------------------------------------------------------------------------------------- materials
def _principled(name: str, color: Color, roughness: float = 0.5) -> bpy.types.Material:
    material = bpy.data.materials.new(name)
    bsdf = material.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*color, 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    return material


def _textured(name: str, kind: str, color_a: Color, color_b: Color, scale: float) -> bpy.types.Material:
    """A material coloured by a procedural texture (checker, wave stripes or noise) of two colours."""
    material = bpy.data.materials.new(name)
    nodes, links = material.node_tree.nodes, material.node_tree.links
    bsdf = nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = 0.6
    if kind == "checker":
        texture = nodes.new("ShaderNodeTexChecker")
        texture.inputs["Color1"].default_value = (*color_a, 1.0)
        texture.inputs["Color2"].default_value = (*color_b, 1.0)
        texture.inputs["Scale"].default_value = scale
        links.new(texture.outputs["Color"], bsdf.inputs["Base Color"])
        return material
    texture = nodes.new("ShaderNodeTexWave" if kind == "stripes" else "ShaderNodeTexNoise")
    texture.inputs["Scale"].default_value = scale
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (*color_a, 1.0)
    ramp.color_ramp.elements[1].color = (*color_b, 1.0)
    links.new(texture.outputs["Fac"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    return material


def _assign(obj: bpy.types.Object, material: bpy.types.Material) -> bpy.types.Object:
    obj.data.materials.clear()
    obj.data.materials.append(material)
    return obj


def _smooth(obj: bpy.types.Object, levels: int = 1) -> bpy.types.Object:
    modifier = obj.modifiers.new("subsurf", "SUBSURF")
    modifier.levels = modifier.render_levels = levels
    for polygon in obj.data.polygons:
        polygon.use_smooth = True
    return obj


# ---------------------------------------------------------------------------------------------- scenes
def _world(color: Color, strength: float) -> None:
    world = bpy.data.worlds.new("world")
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (*color, 1.0)
    background.inputs["Strength"].default_value = strength
    bpy.context.scene.world = world


def _sun(rotation_deg: tuple[float, float, float], energy: float) -> None:
    bpy.ops.object.light_add(type="SUN", rotation=tuple(math.radians(a) for a in rotation_deg))
    bpy.context.object.data.energy = energy


def build_object(edited: bool) -> list[bpy.types.Object]:
    """A single object: Suzanne on a plinth; the edit recolours and retextures her (clay -> blue checker)."""
    _world((0.55, 0.6, 0.7), 0.8)
    _sun((50, 10, 30), 3.0)
    bpy.ops.mesh.primitive_monkey_add(size=1.6, location=(0, 0, 0.35), rotation=(0, 0, math.radians(20)))
    head = _smooth(bpy.context.object, 1)
    if edited:
        _assign(head, _textured("head_edit", "checker", (0.05, 0.15, 0.8), (0.85, 0.85, 0.9), 6.0))
    else:
        _assign(head, _principled("clay", (0.75, 0.4, 0.2)))
    bpy.ops.mesh.primitive_cylinder_add(radius=0.7, depth=0.5, location=(0, 0, -0.75))
    _assign(bpy.context.object, _principled("plinth", (0.3, 0.3, 0.3), 0.8))
    return [head]


def build_tabletop(edited: bool, only_cube: bool = False) -> list[bpy.types.Object]:
    """Objects on a table; the edit recolours the cube, swaps the sphere for a cone, re-covers the table.

    `only_cube`: the edit changes the cube alone (the local-edit pair; the cube covers ~5% of a view)."""
    cube_edited, edited = edited, edited and not only_cube
    _world((0.7, 0.7, 0.75), 0.7)
    _sun((40, -20, 60), 3.5)
    bpy.ops.mesh.primitive_cube_add(size=1, location=(0, 0, -0.1), scale=(3.0, 2.2, 0.2))
    table = bpy.context.object
    if edited:
        _assign(table, _textured("cloth", "checker", (0.8, 0.1, 0.1), (0.95, 0.95, 0.9), 8.0))
    else:
        _assign(table, _textured("wood", "stripes", (0.45, 0.28, 0.12), (0.6, 0.4, 0.2), 3.0))
    bpy.ops.mesh.primitive_cube_add(size=0.7, location=(-0.8, 0.4, 0.35), rotation=(0, 0, math.radians(25)))
    cube = bpy.context.object
    if cube_edited:
        _assign(cube, _textured("gold", "noise", (0.9, 0.7, 0.1), (0.6, 0.35, 0.05), 6.0))
    else:
        _assign(cube, _principled("red", (0.8, 0.1, 0.1)))
    if edited:
        bpy.ops.mesh.primitive_cone_add(radius1=0.45, depth=1.0, location=(0.7, 0.3, 0.5))
        _assign(bpy.context.object, _principled("purple", (0.5, 0.1, 0.7)))
    else:
        bpy.ops.mesh.primitive_uv_sphere_add(radius=0.45, location=(0.7, 0.3, 0.45))
        _assign(_smooth(bpy.context.object, 1), _principled("green", (0.1, 0.7, 0.2)))
    bpy.ops.mesh.primitive_cylinder_add(radius=0.3, depth=0.9, location=(0.1, -0.6, 0.45))
    _assign(bpy.context.object, _principled("blue", (0.1, 0.25, 0.8) if not edited else (0.1, 0.6, 0.6)))
    return [cube] if only_cube else [ob for ob in bpy.context.scene.objects if ob.type == "MESH"]


def build_room(edited: bool) -> list[bpy.types.Object]:
    """A room seen from inside; the edit papers the walls, changes the floor and swaps a box for a ball."""
    bpy.ops.mesh.primitive_cube_add(size=1, location=(0, 0, 1.5), scale=(6.0, 6.0, 3.0))
    room = bpy.context.object
    walls = (
        _textured("wallpaper", "stripes", (0.2, 0.5, 0.3), (0.85, 0.8, 0.6), 4.0)
        if edited
        else _principled("plaster", (0.8, 0.78, 0.72), 0.9)
    )
    floor = (
        _textured("tiles", "checker", (0.1, 0.1, 0.1), (0.9, 0.9, 0.9), 6.0)
        if edited
        else _textured("planks", "stripes", (0.4, 0.25, 0.1), (0.55, 0.35, 0.15), 5.0)
    )
    room.data.materials.append(walls)
    room.data.materials.append(floor)
    for polygon in room.data.polygons:  # the face whose normal points down is the floor
        polygon.material_index = 1 if polygon.normal.z < -0.5 else 0
    bpy.ops.object.light_add(type="POINT", location=(0.5, -0.5, 2.7))
    bpy.context.object.data.energy = 120.0
    bpy.context.object.data.shadow_soft_size = 0.5
    bpy.ops.object.light_add(type="POINT", location=(-1.5, 1.5, 2.5))
    bpy.context.object.data.energy = 50.0
    bpy.ops.mesh.primitive_cube_add(size=1, location=(2.0, 1.0, 0.4), scale=(1.6, 0.8, 0.8))
    _assign(bpy.context.object, _principled("sofa", (0.2, 0.3, 0.7) if not edited else (0.75, 0.2, 0.45)))
    if edited:
        bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(-1.8, -1.5, 0.5))
        _assign(_smooth(bpy.context.object, 1), _principled("ball", (0.9, 0.6, 0.1)))
    else:
        bpy.ops.mesh.primitive_cube_add(size=0.9, location=(-1.8, -1.5, 0.45))
        _assign(bpy.context.object, _principled("crate", (0.6, 0.45, 0.25)))
    bpy.ops.mesh.primitive_cylinder_add(radius=0.25, depth=1.8, location=(-2.2, 2.2, 0.9))
    _assign(bpy.context.object, _principled("column", (0.9, 0.9, 0.9)))
    return [ob for ob in bpy.context.scene.objects if ob.type == "MESH"]


BUILDERS: dict[str, Callable[[bool], list[bpy.types.Object]]] = {
    "object": build_object,
    "tabletop": build_tabletop,
    "room": build_room,
    "tabletop_local": lambda edited: build_tabletop(edited, only_cube=True),
}


# ---------------------------------------------------------------------------------------------- cameras
def _look_at(eye: Vector, target: Vector) -> Matrix:
    """camera-to-world for a camera at `eye` looking at `target` with world +Z up (Blender: looks down -Z)."""
    rotation = (target - eye).to_track_quat("-Z", "Y").to_matrix().to_4x4()
    return Matrix.Translation(eye) @ rotation


def orbit_cameras(count: int, radius: float, elevations: tuple[float, float], target: Vector, phase: float):
    """Views on a spherical band around `target`, spread by a golden-angle spiral; `phase` turns them."""
    golden = math.pi * (3.0 - math.sqrt(5.0))
    poses = []
    for i in range(count):
        t = (i + 0.5) / count
        elevation = math.radians(elevations[0] + t * (elevations[1] - elevations[0]))
        azimuth = i * golden + phase
        eye = target + radius * Vector(
            (
                math.cos(elevation) * math.cos(azimuth),
                math.cos(elevation) * math.sin(azimuth),
                math.sin(elevation),
            )
        )
        poses.append(_look_at(eye, target))
    return poses


def inside_cameras(count: int, seed: int):
    """Views from inside the room: eyes near its centre, looking outwards at evenly spread headings."""
    rng = random.Random(seed)
    poses = []
    for i in range(count):
        heading = 2 * math.pi * (i + rng.uniform(-0.3, 0.3)) / count
        eye = Vector((rng.uniform(-0.7, 0.7), rng.uniform(-0.7, 0.7), rng.uniform(1.2, 1.8)))
        target = eye + Vector((math.cos(heading), math.sin(heading), rng.uniform(-0.45, 0.1)))
        poses.append(_look_at(eye, target))
    return poses


def camera_poses(scene: str, views: int, heldout: int) -> tuple[list[Matrix], list[Matrix]]:
    """(training, held-out) camera-to-world matrices; held-out views sit between the training ones."""
    if scene == "room":
        return inside_cameras(views, seed=1), inside_cameras(heldout, seed=2)
    radius, elevations = (3.4, (5.0, 55.0)) if scene == "object" else (4.4, (20.0, 60.0))  # tabletop*
    target = Vector((0.0, 0.0, 0.2))
    return (
        orbit_cameras(views, radius, elevations, target, phase=0.0),
        orbit_cameras(heldout, radius, (elevations[0] + 5, elevations[1] - 5), target, phase=0.7),
    )


# ---------------------------------------------------------------------------------------------- rendering
def _setup_render(size: int, samples: int) -> None:
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = True  # OpenImageDenoise: clean references at few samples
    scene.cycles.denoiser = "OPENIMAGEDENOISE"
    scene.cycles.seed = 0
    scene.cycles.max_bounces = 3  # enough light transport for these scenes, and the room renders fast
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.color_depth = "8"
    scene.view_settings.view_transform = "Standard"


def camera_objects(poses: list[Matrix], lens: float, prefix: str) -> list[bpy.types.Object]:
    """Camera objects at `poses` (35 mm sensor, AUTO fit), linked into the scene."""
    cameras = []
    for index, pose in enumerate(poses):
        data = bpy.data.cameras.new(f"{prefix}{index:03d}")
        data.lens, data.sensor_width, data.sensor_fit = lens, 36.0, "AUTO"
        data.clip_end = 1000.0
        camera = bpy.data.objects.new(f"{prefix}{index:03d}", data)
        bpy.context.scene.collection.objects.link(camera)
        camera.matrix_world = pose
        cameras.append(camera)
    return cameras


def render_set(
    poses: list[Matrix],
    out_dir: Path,
    size: int,
    lens: float,
    edited_objects: list,
    for_textures: bool = False,
) -> None:
    """Capture `poses` of the current scene into `out_dir` with the extension's capture: RGBA colour,
    depth, and masks of `edited_objects` (`for_textures`: also their surfaces and the views' light maps)."""
    cameras = camera_objects(poses, lens, "camera")
    result = capture.capture(
        bpy.context,
        cameras,
        str(out_dir),
        max_size=size,
        masks_of=edited_objects,
        with_masks=True,
        with_depth=True,
        transparent_background=True,
        with_lights=for_textures,
        surfaces_of=edited_objects if for_textures else (),
    )
    meta = {"camera_model": "OPENCV", **result.transforms}
    (out_dir / "transforms.json").write_text(json.dumps(meta, indent=1))
    for camera in cameras:
        bpy.data.objects.remove(camera)


def render_pair(
    scene_name: str, out: Path, size: int, views: int, heldout: int, samples: int, for_textures: bool = False
) -> None:
    base_name = scene_name.removesuffix("_local")
    train, held = camera_poses(base_name, views, heldout)
    lens = 20.0 if base_name == "room" else 35.0
    for edited in (False, True):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        _setup_render(size, samples)
        edited_objects = BUILDERS[scene_name](edited)
        suffix = "_edited" if edited else ""
        render_set(train, out / f"train{suffix}", size, lens, edited_objects, for_textures)
        render_set(held, out / f"heldout{suffix}", size, lens, edited_objects)


def capture_arguments(scenes: tuple[str, ...]) -> argparse.ArgumentParser:
    """The options both capture scripts take (this one and benchmarks/recon/capture_scenes.py)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", choices=scenes, required=True, help="which scene")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--views", type=int, default=24, help="training cameras per scene")
    parser.add_argument("--heldout", type=int, default=6, help="held-out cameras per scene (measuring only)")
    parser.add_argument("--samples", type=int, default=32, help="Cycles samples per pixel")
    return parser


def main(argv: list[str]) -> None:
    parser = capture_arguments(SCENES)
    parser.add_argument(
        "--for-textures",
        action="store_true",
        help="training sets also carry the edited objects' surfaces and light maps (the bake's input)",
    )
    args = parser.parse_args(argv)
    render_pair(args.scene, args.out, args.size, args.views, args.heldout, args.samples, args.for_textures)


if __name__ == "__main__":
    main(sys.argv[1:])
