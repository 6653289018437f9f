"""Where Blender's Python API differs between the versions the manifest supports (4.2 LTS to 5.3).

Every version-dependent call of the extension goes through this module, so each difference is written
once, with the versions it concerns. Features are detected rather than version numbers compared where
Blender offers a way to tell (a new attribute), so a point release that back-ports a change still works.
The version matrix in the test suite (tests/blender/test_version_matrix.py) runs the extension on the
oldest and newest versions and on the main one in between.
"""

from __future__ import annotations

from typing import Any

import bpy

# Blender 5.0 deprecated `Material.use_nodes` (materials always use nodes); 4.2 to 4.5 need it set.
MATERIALS_ALWAYS_USE_NODES = (5, 0, 0)


def version_text() -> str:
    return ".".join(str(part) for part in bpy.app.version)


def enable_material_nodes(material: Any) -> None:
    """Give a new material its node tree (implicit from 5.0 on)."""
    if bpy.app.version < MATERIALS_ALWAYS_USE_NODES:
        material.use_nodes = True


def set_modifier_input(modifier: Any, identifier: str, value: Any) -> None:
    """Set a geometry-nodes modifier's input socket value (a float, int, material, object, ...).

    Blender 5.3 reads and writes these through `modifier.properties.inputs.<identifier>.value`; 4.2 to
    5.2 keep them as ID properties of the modifier (`modifier[identifier]`), which 5.3 refuses.
    """
    properties = getattr(modifier, "properties", None)
    inputs = getattr(properties, "inputs", None)
    if inputs is not None and hasattr(inputs, identifier):  # 5.3 and later
        getattr(inputs, identifier).value = value
    else:  # 4.2 to 5.2
        modifier[identifier] = value


def get_modifier_input(modifier: Any, identifier: str) -> Any:
    """A geometry-nodes modifier's input socket value (the counterpart of `set_modifier_input`)."""
    properties = getattr(modifier, "properties", None)
    inputs = getattr(properties, "inputs", None)
    if inputs is not None and hasattr(inputs, identifier):
        return getattr(inputs, identifier).value
    return modifier[identifier]


def has_native_gaussian_splats() -> bool:
    """Whether this Blender imports 3DGS PLYs as splats it renders (5.3 and later: point clouds have a
    `type`, POINTS or GAUSSIAN_SPLAT, and Cycles and EEVEE render the latter)."""
    return "type" in bpy.types.PointCloud.bl_rna.properties
