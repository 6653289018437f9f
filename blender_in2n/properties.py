"""Blender properties: edit parameters on the Scene (saved with the file), live status on the WindowManager.

The edit parameters' ranges and defaults come from their one definition (`EditParams`,
in2n_protocol/edit_params.py); guidance is sent only when the artist overrides it.

Status lives on the WindowManager because it describes this Blender session (a connection, a running job),
not the file: it is never saved and never leaks into another .blend.
"""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .job_request import property_range
from .protocol import wire

SOURCE_ITEMS = [
    ("CAMERAS", "Selected Cameras", "Render the selected camera objects"),
    ("RIG", "Generated Rig", "Render cameras placed around the selected objects"),
    ("SERVER_PATH", "Server Dataset", "A nerfstudio dataset folder that already sits on the server"),
]
RIG_ITEMS = [
    ("ORBIT", "Orbit", "A ring of cameras at 25 degrees elevation"),
    ("HEMISPHERE", "Hemisphere", "Cameras spread over elevations 10..75 degrees (objects on a floor)"),
    ("SPHERE", "Sphere", "Cameras spread over elevations -20..80 degrees (floating objects)"),
]
TIER_ITEMS = [(tier, tier, f"The {tier} preset") for tier in wire.TIERS]
SCHEDULE_ITEMS = [(name, name.title(), help_text) for name, help_text in wire.SCHEDULE_HELP.items()]


def bounded(param: wire.Bounded) -> dict:
    """An IntProperty's default, range and tooltip from the protocol's one definition of the parameter."""
    return {"default": param.default, "min": param.min, "max": param.max, "description": param.doc}


PREVIEW_ITEMS = [
    ("CAMERA", "Active Camera", "Preview from the scene's active camera"),
    ("VIEWPORT", "Viewport", "Preview from the current 3D viewport view"),
]


