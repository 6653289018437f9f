"""The extension's own collections in the artist's scene: found or made, linked, emptied of cameras."""

from __future__ import annotations

from typing import Any

import bpy


def linked_collection(scene: Any, name: str) -> Any:
    """The collection `name`, made if missing and linked under `scene`'s master collection if not yet."""
    collection = bpy.data.collections.get(name)
    if collection is None:
        collection = bpy.data.collections.new(name)
    if collection.name not in scene.collection.children:
        scene.collection.children.link(collection)
    return collection


def remove_cameras(collection: Any) -> None:
    """Delete the objects of `collection` (cameras the extension made) and their data nobody else uses."""
    for ob in list(collection.objects):
        data = ob.data
        bpy.data.objects.remove(ob)
        if data is not None and data.users == 0:
            bpy.data.cameras.remove(data)
