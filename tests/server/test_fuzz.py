"""Property-based fuzzing of the server's own OpenAPI schema (schemathesis): never a 5xx, and every
answer matches the documented status codes, content types and schemas."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier


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
    # It really exercised the API: every operation of the schema tested, many cases each on average.
    operations = sum(
        method in ("get", "post", "put", "patch", "delete")
        for path in httpx.get(f"{server.url}/openapi.json").json()["paths"].values()
        for method in path
    )
    selected = re.search(r"^\s*Selected: (\d+)/(\d+)$", result.stdout, re.MULTILINE)
    tested = re.search(r"^\s*Tested: (\d+)$", result.stdout, re.MULTILINE)
    generated = re.search(r"^\s*(\d+) generated\b", result.stdout, re.MULTILINE)
    assert selected and tested and generated, result.stdout[-3000:]
    assert int(selected[1]) == int(selected[2]) == int(tested[1]) == operations, result.stdout[-3000:]
    assert int(generated[1]) >= 10 * operations, result.stdout[-3000:]
    assert (
        list((server.workspace / "scenes").iterdir()) == []
        and list((server.workspace / "jobs").iterdir()) == []
    )
