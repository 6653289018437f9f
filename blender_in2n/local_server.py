"""Starting `in2n-server` on this machine from Blender, with the interpreter named in the preferences."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from . import preferences
from .client import Client, ClientError, is_loopback
from .session import ActionError, get_session, make_client, set_busy
from .worker import Tag


def start_local_server(context: Any) -> None:
    """Start `in2n-server` from the interpreter named in the preferences, on the configured loopback port."""
    settings = preferences.server_settings(context)
    session = get_session()
    if session.server_process is not None and session.server_process.poll() is None:
        raise ActionError("a local server started from Blender is already running")
    if not settings.python or not os.path.isfile(settings.python):
        raise ActionError("set 'Server Python' in the extension's preferences to a Python with in2n-server")
    if not is_loopback(settings.host):
        raise ActionError(
            f"a local server listens on this machine; set the host to 127.0.0.1, not {settings.host}"
        )
    workspace = settings.workspace or session.temp_dir("in2n-workspace-")
    os.makedirs(workspace, exist_ok=True)
    command = [
        settings.python,
        "-c",
        "import sys; from in2n_server.cli import main; sys.exit(main())",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workspace",
        workspace,
    ]
    if settings.model:
        command += ["--model", settings.model]
    if settings.device:
        command += ["--device", settings.device]
    session.server_log = os.path.join(workspace, "in2n-server.log")
    with open(session.server_log, "ab") as log:
        session.server_process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    client = make_client(context)
    set_busy(context, "starting the local server")
    process = session.server_process
    session.worker.submit(Tag.HEALTH, lambda: _wait_healthy(client, process, 300.0))


def _wait_healthy(client: Client, process: subprocess.Popen[bytes] | None, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.health()
        except ClientError:
            if process is not None and process.poll() is not None:
                raise ClientError(f"the local server exited with code {process.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
