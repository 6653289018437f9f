"""Install the extension and report its edit properties' ranges, the tier enum and the job body it sends."""

from __future__ import annotations

import sys

import bpy
from _common import emit, install

ext = install(sys.argv[1])
props = bpy.types.Scene.bl_rna.properties["in2n"].fixed_type.properties
ranges = {
    name: {"default": props[name].default, "min": props[name].hard_min, "max": props[name].hard_max}
    for name in ext.job_request.EDIT_PARAMS
    if name in props
}
settings = bpy.context.scene.in2n
settings.instruction = "make it blue"
default_body = ext.actions.job_params(bpy.context, "s-1")
settings.override_model_settings = True
settings.guidance_scale = 9.0
override_body = ext.actions.job_params(bpy.context, "s-1")
# Edit Selected Objects Only: on by default; a scene captured with masks of the selection gets a local edit
local_default = props["edit_selected_only"].default
bpy.context.window_manager.in2n.scene_masked = True
local_body = ext.actions.job_params(bpy.context, "s-1")
forced_masks = ext.job_request.capture_masks(settings, has_targets=True)
settings.edit_selected_only = False
whole_body = ext.actions.job_params(bpy.context, "s-1")
emit(
    {
        "ranges": ranges,
        "tiers": [item.identifier for item in props["tier"].enum_items],
        "default_body": default_body,
        "override_body": override_body,
        "local_default": local_default,
        "local_body": local_body,
        "forced_masks": forced_masks,
        "whole_body": whole_body,
        "export_masked_only_default": props["export_masked_only"].default,
    }
)
