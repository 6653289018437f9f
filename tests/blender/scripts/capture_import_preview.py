"""Capture a rig with masks and depth, import point cloud and mesh PLYs, and update a preview in place."""

from __future__ import annotations

import os
import struct
import sys
import tempfile

import bpy
import numpy as np
from _common import emit
from mathutils import Matrix, Vector

from blender_in2n import capture, png, previews, rig, scene_import
from blender_in2n.protocol import wire

work = tempfile.mkdtemp(prefix="in2n-capture-test-")
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 4
scene.cycles.device = "CPU"
scene.render.resolution_x, scene.render.resolution_y = 640, 480
cube = scene.objects["Cube"]
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(3.0, 0.0, 0.0))
sphere = bpy.context.active_object
for ob in scene.objects:
    ob.select_set(ob.name in {"Cube", sphere.name})
context = bpy.context

# -- capture ------------------------------------------------------------------------------------------------
cameras = rig.make_rig(context, "HEMISPHERE", 4, 0.0)
cameras_again = rig.make_rig(context, "ORBIT", 4, 9.0)  # replaces the first rig
rig_count = len(bpy.data.collections[rig.RIG_COLLECTION].objects)
result = capture.capture(
    context,
    cameras_again,
    os.path.join(work, "cap"),
    max_size=40,
    masks_of=[cube],
    with_masks=True,
    with_depth=True,
)
frames = result.transforms["frames"]
for i, frame in enumerate(frames):
    wire.check_camera(frame, f"frames[{i}]")
sizes = []
for path in result.images:
    image = bpy.data.images.load(path)
    sizes.append(tuple(image.size))
    bpy.data.images.remove(image)


def read_png_gray(path: str) -> np.ndarray:
    image = bpy.data.images.load(path)
    image.colorspace_settings.name = "Non-Color"
    w, h = image.size
    pixels = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(pixels)
    bpy.data.images.remove(image)
    return pixels.reshape(h, w, 4)[::-1, :, 0]  # top row first


# The cube's centre projects (with our intrinsics) onto a masked pixel whose depth is in front of the centre.
center_checks = []
for frame, mask_path, depth_path in zip(frames, result.masks, result.depths, strict=True):
    mask = read_png_gray(mask_path)
    depth = np.load(depth_path, allow_pickle=False)  # float32 z-depth in metres, 0 = nothing hit
    world_to_camera = Matrix(frame["transform_matrix"]).inverted()
    p = world_to_camera @ Vector((0.0, 0.0, 0.0))
    u = frame["fl_x"] * p.x / -p.z + frame["cx"]
    v = frame["cy"] - frame["fl_y"] * p.y / -p.z
    row, col = int(v), int(u)
    center_checks.append(
        {
            "mask": float(mask[row, col]),
            "depth_m": float(depth[row, col]),
            "center_depth_m": -p.z,
            "mask_fraction": float((mask > 0.5).mean()),
            "sphere_pixels_unmasked": bool(((mask < 0.5) & (depth > 0)).any()),
        }
    )
scene_after = {
    "camera": scene.camera.name if scene.camera else None,
    "resolution": [scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage],
}

