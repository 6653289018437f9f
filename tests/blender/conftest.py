"""Fixtures for the Blender extension's tests.

Each bpy test runs a small script from `scripts/` in its own `.venv/bin/python` process: a fresh Blender per
test, a private BLENDER_USER_RESOURCES folder, and no torch in the same process as bpy. Scripts print their
findings as one `RESULT {json}` line that the test checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from bpy_helpers import free_port

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension zip, built once per session with the project's build command."""
    import build_extension

    return Path(build_extension.build(str(tmp_path_factory.mktemp("ext-dist"))))


@pytest.fixture
def blender_home(tmp_path: Path) -> Path:
    home = tmp_path / "blender-user"
    home.mkdir()
    return home


@pytest.fixture(scope="module")
def in2n_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_ip2p_dir: Path, tiny_scene_dir: Path
) -> Iterator[dict]:
    """A real `in2n-server` on loopback: tiny random IP2P model, the procedural dataset's folder allowed.

    Skips only when the server package cannot be imported.
    """
    pytest.importorskip(
        "in2n_server.cli", reason="the in2n_server package (server/cli.py) cannot be imported"
    )
    port = free_port()
    workspace = tmp_path_factory.mktemp("server-workspace")
    log_path = workspace / "server.log"
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "2")
    command = [
        sys.executable,
        "-c",
        "import sys; from in2n_server.cli import main; sys.exit(main())",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workspace",
        str(workspace),
        "--device",
        "cpu",
        "--model",
        str(tiny_ip2p_dir),
        "--allow-root",
        str(tiny_scene_dir.parent),
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"in2n-server exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{url}/v1/health", timeout=2) as response:
                    health = json.loads(response.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"in2n-server did not answer in 180 s:\n{log_path.read_text()[-4000:]}")
                time.sleep(0.5)
        yield {"port": port, "url": url, "health": health, "log": log_path, "process": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
