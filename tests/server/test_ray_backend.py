"""The Ray backend on a real local Ray cluster (this machine's 2 CPUs, one job per CPU), through a real
`in2n-server --ray auto` process on 127.0.0.1.

One scenario, measured once and asserted piece by piece: two tiny jobs run at the same time; previews and
exports of a running job answer; the process of one job's actor is killed with SIGKILL in the middle of its
edit phase, and Ray's restart plus the engine's resume complete it with the edit count of an uninterrupted
run, with no edited image lost; a job beyond the cluster's workers waits; SSE replays exactly the log.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image
from server_process import ServerProcess, upload_parts

pytest.importorskip("ray", reason="the Ray extra is not installed (pip install '.[ray]')")
pytestmark = pytest.mark.slow  # starts servers, a Ray cluster and interpreters

JOB = {
    "instruction": "make it blue",
    "tier": "in2n-cpu",
    "diffusion_steps": 2,
    "base_iterations": 30,
    "edit_iterations": 60,
    "edit_rate": 5,
    "seed": 1,
}
LONG_JOB = {**JOB, "edit_iterations": 120}  # still running while its previews and exports are asked for
TOTAL_STEPS = {"long": 150, "killed": 90}
TIMEOUT_S = 600


def wait_until(condition, what: str, timeout: float = TIMEOUT_S, every: float = 0.3):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sse(client: httpx.Client, job_id: str, after: int = 0) -> list[dict]:
    """The whole SSE stream of a finished job (it ends after `done`), after event id `after`."""
    events, current = [], {}
    headers = {"Last-Event-ID": str(after)} if after else {}
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=120) as response:
        for line in response.iter_lines():
            if line == "":
                if "event" in current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                value = value.removeprefix(" ")
                current[key] = int(value) if key == "id" else json.loads(value) if key == "data" else value
    return events


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory, tiny_ip2p_dir: Path, tiny_scene, tiny_scene_dir: Path
) -> dict:
    root = tmp_path_factory.mktemp("ray")
    workspace = root / "workspace"
    args = ["--ray", "auto", "--model", str(tiny_ip2p_dir), "--checkpoint-every", "10"]
    server = ServerProcess(workspace, args).start(timeout=180)
    seen: dict = {"both_running": False}
    try:
        with server.client() as client:
            data, files = upload_parts(tiny_scene_dir)
            scene_id = client.post("/v1/scenes", data=data, files=files).json()["scene_id"]
            first = client.post("/v1/jobs", json={"scene_id": scene_id, **LONG_JOB}).json()["job_id"]
            second = client.post("/v1/jobs", json={"scene_id": scene_id, **JOB}).json()["job_id"]
            heldout = tiny_scene.heldout_cameras[0]
            camera = {k: heldout[k] for k in ("fl_x", "fl_y", "cx", "cy", "w", "h", "transform_matrix")}

            def both_running() -> bool:
                states = [client.get(f"/v1/jobs/{j}").json() for j in (first, second)]
                return all(s["state"] == "running" and s["step"] > 0 for s in states)

            seen["both_running"] = bool(wait_until(both_running, "both jobs running"))
            # A third job waits for a free worker (2 CPUs: 2 jobs); cancel and delete it while it waits.
            third = client.post("/v1/jobs", json={"scene_id": scene_id, **JOB}).json()["job_id"]
            time.sleep(1.0)
            seen["third_waiting"] = client.get(f"/v1/jobs/{third}").json()["state"]
            seen["third_cancelled"] = client.post(f"/v1/jobs/{third}/cancel").json()["state"]
            seen["third_deleted"] = client.delete(f"/v1/jobs/{third}").status_code
            seen["third_after"] = client.get(f"/v1/jobs/{third}").status_code
            # Kill the second job's actor process once it has edits and a checkpoint in the edit phase.
            job_dir = workspace / "jobs" / second

            def edit_checkpoint() -> bool:
                events = read_events(job_dir / "events.jsonl")
                edits = [e for e in events if e["event"] == "edit"]
                late = [
                    e
                    for e in events
                    if e["event"] == "preview" and e["data"]["step"] > JOB["base_iterations"]
                ]
                return len(edits) >= 3 and bool(late)

            wait_until(edit_checkpoint, "edits and a checkpoint in the edit phase", every=0.05)
            worker = json.loads((job_dir / "worker.json").read_text())
            seen["edited_before_kill"] = {
                p.name: p.stat().st_size for p in sorted((job_dir / "session" / "edited").glob("*.png"))
            }
            os.kill(worker["pid"], signal.SIGKILL)
            seen["killed_pid"] = worker["pid"]

            # While that actor restarts, the first job (still running) answers previews and exports.
            assert client.get(f"/v1/jobs/{first}").json()["state"] == "running"
            seen["preview"] = client.post(f"/v1/jobs/{first}/preview", json={"camera": camera, "width": 32})
            seen["preview_state"] = client.get(f"/v1/jobs/{first}").json()["state"]
            seen["export"] = client.post(
                f"/v1/jobs/{first}/export", json={"kind": "point_cloud", "num_points": 2000}
            )

            def finished() -> list[dict] | None:
                jobs = [client.get(f"/v1/jobs/{j}").json() for j in (first, second)]
                return jobs if all(j["state"] in ("completed", "failed", "cancelled") for j in jobs) else None

            seen["jobs"] = wait_until(finished, "both jobs to finish", every=1.0)
            seen["worker_after"] = json.loads((job_dir / "worker.json").read_text())
            seen["images_after"] = {
                name: client.get(f"/v1/jobs/{second}/images/{int(name[:4])}")
                for name in seen["edited_before_kill"]
            }
            seen["log"] = {j: read_events(workspace / "jobs" / j / "events.jsonl") for j in (first, second)}
            seen["sse"] = {j: sse(client, j) for j in (first, second)}
            seen["sse_after_10"] = sse(client, second, after=10)
    finally:
        server.stop()
        seen["server_log"] = server.log()
    return seen


def test_two_jobs_run_at_the_same_time(scenario: dict) -> None:
    assert scenario["both_running"]
    for job, kind in zip(scenario["jobs"], ("long", "killed"), strict=True):
        assert job["state"] == "completed", scenario["server_log"]
        assert job["step"] == job["total_steps"] == TOTAL_STEPS[kind]


def test_jobs_beyond_the_clusters_workers_wait_and_can_be_cancelled_and_deleted(scenario: dict) -> None:
    assert scenario["third_waiting"] == "queued"
    assert scenario["third_cancelled"] == "cancelled"
    assert (scenario["third_deleted"], scenario["third_after"]) == (204, 404)


def test_a_running_job_answers_previews_and_exports(scenario: dict) -> None:
    preview, export = scenario["preview"], scenario["export"]
    assert preview.status_code == 200, preview.text
    assert scenario["preview_state"] == "running"
    assert Image.open(io.BytesIO(preview.content)).width == 32
    # The export ran on the actor's running session: this tiny NeRF, some 40 steps in, has no surface that
    # several views agree on yet (measured), and the engine's own answer comes back unchanged (not Ray's
    # wrapper of it) as the protocol's 409.
    assert export.status_code == 409, export.text
    assert "no opaque surface to export yet" in export.json()["error"]["message"]


def test_killed_actor_resumes_from_its_checkpoint_with_every_edit(scenario: dict) -> None:
    long, killed = scenario["jobs"]
    assert scenario["worker_after"]["pid"] != scenario["killed_pid"]
    # The same count as a run that was never interrupted: one edit every edit_rate steps of the edit phase.
    assert killed["edits_done"] == JOB["edit_iterations"] // JOB["edit_rate"]
    assert long["edits_done"] == LONG_JOB["edit_iterations"] // LONG_JOB["edit_rate"]
    for name, response in scenario["images_after"].items():
        assert response.status_code == 200, name
        assert Image.open(io.BytesIO(response.content)).size == (48, 48)
    messages = [e["data"]["message"] for e in scenario["log"][killed["job_id"]] if e["event"] == "state"]
    assert any("worker was lost" in m for m in messages), messages


def test_sse_replays_the_event_log_unchanged(scenario: dict) -> None:
    for job_id, log in scenario["log"].items():
        assert [e["id"] for e in log] == list(range(1, len(log) + 1))
        streamed = scenario["sse"][job_id]
        assert [(e["id"], e["event"], e["data"]) for e in streamed] == [
            (e["id"], e["event"], e["data"]) for e in log
        ]
        assert streamed[-1]["event"] == "done" and streamed[-1]["data"] == {"state": "completed"}
    second = list(scenario["log"])[1]
    assert scenario["sse_after_10"] == scenario["sse"][second][10:]


def test_the_embedded_worker_never_imports_ray(tmp_path: Path) -> None:
    """With no --ray, a server that starts, runs its worker and stops has not imported Ray."""
    script = f"""
import sys
from fastapi.testclient import TestClient
from in2n_server.app import create_app
from in2n_server.config import Settings

with TestClient(create_app(Settings(workspace={str(tmp_path)!r}, device="cpu"))) as client:
    assert client.get("/v1/health").status_code == 200
print("ray" in sys.modules, any(name.startswith("ray.") for name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