# -- import ---------------------------------------------------------------------------------------
rng = np.random.default_rng(0)
n = 20000
points = rng.uniform(-1.0, 1.0, (n, 3)).astype(np.float32)
axis = rng.integers(0, 3, n)
points[np.arange(n), axis] = np.sign(rng.uniform(-1, 1, n))  # on the cube's faces
colors = rng.integers(0, 256, (n, 3)).astype(np.uint8)
vertex = np.empty(
    n, [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
)
vertex["x"], vertex["y"], vertex["z"] = points.T
vertex["red"], vertex["green"], vertex["blue"] = colors.T
cloud_path = os.path.join(work, "cloud.ply")
with open(cloud_path, "wb") as fh:
    header = (
        f"ply\nformat binary_little_endian 1.0\nelement vertex {n}\nproperty float x\nproperty float y\n"
        "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    fh.write(header.encode() + vertex.tobytes())
cloud = scene_import.import_geometry(cloud_path, kind="point_cloud", name="Test Cloud")
depsgraph = context.evaluated_depsgraph_get()
evaluated = cloud.evaluated_get(depsgraph)
geometry = evaluated.evaluated_geometry()
pointcloud = geometry.pointcloud
material = cloud.data.materials[0]
attribute_nodes = [node for node in material.node_tree.nodes if node.type == "ATTRIBUTE"]

# A mesh PLY: the unit cube's 8 corners and 12 triangles, coloured.
corners = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
faces = [
    (0, 1, 3),
    (0, 3, 2),
    (4, 6, 7),
    (4, 7, 5),
    (0, 4, 5),
    (0, 5, 1),
    (2, 3, 7),
    (2, 7, 6),
    (0, 2, 6),
    (0, 6, 4),
    (1, 5, 7),
    (1, 7, 3),
]
mesh_path = os.path.join(work, "mesh.ply")
with open(mesh_path, "wb") as fh:
    fh.write(
        b"ply\nformat binary_little_endian 1.0\nelement vertex 8\nproperty float x\nproperty float y\n"
        b"property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
        b"element face 12\nproperty list uchar int vertex_indices\nend_header\n"
    )
    for x, y, z in corners:
        fh.write(struct.pack("<fffBBB", x, y, z, 200, 100, 50))
    for face in faces:
        fh.write(struct.pack("<Biii", 3, *face))
mesh = scene_import.import_geometry(mesh_path, kind="mesh", name="Test Mesh")
try:
    scene_import.import_geometry(os.path.join(work, "missing.ply"), kind="mesh")
    missing_error = ""
except scene_import.ResultImportError as exc:
    missing_error = str(exc)


def world_bounds(ob) -> list:
    lo, hi = rig.world_bounds([ob])
    return [list(lo), list(hi)]


# -- preview --------------------------------------------------------------------------------------
images_before = len(bpy.data.images)
red = np.zeros((24, 32, 4), np.uint8)
red[..., 0], red[..., 3] = 255, 255
first = previews.show_png(previews.PREVIEW_IMAGE, png.encode_png(red))
pointer = first.as_pointer()
blue = np.zeros((24, 32, 4), np.uint8)
blue[..., 2], blue[..., 3] = 255, 255
blue[0, 0] = (0, 255, 0, 255)  # the top-left pixel: Blender stores rows bottom first
second = previews.show_png(previews.PREVIEW_IMAGE, png.encode_png(blue))
pixels = np.empty(32 * 24 * 4, np.float32)
second.pixels.foreach_get(pixels)
pixels = pixels.reshape(24, 32, 4)
bigger = previews.show_png(previews.PREVIEW_IMAGE, png.encode_png(np.full((48, 64, 4), 255, np.uint8)))
previews.set_camera_background(cameras_again[0], bigger)
previews.set_camera_background(cameras_again[0], bigger)  # reused, not duplicated
try:
    previews.show_png(previews.PREVIEW_IMAGE, b"not a png")
    bad_png_error = ""
except previews.PreviewError as exc:
    bad_png_error = str(exc)

emit(
    {
        "num_frames": len(frames),
        "rig_count": rig_count,
        "sizes": sizes,
        "frame_size": [frames[0]["w"], frames[0]["h"]],
        "num_masks": len(result.masks),
        "num_depths": len(result.depths),
        "mask_paths": [f.get("mask_path") for f in frames],
        "center_checks": center_checks,
        "scene_after": scene_after,
        "cloud": {
            "collection": [c.name for c in cloud.users_collection],
            "modifier": [m.type for m in cloud.modifiers],
            "points": len(pointcloud.points) if pointcloud is not None else 0,
            "attribute": attribute_nodes[0].attribute_name if attribute_nodes else "",
            "bounds": world_bounds(cloud),
            "matrix_identity": cloud.matrix_world == Matrix.Identity(4),
            "point_material": [m.name for m in pointcloud.materials] if pointcloud is not None else [],
        },
        "mesh": {
            "collection": [c.name for c in mesh.users_collection],
            "faces": len(mesh.data.polygons),
            "material": mesh.data.materials[0].name if mesh.data.materials else "",
            "bounds": world_bounds(mesh),
        },
        "cube_bounds": world_bounds(cube),
        "missing_error": missing_error,
        "preview": {
            "same_datablock": first.as_pointer() == pointer == second.as_pointer() == bigger.as_pointer(),
            "images_added": len(bpy.data.images) - images_before,
            "top_left": pixels[23, 0].tolist(),
            "bottom_right": pixels[0, 31].tolist(),
            "size_after_resize": list(bigger.size),
            "packed": bigger.packed_file is not None,
            "backgrounds": len(cameras_again[0].data.background_images),
            "bad_png_error": bad_png_error,
        },
    }
)
sys.stdout.flush()
