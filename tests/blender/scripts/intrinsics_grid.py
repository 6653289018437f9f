"""Project a grid of points with our intrinsics/pose and with Blender's world_to_camera_view; report errors.

Covers every sensor fit, landscape / portrait / square images, resolution percentages other than 100, pixel
aspect ratios and lens shifts, with a rotated and scaled camera. Percentages are chosen so the render size is
an integer (world_to_camera_view uses the unscaled size; the renderer rounds, as camera_math does).
"""

from __future__ import annotations

import itertools

import bpy
from _common import emit
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Euler, Matrix, Vector

from blender_in2n import camera_math

scene = bpy.context.scene
render = scene.render
camera = scene.objects["Camera"]
worst_projection = 0.0
worst_matrix = 0.0
worst_roundtrip = 0.0
cases = 0
for fit, (rx, ry), percentage, (ax, ay), (sx, sy), lens in itertools.product(
    ("AUTO", "HORIZONTAL", "VERTICAL"),
    ((640, 480), (480, 640), (400, 400)),
    (100, 50, 150),
    ((1, 1), (2, 1), (1, 3)),
    ((0.0, 0.0), (0.2, -0.1), (-0.15, 0.3)),
    (35.0, 85.0),
):
    render.resolution_x, render.resolution_y, render.resolution_percentage = rx, ry, percentage
    render.pixel_aspect_x, render.pixel_aspect_y = ax, ay
    camera.data.sensor_fit = fit
    camera.data.shift_x, camera.data.shift_y = sx, sy
    camera.data.lens, camera.data.sensor_width, camera.data.sensor_height = lens, 36.0, 20.0
    rotation = Euler((1.2, 0.1, 0.3 + 0.01 * cases)).to_quaternion()
    camera.matrix_world = Matrix.LocRotScale(Vector((1.0, -5.0, 2.0)), rotation, Vector((2.0, 1.0, 0.5)))
    bpy.context.view_layer.update()
    frame = camera_math.camera_from_blender(camera, render)
    pose = Matrix(frame["transform_matrix"])
    for i, j, depth in itertools.product(range(-4, 5), range(-4, 5), (1.5, 4.0, 20.0)):
        point_camera = Vector((i * 0.08 * depth, j * 0.08 * depth, -depth))
        u, v, _z = world_to_camera_view(scene, camera, pose @ point_camera)
        px = frame["fl_x"] * point_camera.x / depth + frame["cx"]
        py = frame["cy"] - frame["fl_y"] * point_camera.y / depth
        error = max(abs(px - u * frame["w"]), abs(py - (1.0 - v) * frame["h"]))
        worst_projection = max(worst_projection, error)
    # Blender's projection matrix for the render size gives the same intrinsics.
    projection = camera.calc_matrix_camera(
        bpy.context.evaluated_depsgraph_get(), x=frame["w"], y=frame["h"], scale_x=ax, scale_y=ay
    )
    from_matrix = camera_math.intrinsics_from_projection(projection, frame["w"], frame["h"]).as_dict()
    worst_matrix = max(worst_matrix, *(abs(from_matrix[k] - frame[k]) for k in ("fl_x", "fl_y", "cx", "cy")))
    # Server datasets: intrinsics -> Blender settings -> intrinsics.
    back = camera_math.blender_settings(
        frame["fl_x"], frame["fl_y"], frame["cx"], frame["cy"], frame["w"], frame["h"]
    )
    again = camera_math.intrinsics(
        lens=back.lens,
        sensor_width=back.sensor_width,
        sensor_height=back.sensor_width,
        sensor_fit=back.sensor_fit,
        width=back.resolution_x,
        height=back.resolution_y,
        pixel_aspect_x=back.pixel_aspect_x,
        pixel_aspect_y=back.pixel_aspect_y,
        shift_x=back.shift_x,
        shift_y=back.shift_y,
    ).as_dict()
    worst_roundtrip = max(worst_roundtrip, *(abs(again[k] - frame[k]) for k in ("fl_x", "fl_y", "cx", "cy")))
    cases += 1

# The pose is the world matrix without scale: rotation and translation equal Blender's, determinant 1.
loc, rot, _scale = camera.matrix_world.decompose()
pose = Matrix(camera_math.pose_without_scale(camera.matrix_world))
pose_error = max(
    (pose.to_translation() - loc).length,
    max(
        abs(a - b)
        for ra, rb in zip(pose.to_3x3(), rot.to_matrix(), strict=True)
        for a, b in zip(ra, rb, strict=True)
    ),
)
emit(
    {
        "cases": cases,
        "worst_projection_px": worst_projection,
        "worst_projection_matrix_px": worst_matrix,
        "worst_roundtrip_px": worst_roundtrip,
        "pose_error": pose_error,
        "pose_det": pose.to_3x3().determinant(),
    }
)
