"""End to end against a real server process: upload, edit (real engine, tiny editor), events, preview,
export, and the exported geometry where the scene was in the scene's own (awkward) world frame."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import trimesh
from PIL import Image
from server_process import ServerProcess, upload_parts
from test_splats_export import read_splats

from in2n_server.export.splats import NORMAL_SHARE

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

JOB = {
    "instruction": "make it blue",
    "tier": "in2n-cpu",
    "diffusion_steps": 2,
    "base_iterations": 240,
    "edit_iterations": 30,
    "edit_rate": 10,
    "seed": 3,
    "optimize_cameras": False,  # the procedural cameras are exact, as Blender renders are
}


def read_sse(response: httpx.Response) -> list[dict]:
    """Parse an SSE stream into [{"id", "event", "data"}] until the server closes it."""
    events, current = [], {}
    for line in response.iter_lines():
        if line == "":
            if "event" in current:
                events.append(current)
            current = {}
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            current[key] = int(value) if key == "id" else json.loads(value) if key == "data" else value
    return events


def follow(client: httpx.Client, job_id: str, after: int = 0) -> list[dict]:
    headers = {"Last-Event-ID": str(after)} if after else {}
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=600) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return read_sse(response)


def read_ply_points(data: bytes) -> np.ndarray:
    header, _, body = data.partition(b"end_header\n")
    count = int(
        next(line for line in header.decode().splitlines() if line.startswith("element vertex")).split()[-1]
    )
    record = np.dtype([("xyz", "<f4", 3), ("rgb", "u1", 3)])
    assert len(body) == count * record.itemsize
    return np.frombuffer(body, dtype=record)["xyz"].astype(np.float64)


def surface_distance(scene, points: np.ndarray, what: str) -> np.ndarray:
    """Distance of each point to the nearest true surface (spheres or ground), in scene radii."""
    distance = scene.distance_to_surfaces(points) / scene.radius
    print(
        f"{what}: {len(points)} points, {np.mean(distance < 0.05):.1%} within 5% of the scene radius of a "
        f"surface, {np.mean(distance < 0.1):.1%} within 10%, median {np.median(distance):.3f} radius"
    )
    return distance


def true_normals(scene, points: np.ndarray) -> np.ndarray:
    """The unit normal (world frame) of the true surface nearest each point: the ground's or a sphere's."""
    local = scene.frame.points_to_local(points)
    candidates = [(np.abs(local[:, 2]), np.tile([0.0, 0.0, 1.0], (len(local), 1)))]
    for sphere in scene.spheres:
        offset = local - np.asarray(sphere.centre)
        length = np.linalg.norm(offset, axis=1)
        candidates.append((np.abs(length - sphere.radius), offset / np.maximum(length, 1e-12)[:, None]))
    nearest = np.argmin(np.stack([distance for distance, _ in candidates]), axis=0)
    normals = np.stack([normal for _, normal in candidates])[nearest, np.arange(len(local))]
    return normals @ scene.frame.rotation.T


def check_splats(scene, data: bytes) -> None:
    """The splats sit where the point cloud's points do, flat along the true surfaces."""
    columns = read_splats(data)
    assert "f_rest_8" in columns and "f_rest_9" not in columns  # sh_degree 1: 3 x 3 coefficients
    positions = np.stack([columns[axis] for axis in "xyz"], axis=1).astype(np.float64)
    assert 5000 < len(positions) <= 20000
    distance = surface_distance(scene, positions, "splats")
    assert np.median(distance) < 0.12 and np.mean(distance < 0.1) > 0.45
    normals = np.stack([columns[axis] for axis in ("nx", "ny", "nz")], axis=1)
    close = distance < 0.05
    cosine = np.abs(np.sum(normals[close] * true_normals(scene, positions[close]), axis=1))
    median, aligned = np.median(cosine), np.mean(cosine > 0.9)
    print(f"splats: |cos| to the true normal, median {median:.3f}, above 0.9 for {aligned:.1%}")
    assert np.median(cosine) > 0.8
    scales = np.stack([columns[f"scale_{i}"] for i in range(3)], axis=1)
    thin = np.log(NORMAL_SHARE)  # discs: sigma along the normal a share of the in-plane one
    assert np.allclose(scales[:, 2], scales[:, 0] + thin, atol=1e-4) and np.allclose(
        scales[:, 0], scales[:, 1]
    )
    assert np.all(np.abs(columns["opacity"]) <= np.log(99) + 1e-4)  # logits of [0.01, 0.99]


