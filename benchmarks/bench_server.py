"""Server benchmark: prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench_server.py [--images 100] [--size 512] [--previews 5] [--points 1000000]

Starts a real `in2n-server` (CPU, a temp workspace, a tiny random InstructPix2Pix built offline) and measures:
1. ingest: POST /v1/scenes with `--images` random-content PNGs of `--size`² (upload + validation + prepare);
2. preview latency at 256² while a job trains (it waits for the current step, then renders between steps);
3. export of a `--points` point cloud from the (cancelled) job's checkpoint.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_environment(home: Path) -> dict[str, str]:
    """HF offline, and random AlexNet weights where torch.hub looks (nerfstudio's LPIPS builds offline)."""
    import torch
    import torchvision

    checkpoint = home / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    if not checkpoint.exists():
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        torch.save(torchvision.models.alexnet().state_dict(), checkpoint)
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TORCH_HOME": str(home / "torch"),
        "HF_HOME": str(home / "hf"),
    }


def start_server(
    workspace: Path, env: dict[str, str], *args: str, timeout_s: float = 300.0
) -> tuple[subprocess.Popen, str]:
    """Start `in2n-server` on a free port; returns once /v1/health answers (else raises with its log)."""
    port = free_port()
    script = Path(sys.executable).parent / "in2n-server"
    command = [str(script), "--port", str(port), "--workspace", str(workspace), "--device", "cpu", *args]
    log_path = workspace.parent / f"server-{workspace.name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"server did not start (exit code {process.poll()}); its log ends:\n{tail}")


def ingest(client: httpx.Client, count: int, size: int) -> None:
    rng = np.random.default_rng(0)
    frames, files = [], []
    for i in range(count):
        # Smooth random content (noise would make unrealistically large PNGs).
        small = rng.integers(0, 255, (size // 32, size // 32, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR).save(buffer, format="PNG")
        files.append(("images", (f"{i:04d}.png", buffer.getvalue(), "image/png")))
        angle = 2 * np.pi * i / count
        pose = [
            [np.cos(angle), 0, np.sin(angle), 4 * np.sin(angle)],
            [0, 1, 0, 0],
            [-np.sin(angle), 0, np.cos(angle), 4 * np.cos(angle)],
            [0, 0, 0, 1],
        ]
        frames.append({"file_path": f"images/{i:04d}.png", "transform_matrix": pose})
    transforms = {
        "fl_x": size * 0.9,
        "fl_y": size * 0.9,
        "cx": size / 2,
        "cy": size / 2,
        "w": size,
        "h": size,
        "frames": frames,
    }
    megabytes = sum(len(f[1][1]) for f in files) / 1e6
    started = time.perf_counter()
    response = client.post("/v1/scenes", data={"transforms": json.dumps(transforms)}, files=files)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    print(
        f"ingest: {count} images of {size}x{size} ({megabytes:.1f} MB) in {elapsed:.2f} s "
        f"({1000 * elapsed / count:.1f} ms per image)"
    )
    client.delete(f"/v1/scenes/{response.json()['scene_id']}")


def preview_and_export(client: httpx.Client, scene_dir: Path, previews: int, points: int) -> None:
    document = json.loads((scene_dir / "transforms.json").read_text())
    frames = [
        ("images", (Path(f["file_path"]).name, (scene_dir / f["file_path"]).read_bytes(), "image/png"))
        for f in document["frames"]
    ]
    scene = client.post("/v1/scenes", data={"transforms": json.dumps(document)}, files=frames).json()
    job = client.post(
        "/v1/jobs",
        json={
            "scene_id": scene["scene_id"],
            "instruction": "make it blue",
            "tier": "in2n-cpu",
            "base_iterations": 100000,
            "edit_iterations": 0,
        },
    ).json()
    heldout = json.loads((scene_dir / "heldout.json").read_text())["frames"][0]
    camera = {k: heldout[k] for k in ("fl_x", "fl_y", "cx", "cy", "w", "h", "transform_matrix")}
    while client.get(f"/v1/jobs/{job['job_id']}").json()["step"] < 5:
        time.sleep(0.5)
    latencies = []
    for _ in range(previews):
        started = time.perf_counter()
        response = client.post(
            f"/v1/jobs/{job['job_id']}/preview", json={"camera": camera, "width": 256, "height": 256}
        )
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
    step = client.get(f"/v1/jobs/{job['job_id']}").json()["step"]
    print(
        f"preview 256x256 while training (in2n-cpu): median {statistics.median(latencies):.2f} s, "
        f"min {min(latencies):.2f} s, max {max(latencies):.2f} s over {previews} (job at step {step})"
    )
    client.post(f"/v1/jobs/{job['job_id']}/cancel")
    while client.get(f"/v1/jobs/{job['job_id']}").json()["state"] == "running":
        time.sleep(0.5)
    started = time.perf_counter()
    response = client.post(
        f"/v1/jobs/{job['job_id']}/export", json={"kind": "point_cloud", "num_points": points}
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    print(
        f"export point cloud: {points} points requested, {len(response.content) / 1e6:.1f} MB PLY "
        f"in {elapsed:.2f} s (first export of an idle job: loads the checkpoint)"
    )
    started = time.perf_counter()
    client.post(f"/v1/jobs/{job['job_id']}/export", json={"kind": "point_cloud", "num_points": points})
    print(f"export point cloud again (session cached): {time.perf_counter() - started:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=100, help="images per scene")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--previews", type=int, default=5, help="previews to request")
    parser.add_argument("--points", type=int, default=1_000_000, help="points of the export")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-server-") as temp:
        home = Path(temp)
        env = offline_environment(home)
        from in2n_server.editor.tiny import build_tiny_ip2p
        from in2n_server.samples.procedural import generate_scene

        model = build_tiny_ip2p(
            home / "tiny-ip2p", ROOT / "tests" / "fixtures" / "data" / "bpe_simple_vocab_16e6.txt.gz"
        )
        scene = generate_scene(home / "scene", num_views=16, size=48)
        process, url = start_server(
            home / "workspace", env, "--model", str(model), "--checkpoint-every", "20"
        )
        try:
            with httpx.Client(base_url=url, timeout=600) as client:
                print(f"server: {client.get('/v1/health').json()['device_name']}, torch threads = default")
                ingest(client, args.images, args.size)
                preview_and_export(client, scene.root, args.previews, args.points)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(120)


if __name__ == "__main__":
    main()
