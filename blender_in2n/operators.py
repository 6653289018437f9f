"""Operators: each collects its input, calls one action (actions.py), and reports instead of raising."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import actions, camera_math, errors, local_server, session
from .client import ClientError

# What an action may raise for bad input or an unreachable server; anything else is a bug, still reported.
EXPECTED_ERRORS = (session.ActionError, ClientError, errors.CaptureError, camera_math.CameraError, OSError)


def run_action(operator: Any, context: Any, action: Callable[[Any], Any]) -> set[str]:
    """Run an action; turn its errors into a Blender report and a status line."""
    try:
        action(context)
    except EXPECTED_ERRORS as exc:
        operator.report({"ERROR"}, str(exc))
        session.status(context).error = str(exc)
        return {"CANCELLED"}
    except Exception as exc:  # a bug: report it rather than raise into the UI
        operator.report({"ERROR"}, f"In2N internal error: {type(exc).__name__}: {exc}")
        return {"CANCELLED"}
    return {"FINISHED"}


class IN2N_OT_check_server(bpy.types.Operator):
    """Check that the in2n server is reachable and what it offers"""

    bl_idname = "in2n.check_server"
    bl_label = "Check Server"

    def execute(self, context: Any) -> set[str]:
        return run_action(self, context, actions.check_server)


class IN2N_OT_start_server(bpy.types.Operator):
    """Start a local in2n server with the Python interpreter named in the preferences"""

    bl_idname = "in2n.start_server"
    bl_label = "Start Local Server"

    def execute(self, context: Any) -> set[str]:
        return run_action(self, context, local_server.start_local_server)


class IN2N_OT_capture(bpy.types.Operator):
    """Render the chosen views and upload them to the server as a new scene"""

    bl_idname = "in2n.capture"
    bl_label = "Capture & Upload"

    def execute(self, context: Any) -> set[str]:
        return run_action(self, context, lambda ctx: actions.upload(ctx, actions.capture_scene(ctx)))


class IN2N_OT_use_dataset(bpy.types.Operator):
    """Use a dataset folder that sits on the server, and show its cameras"""

    bl_idname = "in2n.use_dataset"
    bl_label = "Open Server Dataset"

    def execute(self, context: Any) -> set[str]:
        return run_action(self, context, actions.use_dataset)


class IN2N_OT_start_edit(bpy.types.Operator):
    """Edit the scene with the instruction (captures and uploads first when needed)"""

    bl_idname = "in2n.start_edit"
    bl_label = "Edit"

    def execute(self, context: Any) -> set[str]:
        return run_action(self, context, actions.start_edit)


class IN2N_OT_new_scene(bpy.types.Operator):
    """Forget the uploaded scene so that the next edit captures again"""

    bl_idname = "in2n.new_scene"
    bl_label = "New Capture"

    def execute(self, context: Any) -> set[str]:
        st = session.status(context)
        st.scene_id = ""
        st.scene_images = 0
        st.scene_masked = False
        return {"FINISHED"}


class IN2N_OT_cancel(bpy.types.Operator):
    """Cancel the running edit (it can be resumed)"""

    bl_idname = "in2n.cancel"
    bl_label = "Cancel"

    def execute(self, context: Any) -> set[str]:
        return run_action(self, context, actions.cancel_job)


class IN2N_OT_resume(bpy.types.Operator):
    """Resume a cancelled or failed edit from its last checkpoint"""

    bl_idname = "in2n.resume"
    bl_label = "Resume"

    def execute(self, context: Any) -> set[str]:
        return run_action(self, context, actions.resume_job)


class IN2N_OT_preview(bpy.types.Operator):
    """Render the edited scene on the server from the active camera or the viewport"""

    bl_idname = "in2n.preview"
    bl_label = "Preview"

    def execute(self, context: Any) -> set[str]:
        return run_action(self, context, actions.request_preview)


class IN2N_OT_show_edited(bpy.types.Operator):
    """Show one of the edited dataset images"""

    bl_idname = "in2n.show_edited"
    bl_label = "Show Edited View"

    index: IntProperty(name="Index", default=-1, description="-1: the panel's index")

    def execute(self, context: Any) -> set[str]:
        index = self.index if self.index >= 0 else context.scene.in2n.browse_index
        return run_action(self, context, lambda ctx: actions.fetch_edited(ctx, index))


class IN2N_OT_import_result(bpy.types.Operator):
    """Import the edited scene as a point cloud, mesh or Gaussian splats, in place over the source objects"""

    bl_idname = "in2n.import_result"
    bl_label = "Import Result"

    kind: EnumProperty(
        name="Kind",
        items=[
            ("point_cloud", "Point Cloud", "Coloured points"),
            ("mesh", "Mesh", "A mesh: textured as glTF or OBJ, vertex-coloured as PLY"),
            ("splats", "Gaussian Splats", "3DGS splats: native in Blender 5.3 and later, points before"),
        ],
        default="point_cloud",
    )
    format: EnumProperty(
        name="Format",
        items=[
            ("ply", "PLY", ""),
            ("obj", "OBJ", "A zip of OBJ + MTL + PNG (meshes)"),
            ("glb", "glTF Binary", "The texture embedded (meshes)"),
        ],
        default="ply",
    )

    def execute(self, context: Any) -> set[str]:
        return run_action(self, context, lambda ctx: actions.import_result(ctx, self.kind, self.format))


class IN2N_OT_apply_textures(bpy.types.Operator):
    """Bake the edit into textures of the captured objects and show them on duplicates in In2N Results (the
    originals stay as they are)"""

    bl_idname = "in2n.apply_textures"
    bl_label = "Apply as Textures"

    def execute(self, context: Any) -> set[str]:
        return run_action(self, context, lambda ctx: actions.import_result(ctx, "textures", "zip"))


class IN2N_OT_report(bpy.types.Operator):
    """Show a message from the background worker as a Blender report"""

    bl_idname = "in2n.report"
    bl_label = "In2N Report"
    bl_options = {"INTERNAL"}

    level: StringProperty(default="INFO")
    message: StringProperty()

    def execute(self, context: Any) -> set[str]:
        level = self.level if self.level in {"INFO", "WARNING", "ERROR"} else "INFO"
        self.report({level}, self.message)
        return {"FINISHED"}


CLASSES = (
    IN2N_OT_check_server,
    IN2N_OT_start_server,
    IN2N_OT_capture,
    IN2N_OT_use_dataset,
    IN2N_OT_start_edit,
    IN2N_OT_new_scene,
    IN2N_OT_cancel,
    IN2N_OT_resume,
    IN2N_OT_preview,
    IN2N_OT_show_edited,
    IN2N_OT_import_result,
    IN2N_OT_apply_textures,
    IN2N_OT_report,
)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
