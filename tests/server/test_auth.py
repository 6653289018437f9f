"""A token guards every request on a non-loopback bind; without one the server refuses to start."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from server_process import free_port, server_command

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier


def test_non_loopback_bind_without_token_refuses_to_start(tmp_path: Path) -> None:
    command = [
        *server_command(),
        "--host",
        "0.0.0.0",
        "--port",
        str(free_port()),
        "--workspace",
        str(tmp_path),
    ]
    env = {k: v for k, v in __import__("os").environ.items() if k != "IN2N_TOKEN"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2
    assert "without a token" in result.stderr and "--token" in result.stderr
    assert not (tmp_path / "jobs").exists()  # nothing started, nothing written


def test_every_request_needs_the_token(start_server) -> None:
    server = start_server(host="0.0.0.0", token="s3cret-token")
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        for method, path in [
            ("GET", "/v1/health"),
            ("GET", "/v1/jobs"),
            ("POST", "/v1/scenes"),
            ("GET", "/openapi.json"),
            ("GET", "/v1/jobs/j-x/events"),
        ]:
            response = anonymous.request(method, path)
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
        wrong = anonymous.get("/v1/health", headers={"Authorization": "Bearer s3cret-tokem"})
        assert wrong.status_code == 401
    with server.client() as client:  # sends the right token
        assert client.get("/v1/health").status_code == 200
        assert client.get("/v1/scenes").json() == []