class IN2N_PG_settings(bpy.types.PropertyGroup):
    """What to capture and how to edit it (per scene)."""

    source: EnumProperty(name="Source", items=SOURCE_ITEMS, default="RIG")
    rig_kind: EnumProperty(name="Rig", items=RIG_ITEMS, default="HEMISPHERE")
    rig_views: IntProperty(name="Views", default=24, min=1, max=500)
    rig_radius: FloatProperty(name="Radius", default=0.0, min=0.0, unit="LENGTH", description="0: automatic")
    resolution: IntProperty(name="Size", default=512, min=8, max=8192, description="Longer image side (px)")
    with_masks: BoolProperty(name="Masks", default=False, description="Masks of the selected objects")
    with_depth: BoolProperty(
        name="Depth",
        default=True,
        description="Exact depth maps (z along the camera axis, float32): surfaces land on the objects",
    )
    transparent_background: BoolProperty(
        name="Transparent Background",
        default=True,
        description="Transparent film: RGBA images, the world lights the scene but its pixels get alpha 0",
    )
    dataset_path: StringProperty(name="Dataset", description="A dataset folder on the server")
    edit_selected_only: BoolProperty(
        name="Edit Selected Objects Only",
        default=True,
        description=(
            "Capture masks of the selected objects and edit only inside them (the rest of each view stays "
            "as it was); off, or nothing selected: edit the whole views"
        ),
    )

    capture_textures: BoolProperty(
        name="Capture for Textures",
        default=False,
        description=(
            "Also capture the selected meshes' surfaces (triangles and UV maps), masks, depth and (Cycles) "
            "the light of every view, so that the edit can come back as textures on duplicates of these "
            "objects (Apply as Textures)"
        ),
    )
    surface_uv_maps: StringProperty(
        options={"HIDDEN"},
        description="The UV map each captured object's texture is baked on (JSON; empty name: generated)",
    )

    instruction: StringProperty(name="Instruction", description="What to change, e.g. 'make it autumn'")
    tier: EnumProperty(name="Tier", items=TIER_ITEMS, default=wire.DEFAULT_TIER)
    schedule: EnumProperty(name="Schedule", items=SCHEDULE_ITEMS, default=wire.DEFAULT_SCHEDULE)
    override_model_settings: BoolProperty(
        name="Override Model Settings",
        default=False,
        description=(
            "Send these guidance, start-noise and edit-rate values; off: the server's editor model's "
            "recommended ones"
        ),
    )
    guidance_scale: FloatProperty(name="Text Guidance", **property_range("guidance_scale"))
    image_guidance_scale: FloatProperty(name="Image Guidance", **property_range("image_guidance_scale"))
    upper_bound: FloatProperty(
        name="Max Start Noise",
        description="Highest noise level an edit starts from (lower keeps more of the render)",
        **property_range("upper_bound"),
    )
    edit_count: IntProperty(
        name="Views Per Edit",
        description=(
            "Views edited together in one batched call at each edit step (rolling schedule); the "
            "model's edit rate is multiplied by it, so each view is edited as often (an overridden Edit Rate "
            "is used as set)"
        ),
        **property_range("edit_count"),
    )
    anneal: BoolProperty(
        name="Anneal Noise",
        description="Lower the highest start noise over the edit: big changes first, then refinement",
        **property_range("anneal"),
    )
    anneal_to: FloatProperty(
        name="Final Max Noise",
        description="Highest start noise at the end of the edit when annealing",
        **property_range("anneal_to"),
    )
    scale_steps: BoolProperty(
        name="Fewer Steps At Low Noise",
        description="Edits from less noise take proportionally fewer denoising steps (same step size)",
        **property_range("scale_steps"),
    )
    warp_start: BoolProperty(
        name="Start From Neighbour",
        description="Start each edit from the nearest edited view, warped by the depth maps (needs Depth)",
        **property_range("warp_start"),
    )
    grow_margin: FloatProperty(
        name="Grow Margin",
        description=(
            "How far an edit may reshape the objects beyond their silhouettes, as a share of the image's "
            "longer side (0: the captured silhouettes stay, the edit only recolours)"
        ),
        **property_range("grow_margin"),
    )
    diffusion_steps: IntProperty(name="Diffusion Steps", **property_range("diffusion_steps"))
    seed: IntProperty(name="Seed", **property_range("seed"))
    base_iterations: IntProperty(name="Base Steps", **property_range("base_iterations"))
    edit_iterations: IntProperty(name="Edit Steps", **property_range("edit_iterations"))
    edit_rate: IntProperty(name="Edit Every", **property_range("edit_rate"))
    continue_edit: BoolProperty(
        name="Continue From Last Edit",
        default=False,
        description="Start from the finished job's edited images instead of the originals (edits stack)",
    )

    preview_from: EnumProperty(name="Preview From", items=PREVIEW_ITEMS, default="CAMERA")
    preview_size: IntProperty(name="Preview Size", **bounded(wire.PREVIEW_SIDE))
    auto_preview: BoolProperty(
        name="Auto Preview", default=True, description="New preview at each checkpoint"
    )
    browse_index: IntProperty(name="Edited View", default=0, min=0)
    num_points: IntProperty(name="Points", **bounded(wire.EXPORT_PARAMS["num_points"]))
    mesh_resolution: IntProperty(name="Mesh Resolution", **bounded(wire.EXPORT_PARAMS["resolution"]))
    splat_sh_degree: IntProperty(name="Splat SH Degree", **bounded(wire.EXPORT_PARAMS["sh_degree"]))
    splat_refine_steps: IntProperty(name="Splat Refinement", **bounded(wire.EXPORT_PARAMS["refine_steps"]))
    texture_size: IntProperty(name="Texture Size", **bounded(wire.EXPORT_PARAMS["texture_size"]))
    export_masked_only: BoolProperty(
        name="Edited Objects Only",
        default=False,
        description="Import only the geometry the views' masks cover (the edited objects); needs masks",
    )


class IN2N_PG_status(bpy.types.PropertyGroup):
    """Live state of this Blender session's connection and job (never saved)."""

    connected: BoolProperty(name="Connected", default=False)
    checked: BoolProperty(default=False)
    device: StringProperty(name="Device")
    editor_model: StringProperty(name="Model")
    editor_available: BoolProperty(default=False)
    editor_message: StringProperty()
    message: StringProperty(name="Message")
    error: StringProperty(name="Error")
    busy: BoolProperty(default=False)

    scene_id: StringProperty(name="Scene")
    scene_images: IntProperty(default=0)
    scene_masked: BoolProperty(default=False, description="Captured with masks of the selection")
    job_id: StringProperty(name="Job")
    state: StringProperty(name="State")
    phase: StringProperty(name="Phase")
    step: IntProperty(default=0)
    total_steps: IntProperty(default=0)
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    eta_seconds: FloatProperty(default=-1.0)
    edits_done: IntProperty(default=0)
    last_event_id: IntProperty(default=0)
    previews_received: IntProperty(default=0)
    preview_step: IntProperty(default=-1)
    imported_object: StringProperty()


CLASSES = (IN2N_PG_settings, IN2N_PG_status)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.in2n = PointerProperty(type=IN2N_PG_settings)
    bpy.types.WindowManager.in2n = PointerProperty(type=IN2N_PG_status)


def unregister() -> None:
    del bpy.types.WindowManager.in2n
    del bpy.types.Scene.in2n
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
