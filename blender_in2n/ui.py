"""The sidebar panels: 3D Viewport > N > In2N."""

from __future__ import annotations

from typing import Any

import bpy

from .protocol import wire


def format_eta(seconds: float) -> str:
    if seconds < 0:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


class _In2NPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "In2N"


class IN2N_PT_server(_In2NPanel, bpy.types.Panel):
    bl_label = "Server"
    bl_idname = "IN2N_PT_server"

    def draw(self, context: Any) -> None:
        st = context.window_manager.in2n
        layout = self.layout
        row = layout.row(align=True)
        if st.connected:
            row.label(text=f"Connected: {st.device or 'unknown device'}", icon="CHECKMARK")
        else:
            row.label(text="Not connected", icon="UNLINKED")
        row.operator("in2n.check_server", text="", icon="FILE_REFRESH")
        if st.connected:
            icon = "CHECKMARK" if st.editor_available else "ERROR"
            layout.label(text=f"Model: {st.editor_model or '?'}", icon=icon)
            if not st.editor_available and st.editor_message:
                layout.label(text=st.editor_message)
        layout.operator("in2n.start_server", icon="PLAY")


class IN2N_PT_capture(_In2NPanel, bpy.types.Panel):
    bl_label = "Scene"
    bl_idname = "IN2N_PT_capture"

    def draw(self, context: Any) -> None:
        settings = context.scene.in2n
        st = context.window_manager.in2n
        layout = self.layout
        layout.prop(settings, "source")
        if settings.source == "RIG":
            layout.prop(settings, "rig_kind")
            row = layout.row(align=True)
            row.prop(settings, "rig_views")
            row.prop(settings, "rig_radius")
        if settings.source in {"RIG", "CAMERAS"}:
            layout.prop(settings, "resolution")
            row = layout.row(align=True)
            row.prop(settings, "with_masks")
            row.prop(settings, "with_depth")
            layout.prop(settings, "transparent_background")
            layout.prop(settings, "edit_selected_only")
            layout.prop(settings, "capture_textures")
            layout.operator("in2n.capture", icon="RENDER_STILL")
        else:
            layout.prop(settings, "dataset_path")
            layout.operator("in2n.use_dataset", icon="FILE_FOLDER")
        if st.scene_id:
            row = layout.row()
            row.label(text=f"{st.scene_id}: {st.scene_images} views", icon="IMAGE_DATA")
            row.operator("in2n.new_scene", text="", icon="X")


class IN2N_PT_edit(_In2NPanel, bpy.types.Panel):
    bl_label = "Edit"
    bl_idname = "IN2N_PT_edit"

    def draw(self, context: Any) -> None:
        settings = context.scene.in2n
        st = context.window_manager.in2n
        layout = self.layout
        layout.prop(settings, "instruction", text="")
        layout.prop(settings, "tier")
        col = layout.column(align=True)
        col.prop(settings, "schedule")
        col.prop(settings, "edit_count")
        col.prop(settings, "anneal")
        row = col.row()
        row.enabled = settings.anneal
        row.prop(settings, "anneal_to")
        col.prop(settings, "scale_steps")
        col.prop(settings, "warp_start")
        col.prop(settings, "grow_margin")
        layout.prop(settings, "override_model_settings")
        col = layout.column(align=True)
        col.enabled = settings.override_model_settings
        col.prop(settings, "guidance_scale")
        col.prop(settings, "image_guidance_scale")
        col.prop(settings, "upper_bound")
        col.prop(settings, "edit_rate")
        col = layout.column(align=True)
        col.prop(settings, "diffusion_steps")
        col.prop(settings, "seed")
        col = layout.column(align=True)
        col.prop(settings, "base_iterations")
        col.prop(settings, "edit_iterations")
        layout.prop(settings, "continue_edit")
        running = st.state in wire.ACTIVE_STATES
        row = layout.row(align=True)
        row.enabled = not running
        row.operator("in2n.start_edit", icon="SHADERFX")
        if st.job_id:
            text = f"{st.phase or st.state} {st.step}/{st.total_steps}"
            eta = format_eta(st.eta_seconds) if running else ""
            if eta:
                text += f"  ETA {eta}"
            if hasattr(layout, "progress"):
                layout.progress(factor=st.progress, type="BAR", text=text)
            else:
                layout.label(text=f"{text} ({st.progress:.0%})")
            row = layout.row(align=True)
            if running:
                row.operator("in2n.cancel", icon="CANCEL")
            elif st.state in wire.RESUMABLE_STATES:
                row.operator("in2n.resume", icon="PLAY")
        if st.message:
            layout.label(text=st.message, icon="INFO")
        if st.error:
            layout.label(text=st.error, icon="ERROR")


class IN2N_PT_results(_In2NPanel, bpy.types.Panel):
    bl_label = "Preview & Result"
    bl_idname = "IN2N_PT_results"

    @classmethod
    def poll(cls, context: Any) -> bool:
        return bool(context.window_manager.in2n.job_id)

    def draw(self, context: Any) -> None:
        settings = context.scene.in2n
        st = context.window_manager.in2n
        layout = self.layout
        row = layout.row(align=True)
        row.prop(settings, "preview_from", text="")
        row.prop(settings, "preview_size", text="")
        row = layout.row(align=True)
        row.operator("in2n.preview", icon="HIDE_OFF")
        row.prop(settings, "auto_preview", text="Auto")
        row = layout.row(align=True)
        row.prop(settings, "browse_index")
        row.operator("in2n.show_edited", text="", icon="IMAGE")
        layout.label(text=f"Edits done: {st.edits_done}")
        col = layout.column(align=True)
        col.prop(settings, "num_points")
        col.prop(settings, "mesh_resolution")
        col.prop(settings, "splat_sh_degree")
        col.prop(settings, "splat_refine_steps")
        layout.prop(settings, "export_masked_only")
        row = layout.row(align=True)
        op = row.operator("in2n.import_result", text="Points", icon="OUTLINER_OB_POINTCLOUD")
        op.kind = "point_cloud"
        op = row.operator("in2n.import_result", text="Mesh", icon="MESH_DATA")
        op.kind, op.format = "mesh", "glb"  # the textured mesh (its texture embedded)
        op = row.operator("in2n.import_result", text="Splats", icon="SHADING_RENDERED")
        op.kind = "splats"
        row = layout.row(align=True)
        row.prop(settings, "texture_size", text="Texture")
        row.operator("in2n.apply_textures", icon="TEXTURE")


CLASSES = (IN2N_PT_server, IN2N_PT_capture, IN2N_PT_edit, IN2N_PT_results)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
