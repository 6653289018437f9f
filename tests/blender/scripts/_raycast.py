"""The reference the capture's render passes are checked against: one `scene.ray_cast` per pixel centre.

This is what the extension used to do for masks and depth (W*H Python calls per view, about 5 us each):
exact at the pixel centres and independent of the render engine, so it is the ground truth in the tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mathutils import Matrix, Vector


def ray_cast_maps(context: Any, frame: dict[str, Any], mask_names: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel centre of `frame`: z-depth along the camera's -Z (float64, 0 = no hit) and a bool mask
    (True where an object named in `mask_names` is the first hit)."""
    depsgraph = context.evaluated_depsgraph_get()
    scene = context.scene
    pose = Matrix(frame["transform_matrix"])
    origin = pose.translation
    rotation = pose.to_3x3()
    to_camera = rotation.transposed()
    w, h = frame["w"], frame["h"]
    mask = np.zeros((h, w), bool)
    depth = np.zeros((h, w), np.float64)
    for row in range(h):
        y = -((row + 0.5) - frame["cy"]) / frame["fl_y"]
        for col in range(w):
            x = ((col + 0.5) - frame["cx"]) / frame["fl_x"]
            direction = rotation @ Vector((x, y, -1.0))
            hit, location, _normal, _index, obj, _matrix = scene.ray_cast(
                depsgraph, origin, direction.normalized()
            )
            if not hit:
                continue
            depth[row, col] = -(to_camera @ (location - origin)).z
            source = obj.original if obj is not None else None
            mask[row, col] = source is not None and source.name in mask_names
    return mask, depth
