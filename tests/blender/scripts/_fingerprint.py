"""Fingerprints of Blender data for "left byte-identical" checks: every value an edit could change, hashed.

Arrays come out with `foreach_get`; node trees as their nodes' types, names, input values and links.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np


def _array(collection: Any, attribute: str, per_item: int, dtype: type) -> list:
    values = np.empty(len(collection) * per_item, dtype)
    collection.foreach_get(attribute, values)
    return values.tolist()


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def mesh(me: Any) -> str:
    """Vertices, edges, loops, faces, UV maps (with which is active), attributes and materials."""
    return _digest(
        {
            "name": me.name,
            "co": _array(me.vertices, "co", 3, np.float32),
            "edges": _array(me.edges, "vertices", 2, np.int32),
            "loops": _array(me.loops, "vertex_index", 1, np.int32),
            "loop_edges": _array(me.loops, "edge_index", 1, np.int32),
            "faces": _array(me.polygons, "loop_start", 1, np.int32),
            "face_sizes": _array(me.polygons, "loop_total", 1, np.int32),
            "face_materials": _array(me.polygons, "material_index", 1, np.int32),
            "uv_maps": [
                (uv.name, uv.active, uv.active_render, _array(uv.data, "uv", 2, np.float32))
                for uv in me.uv_layers
            ],
            "attributes": sorted((a.name, a.domain, a.data_type) for a in me.attributes),
            "materials": [m.name if m else None for m in me.materials],
        }
    )


def material(mat: Any) -> str:
    """The material's settings and its node tree: nodes, their inputs' values, images, links."""
    nodes = []
    tree = mat.node_tree
    for node in tree.nodes if tree else ():
        inputs = []
        for socket in node.inputs:
            value = getattr(socket, "default_value", None)
            inputs.append((socket.identifier, list(value) if hasattr(value, "__len__") else value))
        image = getattr(node, "image", None)
        nodes.append((node.bl_idname, node.name, list(node.location), inputs, image.name if image else None))
    links = [
        (link.from_node.name, link.from_socket.identifier, link.to_node.name, link.to_socket.identifier)
        for link in (tree.links if tree else ())
    ]
    return _digest({"name": mat.name, "diffuse": list(mat.diffuse_color), "nodes": nodes, "links": links})


def image(img: Any) -> str:
    """The image's name, source, size, colour space and every pixel."""
    pixels = np.empty(len(img.pixels), np.float32)
    img.pixels.foreach_get(pixels)
    return _digest(
        {
            "name": img.name,
            "source": img.source,
            "filepath": img.filepath,
            "size": list(img.size),
            "colorspace": img.colorspace_settings.name,
            "pixels": hashlib.sha256(pixels.tobytes()).hexdigest(),
        }
    )


def obj(ob: Any) -> str:
    """The object's placement, data, modifiers, material slots, collections and custom properties."""
    return _digest(
        {
            "name": ob.name,
            "data": ob.data.name if ob.data else None,
            "matrix": [list(row) for row in ob.matrix_world],
            "parent": ob.parent.name if ob.parent else None,
            "modifiers": [(m.name, m.type, m.show_viewport, m.show_render) for m in ob.modifiers],
            "slots": [(s.link, s.material.name if s.material else None) for s in ob.material_slots],
            "collections": sorted(c.name for c in ob.users_collection),
            "properties": sorted(ob.keys()),
            "hide": [ob.hide_render, ob.hide_viewport, ob.hide_get()],
        }
    )


def scene_data(objects: list[Any]) -> dict[str, str]:
    """Fingerprints of the objects, their meshes, their materials and the images those use."""
    found: dict[str, str] = {}
    for ob in objects:
        found[f"object:{ob.name}"] = obj(ob)
        found[f"mesh:{ob.data.name}"] = mesh(ob.data)
        for slot in ob.material_slots:
            if slot.material is not None:
                found[f"material:{slot.material.name}"] = material(slot.material)
                for node in slot.material.node_tree.nodes if slot.material.node_tree else ():
                    if getattr(node, "image", None) is not None:
                        found[f"image:{node.image.name}"] = image(node.image)
    return found
