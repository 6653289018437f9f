"""Benchmark the Blender side: preview texture updates at 512x512 and importing a 1M-point cloud.

Prints figures; asserts nothing. Run with the venv's Python (bpy from PyPI, headless):

    BLENDER_USER_RESOURCES=$(mktemp -d) .venv/bin/python benchmarks/bench_blender.py [--points 1000000]
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

from blender_in2n import png, previews, scene_import  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"bpy {bpy.app.version_string}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    bench_preview(args.size, args.repeats)
    bench_import(args.points, max(3, args.repeats // 5))


if __name__ == "__main__":
    main()
