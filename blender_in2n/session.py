"""What this Blender session holds outside bpy data: the worker threads, a started server, temp files.

The extension's main-thread code is split by job: `actions` (what the operators do), `local_server`
(starting in2n-server from Blender), `results` (the timer that applies worker results), `dataset_cameras`
(a server dataset's cameras as objects) and `notifications` (reports outside an operator).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from typing import Any

import bpy

from . import preferences
from .client import Client
from .worker import Worker


class ActionError(ValueError):
    """An action that cannot start (bad input, nothing selected, no job): the operator reports it."""


class Session:
    """Everything this Blender session holds outside bpy data: threads, a started server, temp files."""

    def __init__(self) -> None:
        self.worker = Worker()
        self.server_process: subprocess.Popen[bytes] | None = None
        self.server_log: str = ""
        self.preview_in_flight = False
        self.preview_wanted = False
        self.temp_dirs: list[str] = []
        self.last_health = 0.0
        self.client: Client | None = None

    def temp_dir(self, prefix: str) -> str:
        path = tempfile.mkdtemp(prefix=prefix)
        self.temp_dirs.append(path)
        return path

    def close(self) -> None:
        self.worker.stop()
        if self.server_process is not None and self.server_process.poll() is None:
            self.server_process.terminate()
            try:
                self.server_process.wait(10)
            except subprocess.TimeoutExpired:
                self.server_process.kill()
                self.server_process.wait(5)
        self.server_process = None
        for path in self.temp_dirs:
            shutil.rmtree(path, ignore_errors=True)
        self.temp_dirs.clear()


_session: Session | None = None


def get_session() -> Session:
    global _session
    if _session is None:
        _session = Session()
    return _session


def current() -> Session | None:
    """The session if one was started (the timer does nothing before the first action)."""
    return _session


def shutdown() -> None:
    """Stop threads and a server this session started; called from unregister."""
    global _session
    if _session is not None:
        _session.close()
        _session = None


def status(context: Any = None) -> Any:
    return (context or bpy.context).window_manager.in2n


def make_client(context: Any) -> Client:
    """A client for the server in the preferences; refuses non-loopback hosts without online access."""
    settings = preferences.server_settings(context)
    client = Client(
        settings.host,
        settings.port,
        settings.token,
        online_access=bool(getattr(bpy.app, "online_access", False)),
    )
    get_session().client = client
    return client


def set_busy(context: Any, message: str) -> None:
    st = status(context)
    st.busy = True
    st.message = message
    st.error = ""


def require_job(context: Any) -> str:
    job_id = status(context).job_id
    if not job_id:
        raise ActionError("no edit job yet: press Edit first")
    return job_id
