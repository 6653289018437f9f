"""Instruct-NeRF2NeRF for Blender: capture a scene, edit it on an in2n server, bring the result back.

Only registration lives here. Submodules that need bpy are imported inside `register`, so the server and
plain-Python tests can import `blender_in2n.protocol` and `blender_in2n.client` without Blender.
"""

from __future__ import annotations


def register() -> None:
    import bpy

    from . import operators, preferences, properties, results, ui

    preferences.register()
    properties.register()
    operators.register()
    ui.register()
    if not bpy.app.timers.is_registered(results.drain):
        bpy.app.timers.register(results.drain, first_interval=0.5, persistent=True)


def unregister() -> None:
    import bpy

    from . import operators, preferences, properties, results, session, ui

    if bpy.app.timers.is_registered(results.drain):
        bpy.app.timers.unregister(results.drain)
    session.shutdown()
    ui.unregister()
    operators.unregister()
    properties.unregister()
    preferences.unregister()
