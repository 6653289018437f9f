"""Bring the server's exported geometry into Blender, in the scene's own world frame.

The server exports in the frame the cameras were uploaded in (Blender's world frame), so the imported object
gets no transform. A PLY point cloud imports as a vertex-only mesh, which Object mode does not draw: a
Mesh-to-Points geometry node turns it into points and a material reads the per-vertex colour attribute.
Gaussian splats (a PLY in the 3DGS layout) import as native splats where Blender renders them (5.3 and
later); older versions get them as a point cloud coloured by the splats' base colour. A mesh comes as a
textured GLB, an OBJ zip (OBJ + MTL + PNG, extracted beside the download) or a vertex-coloured PLY; its
colour is the NeRF's lit colour, so its material shows it unlit (`_unlit_material`).
"""

from __future__ import annotations

import math
import os
import zipfile
from typing import Any

import bpy

from . import compat
from .scene_collections import linked_collection

RESULT_COLLECTION = "In2N Results"
POINTS_NODE_GROUP = "In2N Points"
IMPORTERS = {".ply": "ply", ".obj": "obj", ".glb": "gltf", ".gltf": "gltf"}
SH_C0 = 0.28209479177387814  # the degree-0 spherical harmonic: splat colour (sRGB) = 0.5 + SH_C0 * f_dc
SPLATS_NEED = "native Gaussian splats need Blender 5.3 or later (or the KIRI 3DGS Render add-on)"
OBJ_ZIP_MEMBERS = (".obj", ".mtl", ".png")  # what a mesh export's OBJ zip holds, side by side


class ResultImportError(ValueError):
    """A result file Blender cannot import."""


def import_geometry(path: str, *, kind: str, name: str = "In2N Result", point_radius: float = 0.0) -> Any:
    """Import a point cloud or mesh file into the results collection; returns the new object."""
    if not os.path.isfile(path):
        raise ResultImportError(f"result file {path!r} does not exist")
    if zipfile.is_zipfile(path):
        if kind != "mesh":
            raise ResultImportError(f"{kind.replace('_', ' ')} results are not zips (only an OBJ mesh is)")
        path = _extract_obj(path)
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
    else:  # a mesh: its texture (GLB, OBJ zip), else its vertex colours, for the importer's material
        _replace_materials(ob, _unlit_material(f"{name} Material", _texture_image(ob, name), color))
    return ob


def _extract_obj(path: str) -> str:
    """The OBJ of a mesh export's zip, extracted with its MTL and PNG into a folder beside the zip (the
    OBJ importer reads them by the names the OBJ gives)."""
    label = os.path.basename(path)
    with zipfile.ZipFile(path) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        for info in members:
            name = info.filename
            plain = os.path.basename(name) == name and "\\" not in name and not name.startswith(".")
            if not plain or os.path.splitext(name)[1].lower() not in OBJ_ZIP_MEMBERS:
                raise ResultImportError(f"{label} holds {name!r}; a mesh zip holds only {OBJ_ZIP_MEMBERS}")
        objs = [info.filename for info in members if info.filename.lower().endswith(".obj")]
        if len(objs) != 1:
            raise ResultImportError(f"{label} holds {len(objs)} OBJ files; a mesh zip holds one")
        folder = os.path.splitext(path)[0] + "_files"
        os.makedirs(folder, exist_ok=True)
        for info in members:
            archive.extract(info, folder)
    return os.path.join(folder, objs[0])


def _texture_image(ob: Any, name: str) -> Any:
    """The image the importer's material shows (a textured GLB or OBJ), packed into the .blend so that the
    mesh keeps it once the downloaded files are gone; None for a vertex-coloured mesh."""
    for material in ob.data.materials:
        tree = getattr(material, "node_tree", None)
        for node in tree.nodes if tree is not None else ():
            if node.type == "TEX_IMAGE" and node.image is not None:
                image = node.image
                if image.packed_file is None:
                    image.pack()
                image.name = f"{name} Texture"
                return image
    return None


def _unlit_material(name: str, image: Any, attribute: str) -> Any:
    """The mesh's colour (`image` through the UV map, else the colour attribute `attribute`) as it was
    seen: the export's colour is the NeRF's lit colour, which the scene's lights would shade a second
    time. Camera rays see it as emission (a Standard view transform shows the PNG's own values); every
    other ray sees a diffuse surface of that colour, so the mesh still casts shadows and bounces light
    without glowing."""
    material, tree, output = _empty_material(name)
    colour = None
    if image is not None:
        source = tree.nodes.new("ShaderNodeTexImage")
        source.image = image
        colour = source.outputs["Color"]
    elif attribute:
        source = tree.nodes.new("ShaderNodeAttribute")
        source.attribute_type = "GEOMETRY"
        source.attribute_name = attribute
        colour = source.outputs["Color"]
    emission = tree.nodes.new("ShaderNodeEmission")
    diffuse = tree.nodes.new("ShaderNodeBsdfDiffuse")
    light_path = tree.nodes.new("ShaderNodeLightPath")
    mix = tree.nodes.new("ShaderNodeMixShader")
    if colour is not None:
        tree.links.new(colour, emission.inputs["Color"])
        tree.links.new(colour, diffuse.inputs["Color"])
    tree.links.new(light_path.outputs["Is Camera Ray"], mix.inputs[0])
    tree.links.new(diffuse.outputs["BSDF"], mix.inputs[1])
    tree.links.new(emission.outputs["Emission"], mix.inputs[2])
    tree.links.new(mix.outputs["Shader"], output.inputs["Surface"])
    for column, node in enumerate((light_path, diffuse, emission)):
        node.location = (-250, 250 - 200 * column)
    mix.location, output.location = (0, 0), (250, 0)
    if colour is not None:
        colour.node.location = (-550, 0)
    return material


def _replace_materials(ob: Any, material: Any) -> None:
    """`material` in place of the importer's, which are removed once nothing else uses them."""
    earlier = [m for m in ob.data.materials if m is not None and m != material]
    _assign_material(ob, material)
    for old in earlier:
        if old.users == 0:
            bpy.data.materials.remove(old)


def results_collection(scene: Any) -> Any:
    return linked_collection(scene, RESULT_COLLECTION)


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
