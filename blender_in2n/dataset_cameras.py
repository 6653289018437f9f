"""A server dataset's cameras as Blender camera objects, in their own collection."""

from __future__ import annotations

from typing import Any

import bpy
from mathutils import Matrix

from . import camera_math
from .scene_collections import linked_collection, remove_cameras

DATASET_COLLECTION = "In2N Dataset Cameras"


def show_dataset_cameras(context: Any, cameras: list[dict[str, Any]]) -> list[Any]:
    """Create camera objects for a server dataset's cameras (replacing earlier ones) in their collection."""
    collection = linked_collection(context.scene, DATASET_COLLECTION)
    remove_cameras(collection)
    created = []
    for i, cam in enumerate(cameras):
        settings = camera_math.blender_settings(
            cam["fl_x"], cam["fl_y"], cam["cx"], cam["cy"], cam["w"], cam["h"]
        )
        data = bpy.data.cameras.new(f"In2N Dataset {i:03d}")
        data.lens = settings.lens
        data.sensor_width = settings.sensor_width
        data.sensor_fit = settings.sensor_fit
        data.shift_x, data.shift_y = settings.shift_x, settings.shift_y
        ob = bpy.data.objects.new(f"In2N Dataset {i:03d}", data)
        ob.matrix_world = Matrix(cam["transform_matrix"])
        collection.objects.link(ob)
        created.append(ob)
        if i == 0:
            render = context.scene.render
            render.resolution_x, render.resolution_y = settings.resolution_x, settings.resolution_y
            render.resolution_percentage = 100
            render.pixel_aspect_x, render.pixel_aspect_y = settings.pixel_aspect_x, settings.pixel_aspect_y
    return created
