"""Bring the server's exported geometry into Blender, in the scene's own world frame.

The server exports in the frame the cameras were uploaded in (Blender's world frame), so the imported object
gets no transform. A PLY point cloud imports as a vertex-only mesh, which Object mode does not draw: a
Mesh-to-Points geometry node turns it into points and a material reads the per-vertex colour attribute.
Gaussian splats (a PLY in the 3DGS layout) import as native splats where Blender renders them (5.3 and
later); older versions get them as a point cloud coloured by the splats' base colour.
"""

from __future__ import annotations

import math
import os
from typing import Any

import bpy

from . import compat

RESULT_COLLECTION = "In2N Results"
POINTS_NODE_GROUP = "In2N Points"
IMPORTERS = {".ply": "ply", ".obj": "obj", ".glb": "gltf", ".gltf": "gltf"}
SH_C0 = 0.28209479177387814  # the degree-0 spherical harmonic: splat colour (sRGB) = 0.5 + SH_C0 * f_dc
SPLATS_NEED = "native Gaussian splats need Blender 5.3 or later (or the KIRI 3DGS Render add-on)"


class ResultImportError(ValueError):
    """A result file Blender cannot import."""


def import_geometry(path: str, *, kind: str, name: str = "In2N Result", point_radius: float = 0.0) -> Any:
    """Import a point cloud or mesh file into the results collection; returns the new object."""
    if not os.path.isfile(path):
        raise ResultImportError(f"result file {path!r} does not exist")
    extension = os.path.splitext(path)[1].lower()
    if extension not in IMPORTERS:
        raise ResultImportError(f"cannot import {extension!r} files; expected one of {sorted(IMPORTERS)}")
    if kind in ("point_cloud", "splats") and extension != ".ply":
        raise ResultImportError(f"{kind.replace('_', ' ')} results are imported from PLY files")
    before = set(bpy.data.objects)
    importer = IMPORTERS[extension]
    if importer == "ply":
        result = bpy.ops.wm.ply_import(filepath=path)
    elif importer == "obj":
        # The server's frame is Blender's (Z up); the OBJ importer's default axes would rotate it.
        result = bpy.ops.wm.obj_import(filepath=path, forward_axis="Y", up_axis="Z")
    else:
        result = bpy.ops.import_scene.gltf(filepath=path)
    if "FINISHED" not in result:
        raise ResultImportError(f"Blender could not import {os.path.basename(path)}")
    new_objects = [ob for ob in bpy.data.objects if ob not in before and ob.type in ("MESH", "POINTCLOUD")]
    if not new_objects:
        raise ResultImportError(f"{os.path.basename(path)} holds no geometry")
    ob = new_objects[0]
    ob.name = name
    _move_to_collection(ob, results_collection(bpy.context.scene))
    if ob.type == "POINTCLOUD":  # native Gaussian splats: they carry their own radiance
        return ob
    if kind == "splats":  # a Blender without native splats: points with the splats' base colour
        _add_points_modifier(ob, point_radius or _auto_radius(ob), _splat_colour_material(f"{name} Material"))
        return ob
    color = _color_attribute(ob.data)
    if kind == "point_cloud":
        radius = point_radius or _auto_radius(ob)
        _add_points_modifier(ob, radius, _color_material(f"{name} Material", color))
    elif color and (importer != "gltf" or not any(ob.data.materials)):
        # glTF brings its own material for vertex colours from Blender 4.5 on; 4.2 brings none.
        _assign_material(ob, _color_material(f"{name} Material", color))
    return ob


def results_collection(scene: Any) -> Any:
    collection = bpy.data.collections.get(RESULT_COLLECTION)
    if collection is None:
        collection = bpy.data.collections.new(RESULT_COLLECTION)
    if collection.name not in scene.collection.children:
        scene.collection.children.link(collection)
    return collection


def _move_to_collection(ob: Any, collection: Any) -> None:
    for other in list(ob.users_collection):
        other.objects.unlink(ob)
    collection.objects.link(ob)


def _color_attribute(mesh: Any) -> str:
    attributes = mesh.color_attributes
    if attributes.active_color_name:
        return attributes.active_color_name
    return attributes[0].name if len(attributes) else ""


def _auto_radius(ob: Any) -> float:
    """A point radius that roughly closes the gaps between points on the cloud's surface."""
    dims = ob.dimensions
    count = max(len(ob.data.vertices), 1)
    area = 2.0 * (dims.x * dims.y + dims.y * dims.z + dims.z * dims.x) or 1.0
    return max(0.6 * math.sqrt(area / count), 1e-4)


