"""Install the extension and report its edit properties' ranges, the tier enum and the job body it sends."""

from __future__ import annotations

import sys

import bpy
from _common import emit, install

ext = install(sys.argv[1])
props = bpy.types.Scene.bl_rna.properties["in2n"].fixed_type.properties
ranges = {
    name: {"default": props[name].default, "min": props[name].hard_min, "max": props[name].hard_max}
    for name in ext.wire.EDIT_PARAMS
    if name in props
}
settings = bpy.context.scene.in2n
settings.instruction = "make it blue"
default_body = ext.actions.job_params(bpy.context, "s-1")
settings.override_guidance = True
settings.guidance_scale = 9.0
override_body = ext.actions.job_params(bpy.context, "s-1")
emit(
    {
        "ranges": ranges,
        "tiers": [item.identifier for item in props["tier"].enum_items],
        "default_body": default_body,
        "override_body": override_body,
    }
)
