"""*Apply as Textures*: the baked textures on duplicates of the artist's objects, never on the originals.

The `textures` export (docs/protocol.md, Export) is a zip of one PNG per object and a `manifest.json`. Each
named object gets a duplicate in the results collection (same modifiers, placement, parent) with its own
copy of the mesh and of each material, whose Principled BSDF's Base Color is driven by the baked image
through the UV map the bake used (the map the capture sent, or the generated one made again on the
duplicate's mesh: `surfaces`). A material without a Principled BSDF (or an empty slot) becomes a new
Principled material. The images are packed into the .blend, so the result survives save and reload with
nothing beside the file. The originals stay as they were: the artist compares by toggling the visibility
of the results collection (or of the originals' own collections).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import bpy

from . import compat, scene_import, surfaces

MANIFEST = "manifest.json"
SOURCE_PROPERTY = "in2n_source"  # on a duplicate: the name of the object it stands in for
SUFFIX = " (In2N)"
MAX_MANIFEST = 1 << 20  # bytes: a manifest of 64 objects is a few kB


class TexturesError(ValueError):
    """A textures zip that cannot be applied."""


@dataclass
class Applied:
    """What *Apply as Textures* did: the duplicates made, and what it could not do or should say."""

    duplicates: list[str] = field(default_factory=list)
    lighting: str = ""
    warnings: list[str] = field(default_factory=list)


def apply_textures(context: Any, zip_path: str, uv_maps: Mapping[str, str] | None = None) -> Applied:
    """Put a duplicate of every object the zip names, textured with its image, into the results collection.

    `uv_maps`: the UV map each object's surface was captured with ("" = generated), as the capture recorded
    it; objects it does not name use their active UV map, or a generated one when they have none. A
    duplicate made by an earlier apply for the same object is replaced.
    """
    uv_maps = uv_maps or {}
    with zipfile.ZipFile(zip_path) as archive:
        manifest = read_manifest(archive)
        applied = Applied(lighting=manifest["lighting"])
        if applied.lighting != "removed":
            applied.warnings.append(
                "the textures keep the capture's lighting (no light passes: an EEVEE scene, or a Blender "
                "without OpenImageIO), so the scene's lights shade them a second time"
            )
        collection = scene_import.results_collection(context.scene)
        with tempfile.TemporaryDirectory(prefix="in2n-textures-") as folder:
            for entry in manifest["objects"]:
                source = bpy.data.objects.get(entry["name"])
                if source is None or source.type != "MESH":
                    applied.warnings.append(f"no mesh object named {entry['name']!r} in this file; skipped")
                    continue
                image = _packed_image(archive, entry["image"], folder, f"In2N {source.name}")
                duplicate = _textured_duplicate(context, source, image, uv_maps.get(source.name), collection)
                applied.duplicates.append(duplicate.name)
                if entry.get("triangles", 0) and _triangles(context, duplicate) != entry["triangles"]:
                    applied.warnings.append(f"{source.name!r} changed since the capture: check its texture")
    return applied


def read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    """The zip's manifest, checked for what applying needs (names and images present in the zip)."""
    names = set(archive.namelist())
    if MANIFEST not in names or archive.getinfo(MANIFEST).file_size > MAX_MANIFEST:
        raise TexturesError(f"the textures zip has no {MANIFEST} (or one too large)")
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TexturesError(f"the textures zip's {MANIFEST} is not JSON: {exc}") from exc
    objects = manifest.get("objects") if isinstance(manifest, dict) else None
    if not isinstance(objects, list):
        raise TexturesError(f"the textures zip's {MANIFEST} lists no objects")
    for entry in objects:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise TexturesError(f"an object in {MANIFEST} has no name")
        if entry.get("image") not in names:
            raise TexturesError(f"the image of {entry['name']!r} is not in the textures zip")
    manifest.setdefault("lighting", "baked_in")
    return manifest


def _packed_image(archive: zipfile.ZipFile, member: str, folder: str, name: str) -> Any:
    """The zip's PNG as a Blender image packed into the .blend (the PNG's own bytes, sRGB)."""
    path = os.path.join(folder, f"{len(os.listdir(folder)):04d}.png")  # never a name from the zip
    with open(path, "wb") as fh:
        fh.write(archive.read(member))
    image = bpy.data.images.load(path, check_existing=False)
    image.name = name
    image.colorspace_settings.name = "sRGB"
    image.pack()
    return image