def _empty_material(name: str) -> tuple[Any, Any, Any]:
    """The material `name` (reused by name) with a node tree holding only its output node."""
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    compat.enable_material_nodes(material)
    tree = material.node_tree
    tree.nodes.clear()
    return material, tree, tree.nodes.new("ShaderNodeOutputMaterial")


def _color_material(name: str, attribute: str) -> Any:
    """A material whose base colour is the colour attribute `attribute` (reused by name)."""
    material, tree, output = _empty_material(name)
    shader = tree.nodes.new("ShaderNodeBsdfPrincipled")
    tree.links.new(shader.outputs["BSDF"], output.inputs["Surface"])
    if attribute:
        source = tree.nodes.new("ShaderNodeAttribute")
        source.attribute_type = "GEOMETRY"
        source.attribute_name = attribute
        tree.links.new(source.outputs["Color"], shader.inputs["Base Color"])
    output.location, shader.location = (300, 0), (0, 0)
    return material


def _splat_colour_material(name: str) -> Any:
    """Emission of the splats' base colour, 0.5 + SH_C0 * f_dc (sRGB, decoded to linear with gamma 2.2):
    splats are radiance, so they are shown unlit as Blender 5.3 renders them."""
    material, tree, output = _empty_material(name)
    emission = tree.nodes.new("ShaderNodeEmission")
    combine = tree.nodes.new("ShaderNodeCombineXYZ")
    for channel, socket in enumerate(("X", "Y", "Z")):
        source = tree.nodes.new("ShaderNodeAttribute")
        source.attribute_type = "GEOMETRY"
        source.attribute_name = f"f_dc_{channel}"
        srgb = tree.nodes.new("ShaderNodeMath")
        srgb.operation = "MULTIPLY_ADD"
        srgb.use_clamp = True
        srgb.inputs[1].default_value, srgb.inputs[2].default_value = SH_C0, 0.5
        linear = tree.nodes.new("ShaderNodeMath")
        linear.operation = "POWER"
        linear.inputs[1].default_value = 2.2
        tree.links.new(source.outputs["Fac"], srgb.inputs[0])
        tree.links.new(srgb.outputs[0], linear.inputs[0])
        tree.links.new(linear.outputs[0], combine.inputs[socket])
    tree.links.new(combine.outputs["Vector"], emission.inputs["Color"])
    tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
    return material


def _assign_material(ob: Any, material: Any) -> None:
    ob.data.materials.clear()
    ob.data.materials.append(material)


def _points_node_group() -> Any:
    """Geometry nodes: Group Input -> Mesh to Points(radius) -> Set Material -> Group Output (reused)."""
    group = bpy.data.node_groups.get(POINTS_NODE_GROUP)
    if group is not None:
        return group
    group = bpy.data.node_groups.new(POINTS_NODE_GROUP, "GeometryNodeTree")
    group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    radius_socket = group.interface.new_socket("Radius", in_out="INPUT", socket_type="NodeSocketFloat")
    radius_socket.default_value = 0.01
    radius_socket.min_value = 0.0
    group.interface.new_socket("Material", in_out="INPUT", socket_type="NodeSocketMaterial")
    group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = group.nodes, group.links
    group_in = nodes.new("NodeGroupInput")
    group_out = nodes.new("NodeGroupOutput")
    to_points = nodes.new("GeometryNodeMeshToPoints")
    set_material = nodes.new("GeometryNodeSetMaterial")
    links.new(group_in.outputs["Geometry"], to_points.inputs["Mesh"])
    links.new(group_in.outputs["Radius"], to_points.inputs["Radius"])
    links.new(to_points.outputs["Points"], set_material.inputs["Geometry"])
    links.new(group_in.outputs["Material"], set_material.inputs["Material"])
    links.new(set_material.outputs["Geometry"], group_out.inputs["Geometry"])
    for i, node in enumerate((group_in, to_points, set_material, group_out)):
        node.location = (200 * i, 0)
    return group


def _add_points_modifier(ob: Any, radius: float, material: Any) -> None:
    modifier = ob.modifiers.new("In2N Points", "NODES")
    modifier.node_group = _points_node_group()
    for item in modifier.node_group.interface.items_tree:
        if getattr(item, "in_out", "") != "INPUT":
            continue
        if item.name == "Radius":
            compat.set_modifier_input(modifier, item.identifier, float(radius))
        elif item.name == "Material":
            compat.set_modifier_input(modifier, item.identifier, material)
    _assign_material(ob, material)