def test_round_trip(start_server, tiny_ip2p_dir: Path, tiny_scene) -> None:
    server: ServerProcess = start_server("--model", str(tiny_ip2p_dir), "--checkpoint-every", "40")
    with server.client() as client:
        health = client.get("/v1/health").json()
        assert health["editor"]["available"] and health["device"] == "cpu"

        data, files = upload_parts(tiny_scene.root)
        scene = client.post("/v1/scenes", data=data, files=files).json()
        created = client.post("/v1/jobs", json={"scene_id": scene["scene_id"], **JOB})
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]

        events = follow(client, job_id)
        kinds = [e["event"] for e in events]
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        assert kinds[-1] == "done" and events[-1]["data"] == {"state": "completed"}, server.log()
        assert "progress" in kinds and "preview" in kinds
        edits = [e["data"] for e in events if e["event"] == "edit"]
        assert len(edits) == 3  # 30 edit steps, one edit every 10
        progress = [e["data"]["progress"] for e in events if e["event"] == "progress"]
        assert progress == sorted(progress) and progress[-1] == 1.0 and max(progress) <= 1.0

        job = client.get(f"/v1/jobs/{job_id}").json()
        assert (job["state"], job["phase"], job["edits_done"], job["step"]) == ("completed", "done", 3, 270)
        edited = client.get(edits[0]["url"])
        assert edited.status_code == 200 and Image.open(io.BytesIO(edited.content)).size == (48, 48)

        # A reconnect after event 5 gets exactly the rest; after the last one, an empty stream that closes.
        assert [e["id"] for e in follow(client, job_id, after=5)] == [e["id"] for e in events[5:]]
        assert follow(client, job_id, after=events[-1]["id"]) == []

        heldout = tiny_scene.heldout_cameras[0]
        camera = {k: heldout[k] for k in ("fl_x", "fl_y", "cx", "cy", "w", "h", "transform_matrix")}
        preview = client.post(f"/v1/jobs/{job_id}/preview", json={"camera": camera, "width": 64})
        assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(preview.content)).size == (64, 64)

        cloud = client.post(f"/v1/jobs/{job_id}/export", json={"kind": "point_cloud", "num_points": 20000})
        assert cloud.status_code == 200, cloud.text
        assert f"{job_id}-point_cloud.ply" in cloud.headers["content-disposition"]
        points = read_ply_points(cloud.content)
        assert 5000 < len(points) <= 20000
        # Measured on this CPU (in2n-cpu, 240 base + 30 edit steps): 38% of the points within 5% of the
        # scene radius of a true surface, 58% within 10%, median 0.07 radius. The tiny NeRF's depth is the
        # limit (exact depth maps land within 1e-4: test_export_geometry.py); a frame error (nerfstudio's
        # normalisation not undone, an axis flip) would put the points whole radii away.
        distance = surface_distance(tiny_scene, points, "point cloud")
        assert np.median(distance) < 0.12 and np.mean(distance < 0.1) > 0.45
        shifted = surface_distance(
            tiny_scene,
            points + 0.15 * tiny_scene.radius * np.array([0.6, 0.0, 0.8]),
            "the same points shifted by 0.15 radius",
        )
        assert np.mean(shifted < 0.05) < np.mean(distance < 0.05)

        placed = {"kind": "splats", "num_points": 20000, "sh_degree": 1, "refine_steps": 0}
        splats = client.post(f"/v1/jobs/{job_id}/export", json=placed)
        assert splats.status_code == 200, splats.text
        assert f"{job_id}-splats.ply" in splats.headers["content-disposition"]
        check_splats(tiny_scene, splats.content)
        refined = client.post(
            f"/v1/jobs/{job_id}/export", json={**placed, "num_points": 4000, "refine_steps": 20}
        )
        assert refined.status_code == 200, refined.text
        columns = read_splats(refined.content)  # still on the surfaces, in the scene's frame
        positions = np.stack([columns[axis] for axis in "xyz"], axis=1).astype(np.float64)
        assert np.median(surface_distance(tiny_scene, positions, "refined splats")) < 0.12

        mesh_response = client.post(
            f"/v1/jobs/{job_id}/export", json={"kind": "mesh", "format": "ply", "resolution": 32}
        )
        assert mesh_response.status_code == 200, mesh_response.text
        mesh = trimesh.load(io.BytesIO(mesh_response.content), file_type="ply", process=False)
        assert len(mesh.faces) > 50 and mesh.visual.vertex_colors is not None
        # TSDF fusion of the same noisy depth is coarser (measured at resolution 64: median 0.26 radius).
        distance = surface_distance(tiny_scene, np.asarray(mesh.vertices), "mesh")
        assert np.median(distance) < 0.4

        glb = client.post(
            f"/v1/jobs/{job_id}/export", json={"kind": "mesh", "format": "glb", "resolution": 32}
        )
        assert glb.status_code == 200 and glb.content[:4] == b"glTF"
        assert struct.unpack("<I", glb.content[8:12])[0] == len(glb.content)
        textured = trimesh.load(io.BytesIO(glb.content), file_type="glb", force="mesh", process=False)
        assert len(textured.faces) == len(mesh.faces)  # the same mesh as the PLY, under the face budget
        assert textured.visual.kind == "texture" and textured.visual.material.baseColorTexture.size == (
            1024,
            1024,
        )
        obj = client.post(
            f"/v1/jobs/{job_id}/export",
            json={"kind": "mesh", "format": "obj", "resolution": 32, "faces": 200, "texture_size": 64},
        )
        assert obj.status_code == 200 and f"{job_id}-mesh.obj.zip" in obj.headers["content-disposition"]
        with zipfile.ZipFile(io.BytesIO(obj.content)) as archive:
            stem = f"{job_id}-mesh"
            assert sorted(archive.namelist()) == [f"{stem}.mtl", f"{stem}.obj", f"{stem}.png"]
            faces = [line for line in archive.read(f"{stem}.obj").decode().splitlines() if line[:2] == "f "]
            assert 0 < len(faces) <= 200
            assert Image.open(io.BytesIO(archive.read(f"{stem}.png"))).size == (64, 64)
