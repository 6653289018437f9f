"""Benchmark the Blender side: preview texture updates at 512x512, importing a 1M-point cloud, and capture.

The capture benchmark renders a small scene (Cycles, the scene's own 32 samples) from 24 rig views at
512x512 twice: colour renders alone (what any capture costs), then `capture.capture` with alpha, depth and
masks (the colour renders plus one 1-sample data render per view), and prints both times and the ratio;
then the capture for textures (light passes in the colour render, surfaces of the objects) and its cost.

Prints figures; asserts nothing. Run with the venv's Python (bpy from PyPI, headless):

    BLENDER_USER_RESOURCES=$(mktemp -d) .venv/bin/python benchmarks/bench_blender.py [--points 1000000]
    BLENDER_USER_RESOURCES=$(mktemp -d) .venv/bin/python benchmarks/bench_blender.py --only capture
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bpy  # noqa: E402

from blender_in2n import capture, data_passes, png, previews, rig, scene_import  # noqa: E402


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times: list[float]) -> None:
    ms = [t * 1000.0 for t in times]
    print(f"{label:<52} median {statistics.median(ms):8.2f} ms   min {min(ms):8.2f} ms   n={len(ms)}")


def bench_preview(size: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (size, size, 4), dtype=np.uint8) for _ in range(4)]
    pngs = [png.encode_png(frame) for frame in frames]
    floats = [np.ascontiguousarray(frame[::-1].reshape(-1), dtype=np.float32) / 255.0 for frame in frames]
    previews.show_png(previews.PREVIEW_IMAGE, pngs[0])  # create it once
    counter = iter(range(10**9))
    report(
        f"preview {size}x{size}: foreach_set into the reused image",
        timed(
            lambda: previews.update_image(previews.PREVIEW_IMAGE, size, size, floats[next(counter) % 4]),
            repeats,
        ),
    )
    report(
        f"preview {size}x{size}: PNG decode (Blender) + update",
        timed(lambda: previews.show_png(previews.PREVIEW_IMAGE, pngs[next(counter) % 4]), repeats),
    )
    image = bpy.data.images[previews.PREVIEW_IMAGE]
    print(f"{'':<52} images in file: {len(bpy.data.images)}, preview packed: {image.packed_file is not None}")


def write_cloud(path: str, count: int) -> None:
    rng = np.random.default_rng(0)
    vertex = np.empty(
        count, [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
    )
    points = rng.normal(size=(count, 3)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    vertex["x"], vertex["y"], vertex["z"] = points.T
    colors = rng.integers(0, 256, (count, 3), dtype=np.uint8)
    vertex["red"], vertex["green"], vertex["blue"] = colors.T
    header = (
        f"ply\nformat binary_little_endian 1.0\nelement vertex {count}\nproperty float x\nproperty float y\n"
        "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    with open(path, "wb") as fh:
        fh.write(header.encode() + vertex.tobytes())


def bench_import(count: int, repeats: int) -> None:
    directory = tempfile.mkdtemp(prefix="in2n-bench-")
    path = os.path.join(directory, "cloud.ply")
    write_cloud(path, count)
    imports, evaluations = [], []
    for i in range(repeats):
        start = time.perf_counter()
        ob = scene_import.import_geometry(path, kind="point_cloud", name=f"Bench Cloud {i}")
        imports.append(time.perf_counter() - start)
        start = time.perf_counter()
        geometry = ob.evaluated_get(bpy.context.evaluated_depsgraph_get()).evaluated_geometry()
        points = len(geometry.pointcloud.points)
        evaluations.append(time.perf_counter() - start)
        if points != count:
            raise SystemExit(f"expected {count} points, got {points}")
        mesh = ob.data
        bpy.data.objects.remove(ob)
        bpy.data.meshes.remove(mesh)
    report(f"import {count:,} points (PLY + nodes + material)", imports)
    report(f"evaluate {count:,} points (Mesh to Points)", evaluations)
    os.remove(path)
    os.rmdir(directory)


def capture_scene(samples: int) -> list:
    """A small scene: a rotated cube, a sphere and a cylinder on a floor, lit by the world and a sun."""
    for ob in list(bpy.data.objects):
        bpy.data.objects.remove(ob)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.render.resolution_x = scene.render.resolution_y = 512
    bpy.ops.mesh.primitive_plane_add(size=6.0, location=(0.0, 0.0, -1.0))
    bpy.ops.mesh.primitive_cube_add(size=1.4, location=(0.5, -0.3, -0.3), rotation=(0.0, 0.0, 0.6))
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(-0.7, 0.6, -0.4))
    bpy.ops.mesh.primitive_cylinder_add(radius=0.3, depth=1.5, location=(0.9, 1.0, -0.25))
    bpy.ops.object.light_add(type="SUN", rotation=(0.6, 0.2, 0.0))
    targets = [ob for ob in scene.objects if ob.type == "MESH" and not ob.name.startswith("Plane")]
    for ob in scene.objects:
        ob.select_set(ob in targets)
    return targets


def bench_capture(views: int, size: int, samples: int) -> None:
    """Colour renders alone vs `capture.capture` with alpha, depth and masks (the ratio), and the capture for
    textures (light passes and surfaces on top)."""
    targets = capture_scene(samples)
    context = bpy.context
    scene = context.scene
    cameras = rig.make_rig(context, "HEMISPHERE", views, 0.0)
    directory = tempfile.mkdtemp(prefix="in2n-bench-capture-")
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.image_settings.file_format = "PNG"
    scene.camera = cameras[0]
    bpy.ops.render.render()  # warm-up: kernels, scene sync
    start = time.perf_counter()
    for i, ob in enumerate(cameras):
        scene.camera = ob
        scene.render.filepath = os.path.join(directory, "plain", f"{i:04d}.png")
        bpy.ops.render.render(write_still=True)
    colour = time.perf_counter() - start
    data_seconds = _time_data_renders()
    start = time.perf_counter()
    result = capture.capture(
        context,
        cameras,
        os.path.join(directory, "full"),
        max_size=size,
        masks_of=targets,
        with_masks=True,
        with_depth=True,
    )
    full = time.perf_counter() - start
    if len(result.depths) != views or len(result.masks) != views:
        raise SystemExit("the capture did not write every depth map and mask")
    start = time.perf_counter()
    textured = capture.capture(
        context,
        cameras,
        os.path.join(directory, "textures"),
        max_size=size,
        masks_of=targets,
        with_masks=True,
        with_depth=True,
        with_lights=True,
        surfaces_of=targets,
    )
    for_textures = time.perf_counter() - start
    if len(textured.lights) != views or not textured.surfaces:
        raise SystemExit("the capture for textures did not write every light map and the surfaces")
    label = f"capture {views} views {size}x{size}, Cycles {samples} samples"
    print(f"{label}: colour renders alone {colour:7.1f} s ({colour / views:.2f} s/view)")
    print(f"{label}: colour+alpha+depth+masks {full:7.1f} s ({full / views:.2f} s/view)")
    print(f"{label}: of which data renders (depth+masks) {data_seconds[0]:7.1f} s")
    print(f"{label}: ratio {full / colour:.2f}")
    per_view = for_textures / views
    print(f"{label}: for textures (+ light passes, surfaces) {for_textures:7.1f} s ({per_view:.2f} s/view)")
    print(f"{label}: light passes cost {for_textures / full - 1.0:+.1%} over colour+alpha+depth+masks")


def _time_data_renders() -> list[float]:
    """Wrap `data_passes.render_data_maps` so the seconds spent producing its maps add up in the list."""
    original = data_passes.render_data_maps
    spent = [0.0]

    def timed(*args, **kwargs):
        maps = original(*args, **kwargs)
        while True:
            start = time.perf_counter()
            try:
                item = next(maps)
            except StopIteration:
                spent[0] += time.perf_counter() - start
                return
            spent[0] += time.perf_counter() - start
            yield item

    data_passes.render_data_maps = timed
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--points", type=int, default=1_000_000, help="points of the imported cloud")
    parser.add_argument("--repeats", type=int, default=20, help="repetitions per timing (median reported)")
    parser.add_argument("--views", type=int, default=24, help="capture benchmark: rig views")
    parser.add_argument("--capture-size", type=int, default=512, help="capture benchmark: image side")
    parser.add_argument("--samples", type=int, default=32, help="capture benchmark: the scene's samples")
    parser.add_argument(
        "--only", choices=["all", "preview", "import", "capture"], default="all", help="which timings to run"
    )
    args = parser.parse_args()
    print(f"bpy {bpy.app.version_string}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    if args.only in ("all", "preview"):
        bench_preview(args.size, args.repeats)
    if args.only in ("all", "import"):
        bench_import(args.points, max(3, args.repeats // 5))
    if args.only in ("all", "capture"):
        bench_capture(args.views, args.capture_size, args.samples)


if __name__ == "__main__":
    main()
