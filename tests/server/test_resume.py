"""SIGKILL during the edit phase, restart on the same workspace: the job resumes from its last checkpoint
and completes, and what existed before the kill (edited images, events) is intact."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image
from server_process import ServerProcess, upload_parts

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

JOB = {
    "instruction": "make it blue",
    "tier": "in2n-cpu",
    "diffusion_steps": 2,
    "base_iterations": 40,
    "edit_iterations": 60,
    "edit_rate": 5,
    "seed": 1,
}


def sse_events(response: httpx.Response):
    """Yield {"id", "event", "data"} as they arrive."""
    current: dict = {}
    for line in response.iter_lines():
        if line == "":
            if "event" in current:
                yield current
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            current[key] = int(value) if key == "id" else json.loads(value) if key == "data" else value


def test_sigkill_during_edit_then_restart_resumes_and_completes(
    start_server, tiny_ip2p_dir: Path, tiny_scene_dir: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace"
    args = ("--model", str(tiny_ip2p_dir), "--checkpoint-every", "10")
    server: ServerProcess = start_server(*args, workspace=workspace)
    with server.client() as client:
        data, files = upload_parts(tiny_scene_dir)
        scene_id = client.post("/v1/scenes", data=data, files=files).json()["scene_id"]
        job_id = client.post("/v1/jobs", json={"scene_id": scene_id, **JOB}).json()["job_id"]
        seen = []
        with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=600) as response:
            for event in sse_events(response):
                seen.append(event)
                edits = [e for e in seen if e["event"] == "edit"]
                checkpoints_in_edit = [e for e in seen if e["event"] == "preview" and e["data"]["step"] > 40]
                if len(edits) >= 4 and checkpoints_in_edit:
                    break
        server.kill()

    session = workspace / "jobs" / job_id / "session"
    edited_before = {p.name: p.read_bytes() for p in sorted((session / "edited").glob("*.png"))}
    log_before = (workspace / "jobs" / job_id / "events.jsonl").read_text().splitlines()
    assert len(edited_before) >= 3 and len(log_before) >= len(seen)
    assert json.loads((workspace / "jobs" / job_id / "job.json").read_text())["state"] == "running"

    restarted: ServerProcess = start_server(*args, workspace=workspace)
    with restarted.client() as client:
        with client.stream(
            "GET", f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": str(seen[-1]["id"])}, timeout=600
        ) as response:
            rest = list(sse_events(response))
        assert rest[0]["id"] == seen[-1]["id"] + 1
        assert rest[-1]["event"] == "done" and rest[-1]["data"] == {"state": "completed"}, restarted.log()
        assert any(e["event"] == "state" and "restarted" in e["data"]["message"] for e in rest)
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["state"] == "completed" and job["step"] == job["total_steps"] == 100
        assert job["progress"] == 1.0 and job["edits_done"] >= 12

        # The log kept everything from before the kill, byte for byte, and ids run on without a gap.
        log_after = (workspace / "jobs" / job_id / "events.jsonl").read_text().splitlines()
        assert log_after[: len(log_before)] == log_before
        assert [json.loads(line)["id"] for line in log_after] == list(range(1, len(log_after) + 1))

        # Edited images from before the kill are still there and readable (later edits may replace them).
        for name in edited_before:
            image = client.get(f"/v1/jobs/{job_id}/images/{int(name[:4])}")
            assert image.status_code == 200
            assert Image.open(io.BytesIO(image.content)).size == (48, 48)
