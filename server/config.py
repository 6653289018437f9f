"""Settings: everything `in2n-server` can be told, in one object that tests build directly.

The command line is generated from this dataclass by tyro (`cli.py`): each field is a flag, its docstring
the flag's help, so the two cannot drift apart.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import tyro

from in2n_protocol.wire import DEFAULT_HOST, DEFAULT_PORT


def default_workspace() -> Path:
    """Per-user cache folder: jobs, scenes and checkpoints survive restarts there."""
    return Path.home() / ".cache" / "in2n" / "workspace"


@dataclass
class Settings:
    """Server configuration (the CLI fills it from flags; tests construct it)."""

    host: str = DEFAULT_HOST
    """Address to bind; anything but loopback requires `token`."""
    port: int = DEFAULT_PORT
    """TCP port."""
    workspace: Path = field(default_factory=default_workspace)
    """Folder holding scenes, jobs, checkpoints and event logs (created if missing)."""
    device: Literal["auto", "cuda", "cpu"] = "auto"
    """Where jobs train and previews render: auto picks CUDA when available."""
    model: str | None = None
    """Editor weights for every job: a Hugging Face id, a local diffusers pipeline folder, or "demo" (the
    small bundled editor); None = the tier's default (timbrooks/instruct-pix2pix)."""
    token: str | None = None
    """Bearer token every request must carry ('Authorization: Bearer TOKEN'; or set IN2N_TOKEN); required
    for a non-loopback bind."""
    allow_roots: Annotated[
        list[Path], tyro.conf.arg(name="allow-root", metavar="DIR"), tyro.conf.UseAppendAction
    ] = field(default_factory=list)
    """A folder whose nerfstudio datasets `POST /v1/scenes/from-path` may read."""
    max_images: int = 500
    """Most images one scene may have."""
    max_upload_mb: float = 2048.0
    """Largest accepted upload body, in MiB."""
    max_image_side: int = 8192
    """Largest accepted image side, before the downscale."""
    max_image_size: int = 512
    """Images are downscaled so that their longer side is at most this (IP2P slows badly above 512)."""
    checkpoint_every: int = 200
    """NeRF steps between checkpoints (a killed server resumes from the last one)."""
    ray: Annotated[str | None, tyro.conf.arg(metavar="auto|ADDRESS")] = None
    """None: jobs run one at a time in this process. "auto": start a local Ray on this machine and run
    as many jobs at once as it has GPUs (CPUs without GPUs); an address (HOST:6379): join that Ray cluster,
    with the workspace on a folder every node sees at the same path. Needs `pip install .[ray]`."""
    ray_job_restarts: int = 3
    """Times Ray restarts a job's actor after its process or node is lost (it resumes from its checkpoint)."""
    ping_seconds: float = 15.0
    """Interval of the SSE keep-alive comment."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """uvicorn/logging level."""

    def __post_init__(self) -> None:
        self.workspace = Path(self.workspace).expanduser()
        self.allow_roots = [Path(p).expanduser().resolve() for p in self.allow_roots]

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def check(self) -> None:
        """Refuse configurations that would be unsafe or cannot work (raises ValueError)."""
        if not self.is_loopback and not self.token:
            raise ValueError(
                f"refusing to listen on {self.host!r} without a token: anyone who can reach it could run "
                "jobs and read files. Pass --token SECRET (or set IN2N_TOKEN), or bind to 127.0.0.1."
            )
        if self.device not in ("auto", "cuda", "cpu"):
            raise ValueError(f"device must be auto, cuda or cpu, got {self.device!r}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be in 1..65535, got {self.port}")
        if self.ray is not None and importlib.util.find_spec("ray") is None:
            raise ValueError(
                "--ray needs Ray, which is not installed: pip install '.[ray]' (or pip install ray)"
            )
        for root in self.allow_roots:
            if not root.is_dir():
                raise ValueError(f"--allow-root {root} is not a directory")


def is_loopback_host(host: str) -> bool:
    """True for localhost names and loopback addresses (127.0.0.0/8, ::1)."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
