"""Helpers for the Blender tests: run a bpy script in its own process, find a free port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"


@dataclass(frozen=True)
class BlenderVersion:
    """One cell of the version matrix: a bpy release and the virtual environment that has it."""

    bpy: str
    python: str
    venv: str
    why: str

    @property
    def interpreter(self) -> Path:
        return REPO / self.venv / "bin" / "python"


def blender_versions() -> list[BlenderVersion]:
    """The version matrix, as scripts/blender_versions.txt (which setup.sh installs) lists it."""
    cells = []
    for line in (REPO / "scripts" / "blender_versions.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            bpy, python, venv, why = line.split(maxsplit=3)
            cells.append(BlenderVersion(bpy, python, venv, why))
    return cells


def run_bpy_script(
    name: str, *args: str, home: Path, timeout: float = 600.0, python: Path | None = None
) -> dict:
    """Run scripts/<name> with bpy in a fresh process (this venv's Python, or `python`); return its RESULT
    object (fail with its output)."""
    env = dict(os.environ)
    env["BLENDER_USER_RESOURCES"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(SCRIPTS), str(REPO)])
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(
        [str(python or sys.executable), str(SCRIPTS / name), *args],
        cwd=str(SCRIPTS),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"{name} exited with {proc.returncode}:\n{output[-6000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        pytest.fail(f"{name} printed no RESULT line:\n{output[-6000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    print(f"{name} result:", json.dumps(result, indent=1))  # shown by pytest when a check fails
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
