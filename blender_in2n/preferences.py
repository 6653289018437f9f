"""Extension preferences: where the server is, and how to start a local one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bpy
from bpy.props import IntProperty, StringProperty

from .protocol import wire

ADDON_ID = __package__ or "blender_in2n"


@dataclass(frozen=True)
class ServerSettings:
    """Plain copy of the preferences, safe to hand to a worker thread."""

    host: str = wire.DEFAULT_HOST
    port: int = wire.DEFAULT_PORT
    token: str = ""
    python: str = ""
    workspace: str = ""
    model: str = ""
    device: str = ""


class IN2N_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    host: StringProperty(name="Host", default=wire.DEFAULT_HOST, description="Server address")
    port: IntProperty(name="Port", default=wire.DEFAULT_PORT, min=1, max=65535)
    token: StringProperty(name="Token", subtype="PASSWORD", description="Needed when the server is not local")
    python: StringProperty(
        name="Server Python",
        subtype="FILE_PATH",
        description="Python interpreter with in2n-server installed, to start a local server from Blender",
    )
    workspace: StringProperty(name="Workspace", subtype="DIR_PATH", description="Local server's workspace")
    model: StringProperty(name="Model", description="Local server's InstructPix2Pix model (hub id or folder)")
    device: StringProperty(name="Device", description="Local server's device (empty: automatic)")

    def draw(self, context: Any) -> None:
        layout = self.layout
        row = layout.row()
        row.prop(self, "host")
        row.prop(self, "port")
        layout.prop(self, "token")
        box = layout.box()
        box.label(text="Local server (optional)")
        box.prop(self, "python")
        box.prop(self, "workspace")
        box.prop(self, "model")
        box.prop(self, "device")


def server_settings(context: Any) -> ServerSettings:
    """The current preferences (defaults when the extension is loaded without its preferences entry)."""
    addon = context.preferences.addons.get(ADDON_ID)
    prefs = addon.preferences if addon is not None else None
    if prefs is None:
        return ServerSettings()
    return ServerSettings(
        host=prefs.host.strip(),
        port=prefs.port,
        token=prefs.token,
        python=bpy.path.abspath(prefs.python) if prefs.python else "",
        workspace=bpy.path.abspath(prefs.workspace) if prefs.workspace else "",
        model=prefs.model.strip(),
        device=prefs.device.strip(),
    )


def register() -> None:
    bpy.utils.register_class(IN2N_AP_preferences)


def unregister() -> None:
    bpy.utils.unregister_class(IN2N_AP_preferences)
