"""Shared by the bpy scripts the tests run in subprocesses (each script: one fresh Blender)."""

from __future__ import annotations

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def emit(result: dict) -> None:
    """Hand the script's findings to the test (the last line starting with RESULT)."""
    sys.stdout.flush()
    print("RESULT " + json.dumps(result), flush=True)


def install(zip_path: str) -> object:
    """Install and enable the extension zip in this process's user resources; return its module."""
    import importlib

    import bpy

    if not os.environ.get("BLENDER_USER_RESOURCES"):
        raise SystemExit("set BLENDER_USER_RESOURCES to a temporary folder before running this script")
    result = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True
    )
    if "FINISHED" not in result:
        raise SystemExit(f"package_install_files returned {result}")
    return importlib.import_module("bl_ext.user_default.blender_in2n")
