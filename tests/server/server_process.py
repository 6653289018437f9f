"""Helpers for tests against a real `in2n-server` process on 127.0.0.1 (free port, temp workspace, CPU)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command() -> list[str]:
    script = Path(sys.executable).parent / "in2n-server"
    return [str(script)] if script.exists() else [sys.executable, "-m", "in2n_server.cli"]


@dataclass
class ServerProcess:
    workspace: Path
    args: list[str]
    token: str | None = None
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(
            base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 120.0), **kwargs
        )

    def start(self, timeout: float = 120.0) -> ServerProcess:
        env = dict(os.environ)
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        if self.token:
            env["IN2N_TOKEN"] = self.token
        self.log_path = self.workspace.parent / f"server-{self.port}.log"
        command = [*server_command(), "--host", self.host, "--port", str(self.port)]
        command += ["--workspace", str(self.workspace), "--device", "cpu", *self.args]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        with self.client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"in2n-server exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    if client.get("/v1/health").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"in2n-server did not answer in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace")[-6000:]
            if self.log_path and self.log_path.exists()
            else ""
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run, as after a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def workspace_snapshot(root: Path) -> dict[str, int]:
    """Every file under the workspace with its size (what 'unchanged' means for a rejected request)."""
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()} | {
        str(p.relative_to(root)) + "/": 0 for p in sorted(root.rglob("*")) if p.is_dir()
    }


def upload_parts(dataset: Path, frames: list[dict] | None = None) -> tuple[dict, list]:
    """multipart `data` and `files` for POST /v1/scenes from a nerfstudio dataset folder."""
    document = json.loads((dataset / "transforms.json").read_text())
    if frames is not None:
        document["frames"] = frames
    files = [
        ("images", (Path(f["file_path"]).name, (dataset / f["file_path"]).read_bytes(), "image/png"))
        for f in document["frames"]
    ]
    return {"transforms": json.dumps(document)}, files


def copy_dataset(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
