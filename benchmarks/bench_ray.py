"""Ray backend vs the embedded worker: N identical tiny jobs, wall time until all have finished.

    .venv/bin/python -m benchmarks.bench_ray [--jobs 3] [--workers 1 2]

Starts a real `in2n-server` three ways on one temp workspace each: embedded (one job at a time), and
`--ray ADDRESS` on a local Ray head started with `--num-cpus k` for each k of `--workers` (one job per CPU
there, as on a GPU node one job per GPU). Each run uploads the same procedural scene and creates `--jobs`
jobs at once (in2n-cpu, the tiny random InstructPix2Pix built offline), then waits for all of them.
Prints, and writes `benchmarks/results/ray.json`: wall time for all N, mean time a job spent running, and the
Ray path's overhead per job (its wall time with one worker minus the embedded one's, over N).
On this 2-core machine two workers share two cores, so k = 2 shows the scheduling works, not a speed-up:
that needs one GPU (or node) per worker.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.bench_server import ROOT, free_port, offline_environment, start_server

RESULTS = ROOT / "benchmarks" / "results" / "ray.json"
JOB = {
    "instruction": "make it blue",
    "tier": "in2n-cpu",
    "diffusion_steps": 2,
    "base_iterations": 40,
    "edit_iterations": 40,
    "edit_rate": 5,
    "seed": 0,
}


def run_jobs(url: str, scene_dir: Path, count: int) -> dict[str, float]:
    """Create `count` jobs at once; wall time until all have finished, and each one's running time."""
    document = json.loads((scene_dir / "transforms.json").read_text())
    files = [
        ("images", (Path(f["file_path"]).name, (scene_dir / f["file_path"]).read_bytes(), "image/png"))
        for f in document["frames"]
    ]
    with httpx.Client(base_url=url, timeout=600) as client:
        scene_id = client.post("/v1/scenes", data={"transforms": json.dumps(document)}, files=files).json()[
            "scene_id"
        ]
        started = time.monotonic()
        ids = [
            client.post("/v1/jobs", json={"scene_id": scene_id, **JOB}).json()["job_id"] for _ in range(count)
        ]
        running_since: dict[str, float] = {}
        running_for: dict[str, float] = {}
        while len(running_for) < count:
            now = time.monotonic()
            for job_id in ids:
                state = client.get(f"/v1/jobs/{job_id}").json()["state"]
                if state == "running":
                    running_since.setdefault(job_id, now)
                elif state in ("completed", "failed", "cancelled") and job_id not in running_for:
                    if state != "completed":
                        raise RuntimeError(f"job {job_id} {state}")
                    running_for[job_id] = now - running_since.get(job_id, now)
            time.sleep(0.25)
        wall = time.monotonic() - started
    return {"wall_s": round(wall, 1), "mean_running_s": round(sum(running_for.values()) / count, 1)}


def ray_head(num_cpus: int, env: dict[str, str]) -> str:
    port = free_port()
    ray = Path(sys.executable).parent / "ray"
    command = [str(ray), "start", "--head", f"--port={port}", f"--num-cpus={num_cpus}", "--num-gpus=0"]
    subprocess.run([*command, "--include-dashboard=false"], check=True, env=env, capture_output=True)
    return f"127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=3, help="identical jobs to run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts to compare")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as temp:
        home = Path(temp)
        env = {**offline_environment(home), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        # Ray >= 2.59 authenticates cluster traffic with a token: the head, its workers and the server
        # (a driver joining by address) must share one (docs/server.md).
        env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)})
        from in2n_server.editor.tiny import build_tiny_ip2p
        from in2n_server.samples.procedural import generate_scene

        model = build_tiny_ip2p(
            home / "tiny-ip2p", ROOT / "tests" / "fixtures" / "data" / "bpe_simple_vocab_16e6.txt.gz"
        )
        scene = generate_scene(home / "scene", num_views=16, size=48)
        setups = [("embedded", None)] + [(f"ray, {k} worker{'s' if k > 1 else ''}", k) for k in args.workers]
        for name, workers in setups:
            workspace = home / f"workspace-{workers or 0}"
            workspace.mkdir()
            extra = ["--ray", ray_head(workers, env)] if workers else []
            process, url = start_server(
                workspace, env, "--model", str(model), "--checkpoint-every", "20", *extra
            )
            try:
                results[name] = run_jobs(url, scene.root, args.jobs)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(120)
                if workers:
                    subprocess.run(
                        [str(Path(sys.executable).parent / "ray"), "stop", "--force"],
                        env=env,
                        capture_output=True,
                    )
            figures = results[name]
            print(
                f"{name}: {args.jobs} jobs in {figures['wall_s']} s, "
                f"each running {figures['mean_running_s']} s on average",
                flush=True,
            )
    embedded, single = results["embedded"], results.get("ray, 1 worker")
    if single:
        overhead = (single["wall_s"] - embedded["wall_s"]) / args.jobs
        results["ray_overhead_per_job_s"] = {"value": round(overhead, 1)}
        print(f"Ray overhead per job (1 worker vs embedded): {overhead:.1f} s")
    RESULTS.write_text(json.dumps({"jobs": args.jobs, "job": JOB, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
