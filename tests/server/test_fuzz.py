"""Property-based fuzzing of the server's own OpenAPI schema (schemathesis): never a 5xx, and every
answer matches the documented status codes, content types and schemas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_openapi_fuzzing_finds_no_server_error(start_server, tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    root.mkdir()
    server = start_server("--allow-root", str(root))
    checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
    command = [
        str(Path(sys.executable).parent / "st"),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        checks,
        "--max-examples",
        "25",
        "--seed",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--no-color",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + server.log()
    assert "17 generated" not in result.stdout  # sanity: it really generated many cases
    assert (
        list((server.workspace / "scenes").iterdir()) == []
        and list((server.workspace / "jobs").iterdir()) == []
    )
