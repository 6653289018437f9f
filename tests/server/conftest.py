"""Fixtures for the server tests: a real `in2n-server` process started on demand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_process import ServerProcess


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """`start_server(*args, workspace=None, token=None, host=...)` -> a started ServerProcess."""
    started: list[ServerProcess] = []

    def start(*args: str, workspace: Path | None = None, **kwargs: Any) -> ServerProcess:
        server = ServerProcess(workspace or tmp_path / "workspace", list(args), **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
