"""Build the Blender extension zip with Blender's own builder and validator.

The manifest sits at the repository root and the package in `blender_in2n/`, but an extension zip must hold
`blender_manifest.toml` next to `__init__.py`. So the two are staged into a temporary folder, validated and
built there by `blender_ext.py` (shipped inside the bpy wheel, or any Blender), and only the extension lands
in the zip: no server code, no tests. The shared protocol (`in2n_protocol/`, standard library only) is copied
in as `blender_in2n/in2n_protocol/`, where `blender_in2n/protocol.py` finds it: one source for both sides.

    .venv/bin/python scripts/build_extension.py [--output-dir dist] [--blender-ext PATH]
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(ROOT, "blender_in2n")
PROTOCOL_DIR = os.path.join(ROOT, "in2n_protocol")
MANIFEST = os.path.join(ROOT, "blender_manifest.toml")


def find_blender_ext() -> str:
    """blender_ext.py from the installed bpy wheel (bpy/<version>/scripts/addons_core/bl_pkg/cli/)."""
    spec = importlib.util.find_spec("bpy")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        found = sorted(
            glob.glob(os.path.join(root, "*", "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py"))
        )
        if found:
            return found[-1]
    raise SystemExit(
        "blender_ext.py not found: install bpy (pip install bpy==5.0.1) or pass --blender-ext PATH"
    )


def copy_python_files(source_dir: str, directory: str) -> None:
    """The folder's Python files (no caches, no subfolders)."""
    os.makedirs(directory, exist_ok=True)
    for name in sorted(os.listdir(source_dir)):
        source = os.path.join(source_dir, name)
        if os.path.isfile(source) and name.endswith(".py"):
            shutil.copy2(source, os.path.join(directory, name))


def stage(directory: str) -> None:
    """Copy the manifest, the package's Python files and the shared protocol into `directory`."""
    shutil.copy2(MANIFEST, os.path.join(directory, "blender_manifest.toml"))
    copy_python_files(PACKAGE_DIR, directory)
    copy_python_files(PROTOCOL_DIR, os.path.join(directory, "in2n_protocol"))


def run_tool(blender_ext: str, *args: str) -> None:
    result = subprocess.run([sys.executable, blender_ext, *args], capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise SystemExit(f"blender_ext {args[0]} failed:\n{output}")
    if output:
        print(output)


def build(output_dir: str, blender_ext: str | None = None) -> str:
    """Validate and build; returns the zip's path."""
    tool = blender_ext or find_blender_ext()
    with open(MANIFEST, "rb") as fh:
        manifest = tomllib.load(fh)
    os.makedirs(output_dir, exist_ok=True)
    zip_path = os.path.join(os.path.abspath(output_dir), f"{manifest['id']}-{manifest['version']}.zip")
    with tempfile.TemporaryDirectory(prefix="in2n-ext-") as staging:
        stage(staging)
        run_tool(tool, "validate", staging)
        run_tool(tool, "build", "--source-dir", staging, "--output-filepath", zip_path)
    run_tool(tool, "validate", zip_path)
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "dist"), help="where the zip goes")
    parser.add_argument("--blender-ext", default=None, help="path to Blender's blender_ext.py")
    args = parser.parse_args(argv)
    print(build(args.output_dir, args.blender_ext))
    return 0


if __name__ == "__main__":
    sys.exit(main())