def _textured_duplicate(context: Any, source: Any, image: Any, uv_map: str | None, collection: Any) -> Any:
    """A copy of `source` (own mesh copy) in `collection`, every material slot showing `image`."""
    _remove_earlier_duplicates(collection, source.name)
    duplicate = source.copy()
    duplicate.data = source.data.copy()
    duplicate.name = source.name + SUFFIX
    duplicate[SOURCE_PROPERTY] = source.name
    # In the scene's own collection while its UVs are made (the results collection may be hidden).
    context.scene.collection.objects.link(duplicate)
    layer = _uv_map_of(context, duplicate, uv_map)
    context.scene.collection.objects.unlink(duplicate)
    collection.objects.link(duplicate)
    if not duplicate.material_slots:
        duplicate.data.materials.append(None)
    copies: dict[Any, Any] = {}
    for slot in duplicate.material_slots:
        original = slot.material
        if original not in copies:
            copies[original] = _textured_material(original, image, layer, source.name)
        slot.material = copies[original]
    return duplicate


def _remove_earlier_duplicates(collection: Any, source_name: str) -> None:
    for ob in list(collection.objects):
        if ob.get(SOURCE_PROPERTY) == source_name:
            bpy.data.objects.remove(ob)


def _uv_map_of(context: Any, duplicate: Any, uv_map: str | None) -> str:
    """The UV map the bake used, on the duplicate's own mesh: the recorded one, else the active one; one
    generated again by the capture's Smart UV Project when the capture generated it (or there is none)."""
    layers = duplicate.data.uv_layers
    if uv_map and uv_map in layers:
        return uv_map
    if uv_map != "" and layers.active is not None:
        return layers.active.name
    return surfaces.generate_uv_map(context, duplicate)


def _textured_material(original: Any, image: Any, uv_map: str, object_name: str) -> Any:
    """A copy of `original` whose Principled BSDFs take Base Color from `image`, or a new Principled
    material when it has none (or the slot is empty)."""
    principled = _principled_nodes(original)
    if principled:
        material = original.copy()
        material.name = original.name + SUFFIX
    else:
        material = _principled_material(f"{object_name}{SUFFIX}")
    tree = material.node_tree
    principled = _principled_nodes(material)
    texture = tree.nodes.new("ShaderNodeTexImage")
    texture.image = image
    texture.label = "In2N texture"
    coordinates = tree.nodes.new("ShaderNodeUVMap")
    coordinates.uv_map = uv_map
    tree.links.new(coordinates.outputs["UV"], texture.inputs["Vector"])
    for shader in principled:
        base = shader.inputs["Base Color"]
        for link in list(base.links):
            tree.links.remove(link)
        tree.links.new(texture.outputs["Color"], base)
    texture.location = (principled[0].location.x - 320, principled[0].location.y)
    coordinates.location = (texture.location.x - 220, texture.location.y)
    return material


def _principled_nodes(material: Any) -> list[Any]:
    """The material's Principled BSDF nodes with a Base Color input (none without a material or nodes)."""
    tree = getattr(material, "node_tree", None)
    if tree is None:
        return []
    return [n for n in tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled" and "Base Color" in n.inputs]


def _principled_material(name: str) -> Any:
    """A new material: one Principled BSDF into the output."""
    material = bpy.data.materials.new(name)
    compat.enable_material_nodes(material)
    tree = material.node_tree
    tree.nodes.clear()
    output = tree.nodes.new("ShaderNodeOutputMaterial")
    shader = tree.nodes.new("ShaderNodeBsdfPrincipled")
    tree.links.new(shader.outputs["BSDF"], output.inputs["Surface"])
    output.location = (300, 0)
    return material


def _triangles(context: Any, ob: Any) -> int:
    """Triangles of the object after its modifiers (what the bake saw, if nothing changed since)."""
    evaluated = ob.evaluated_get(context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    try:
        mesh.calc_loop_triangles()
        return len(mesh.loop_triangles)
    finally:
        evaluated.to_mesh_clear()
