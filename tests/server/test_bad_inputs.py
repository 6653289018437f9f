"""Bad input against a real server: the right 4xx, an error body naming the problem, nothing written."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from server_process import ServerProcess, upload_parts, workspace_snapshot

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

IDENTITY = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]


def png(width: int = 32, height: int = 32, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def frame(name: str = "a.png", **changes: Any) -> dict[str, Any]:
    camera = {
        "file_path": f"images/{name}",
        "fl_x": 40.0,
        "fl_y": 40.0,
        "cx": 16.0,
        "cy": 16.0,
        "w": 32,
        "h": 32,
        "transform_matrix": IDENTITY,
    }
    camera.update(changes)
    return camera


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=array.dtype == object)
    return buffer.getvalue()


def scene_upload(
    frames: list[dict],
    images: dict[str, bytes],
    transforms_text: str | None = None,
    depths: dict[str, bytes] | None = None,
    lights: dict[str, bytes] | None = None,
    surfaces: bytes | None = None,
    document: dict | None = None,
) -> dict:
    """Always multipart (the transforms go as a plain form field, so even zero images is multipart)."""
    text = (
        transforms_text if transforms_text is not None else json.dumps({"frames": frames, **(document or {})})
    )
    files = [("transforms", (None, text.encode()))]
    files += [("images", (name, data, "image/png")) for name, data in images.items()]
    files += [("depths", (name, data, "application/octet-stream")) for name, data in (depths or {}).items()]
    files += [("lights", (name, data, "application/octet-stream")) for name, data in (lights or {}).items()]
    if surfaces is not None:
        files.append(("surfaces", ("surfaces.npz", surfaces, "application/octet-stream")))
    return {"files": files}


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


TRIANGLE = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]]], np.float32)
TRIANGLE_UV = np.array([[[0, 0], [1, 0], [0, 1]]], np.float32)
GOOD_SURFACES = {"names": np.array(["Cube"]), "positions_0": TRIANGLE, "uvs_0": TRIANGLE_UV}


def surfaces_upload(named: bool = True, **arrays: np.ndarray) -> dict:
    document = {"in2n_surfaces": "surfaces.npz"} if named else {}
    return scene_upload([frame()], {"a.png": png()}, surfaces=npz(**arrays), document=document)


def light_upload(*payloads: bytes) -> dict:
    frames = [frame(f"{i}.png", light_path=f"lights/{i}.npy") for i in range(len(payloads))]
    for i, f in enumerate(frames):
        f["transform_matrix"] = [[1, 0, 0, i], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]
    images = {f"{i}.png": png() for i in range(len(payloads))}
    return scene_upload(frames, images, lights={f"{i}.npy": data for i, data in enumerate(payloads)})


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("roots")
    allowed = base / "allowed"
    (allowed / "empty").mkdir(parents=True)
    (base / "outside").mkdir()
    (base / "outside" / "transforms.json").write_text(json.dumps({"frames": [frame()]}))
    (allowed / "escape").symlink_to(base / "outside")
    return {"base": base, "allowed": allowed}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, roots: dict[str, Path]) -> Iterator[ServerProcess]:
    workspace = tmp_path_factory.mktemp("bad-inputs") / "workspace"
    args = [
        "--max-upload-mb",
        "1",
        "--max-images",
        "20",
        "--max-image-side",
        "256",
        "--max-image-size",
        "128",
        "--allow-root",
        str(roots["allowed"]),
        "--model",
        "demo",  # bundled: job requests get past the editor check to their own validation
    ]
    process = ServerProcess(workspace, args).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


def job(**changes: Any) -> dict[str, Any]:
    return {"json": {"scene_id": "s-000000000000", "instruction": "make it blue", **changes}}


NAN_TEXT = json.dumps({"frames": [frame()]}).replace("[[1, 0, 0, 0]", "[[NaN, 0, 0, 0]")
# Past json's recursion limit, and deep enough to parse yet break whatever walks or prints it.
DEEP_TEXT = '{"frames": [' + "[" * 100_000 + "]" * 100_000 + "]}"
NESTED_FIELD_TEXT = json.dumps({"frames": [frame(w=0)]}).replace('"w": 0', '"w": ' + "[" * 900 + "]" * 900)
SINGULAR = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 3], [0, 0, 0, 1]]
MIRRORED = [[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]
BAD_LAST_ROW = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 1, 1]]


def depth_upload(payload: bytes) -> dict:
    return scene_upload([frame(depth_file_path="depths/a.npy")], {"a.png": png()}, depths={"a.npy": payload})


# (name, method, path, request kwargs, status, code, field prefix)
CASES: list[tuple[str, str, str, Callable[[dict], dict], int, str, str | None]] = [
    *(
        (f"surfaces: {name}", "POST", "/v1/scenes", make, 422, "validation_error", field)
        for name, make, field in (
            (
                "non-finite corner",
                lambda r: surfaces_upload(**{**GOOD_SURFACES, "positions_0": TRIANGLE * np.nan}),
                "surfaces",
            ),
            (
                "UVs of another shape",
                lambda r: surfaces_upload(**{**GOOD_SURFACES, "uvs_0": TRIANGLE}),
                "surfaces",
            ),
            (
                "fewer UV triangles",
                lambda r: surfaces_upload(**{**GOOD_SURFACES, "uvs_0": TRIANGLE_UV[:0]}),
                "surfaces",
            ),
            ("no names", lambda r: surfaces_upload(positions_0=TRIANGLE, uvs_0=TRIANGLE_UV), "surfaces"),
            ("a stray array", lambda r: surfaces_upload(**GOOD_SURFACES, extra=TRIANGLE), "surfaces"),
            (
                "duplicate names",
                lambda r: surfaces_upload(**{**GOOD_SURFACES, "names": np.array(["A", "A"])}),
                "surfaces",
            ),
            ("not named by transforms", lambda r: surfaces_upload(named=False, **GOOD_SURFACES), "surfaces"),
            (
                "named but not uploaded",
                lambda r: scene_upload([frame()], {"a.png": png()}, document={"in2n_surfaces": "s.npz"}),
                "transforms.in2n_surfaces",
            ),
            (
                "pickled object array (never unpickled)",
                lambda r: surfaces_upload(**{**GOOD_SURFACES, "names": np.array(["Cube"], dtype=object)}),
                "surfaces",
            ),
        )
    ),
    *(
        (f"light map: {name}", "POST", "/v1/scenes", make, 422, "validation_error", field)
        for name, make, field in (
            (
                "three channels",
                lambda r: light_upload(npy(np.ones((32, 32, 3), np.float32))),
                "frames[0].light_path",
            ),
            (
                "negative light",
                lambda r: light_upload(npy(-np.ones((32, 32, 6), np.float32))),
                "frames[0].light_path",
            ),
            (
                "another size",
                lambda r: light_upload(npy(np.ones((16, 32, 6), np.float32))),
                "frames[0].light_path",
            ),
            (
                "only some frames",
                lambda r: scene_upload(
                    [
                        frame("0.png", light_path="lights/0.npy"),
                        frame(
                            "1.png", transform_matrix=[[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]
                        ),
                    ],
                    {"0.png": png(), "1.png": png()},
                    lights={"0.npy": npy(np.ones((32, 32, 6), np.float32))},
                ),
                "frames[1].light_path",
            ),
        )
    ),
    (
        "depth array with three dimensions",
        "POST",
        "/v1/scenes",
        lambda r: depth_upload(npy(np.ones((32, 32, 3), np.float32))),
        422,
        "validation_error",
        "frames[0].depth_file_path",
    ),
    (
        "integer depth array",
        "POST",
        "/v1/scenes",
        lambda r: depth_upload(npy(np.ones((32, 32), np.int64))),
        422,
        "validation_error",
        "frames[0].depth_file_path",
    ),
    (
        "pickled depth (never unpickled)",
        "POST",
        "/v1/scenes",
        lambda r: depth_upload(npy(np.array([{"x": 1}], dtype=object))),
        422,
        "validation_error",
        "frames[0].depth_file_path",
    ),
    (
        "depth of another size than its image",
        "POST",
        "/v1/scenes",
        lambda r: depth_upload(npy(np.ones((16, 32), np.float32))),
        422,
        "validation_error",
        "frames[0].depth_file_path",
    ),
    (
        "8-bit PNG as depth",
        "POST",
        "/v1/scenes",
        lambda r: depth_upload(png()),
        422,
        "validation_error",
        "frames[0].depth_file_path",
    ),
    (
        "bounds with min above max",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload(
            [],
            {"a.png": png()},
            json.dumps({"frames": [frame()], "in2n_bounds": {"min": [0, 0, 0], "max": [1, -1, 1]}}),
        ),
        422,
        "validation_error",
        "transforms.in2n_bounds",
    ),
    (
        "malformed transforms JSON",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([], {"a.png": png()}, "{frames: ["),
        400,
        "bad_request",
        "transforms",
    ),
    (
        "transforms nested past json's limit",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([], {"a.png": png()}, DEEP_TEXT),
        400,
        "bad_request",
        "transforms",
    ),
    (
        "transforms nested deep inside a camera",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([], {"a.png": png()}, NESTED_FIELD_TEXT),
        400,
        "bad_request",
        "transforms",
    ),
    (
        "transforms not an object",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([], {"a.png": png()}, "[1, 2]"),
        422,
        "validation_error",
        "transforms",
    ),
    (
        "zero frames",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([], {}),
        422,
        "validation_error",
        "transforms.frames",
    ),
    (
        "zero images",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame()], {}),
        422,
        "validation_error",
        "images",
    ),
    (
        "wrong type focal",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame(fl_x="wide")], {"a.png": png()}),
        422,
        "validation_error",
        "frames[0].fl_x",
    ),
    (
        "negative width",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame(w=-32)], {"a.png": png()}),
        422,
        "validation_error",
        "frames[0].w",
    ),
    (
        "NaN in matrix",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([], {"a.png": png()}, NAN_TEXT),
        422,
        "validation_error",
        "frames[0].transform_matrix",
    ),
    (
        "singular matrix",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame(transform_matrix=SINGULAR)], {"a.png": png()}),
        422,
        "validation_error",
        "frames[0].transform_matrix",
    ),
    (
        "mirrored matrix",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame(transform_matrix=MIRRORED)], {"a.png": png()}),
        422,
        "validation_error",
        "frames[0].transform_matrix",
    ),
    (
        "matrix last row",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame(transform_matrix=BAD_LAST_ROW)], {"a.png": png()}),
        422,
        "validation_error",
        "frames[0].transform_matrix",
    ),
    (
        "3x3 matrix",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame(transform_matrix=[[1, 0, 0], [0, 1, 0], [0, 0, 1]])], {"a.png": png()}),
        422,
        "validation_error",
        "frames[0].transform_matrix",
    ),
    (
        "images of mismatched size",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload(
            [frame("a.png"), frame("b.png", w=48, h=48, cx=24.0, cy=24.0)],
            {"a.png": png(), "b.png": png(48, 48)},
        ),
        422,
        "validation_error",
        "frames[1]",
    ),
    (
        "camera size differs from image",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame(w=64, h=64)], {"a.png": png()}),
        422,
        "validation_error",
        "frames[0].w",
    ),
    (
        "frame names a missing upload",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame("missing.png")], {"a.png": png()}),
        422,
        "validation_error",
        "frames[0].file_path",
    ),
    (
        "upload named by no frame",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame()], {"a.png": png(), "extra.png": png()}),
        422,
        "validation_error",
        "images",
    ),
    (
        "not an image",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame()], {"a.png": b"this is not a png"}),
        422,
        "validation_error",
        "frames[0].file_path",
    ),
    (
        "traversal in upload name",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame("..evil.png")], {"..evil.png": png()}),
        422,
        "validation_error",
        "images[0]",
    ),
    (
        "oversized upload",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame()], {"a.png": png(), "pad.bin": b"\0" * (1024 * 1024 + 10)}),
        413,
        "too_large",
        "body",
    ),
    (
        "too many images",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame(f"{i}.png") for i in range(21)], {"a.png": png()}),
        413,
        "too_large",
        "transforms.frames",
    ),
    (
        "image side over the limit",
        "POST",
        "/v1/scenes",
        lambda r: scene_upload([frame(w=300, h=300, cx=150.0, cy=150.0)], {"a.png": png(300, 300)}),
        413,
        "too_large",
        "frames[0].file_path",
    ),
    ("not multipart", "POST", "/v1/scenes", lambda r: {"json": {"frames": []}}, 400, "bad_request", "body"),
    (
        "path outside the allowed roots",
        "POST",
        "/v1/scenes/from-path",
        lambda r: {"json": {"path": str(r["base"] / "outside")}},
        403,
        "forbidden",
        "path",
    ),
    (
        "path traversal out of a root",
        "POST",
        "/v1/scenes/from-path",
        lambda r: {"json": {"path": str(r["allowed"]) + "/../outside"}},
        403,
        "forbidden",
        "path",
    ),
    (
        "symlink out of a root",
        "POST",
        "/v1/scenes/from-path",
        lambda r: {"json": {"path": str(r["allowed"] / "escape")}},
        403,
        "forbidden",
        "path",
    ),
    (
        "path without a dataset",
        "POST",
        "/v1/scenes/from-path",
        lambda r: {"json": {"path": str(r["allowed"] / "empty")}},
        422,
        "validation_error",
        "path",
    ),
    ("unknown scene", "GET", "/v1/scenes/s-000000000000", lambda r: {}, 404, "not_found", "scene_id"),
    ("unknown scene image", "GET", "/v1/scenes/s-x/images/0", lambda r: {}, 404, "not_found", "scene_id"),
    ("delete unknown scene", "DELETE", "/v1/scenes/s-x", lambda r: {}, 404, "not_found", "scene_id"),
    ("unknown job", "GET", "/v1/jobs/j-000000000000", lambda r: {}, 404, "not_found", "job_id"),
    ("events of unknown job", "GET", "/v1/jobs/j-x/events", lambda r: {}, 404, "not_found", "job_id"),
    ("cancel unknown job", "POST", "/v1/jobs/j-x/cancel", lambda r: {}, 404, "not_found", "job_id"),
    ("image of unknown job", "GET", "/v1/jobs/j-x/images/0", lambda r: {}, 404, "not_found", "job_id"),
    ("job on unknown scene", "POST", "/v1/jobs", lambda r: job(), 404, "not_found", "scene_id"),
    (
        "job without instruction",
        "POST",
        "/v1/jobs",
        lambda r: {"json": {"scene_id": "s-1"}},
        422,
        "validation_error",
        "instruction",
    ),
    (
        "job instruction wrong type",
        "POST",
        "/v1/jobs",
        lambda r: job(instruction=5),
        422,
        "validation_error",
        "instruction",
    ),
    (
        "job unknown tier",
        "POST",
        "/v1/jobs",
        lambda r: job(tier="in2n-huge"),
        422,
        "validation_error",
        "tier",
    ),
    (
        "job bounds reversed",
        "POST",
        "/v1/jobs",
        lambda r: job(lower_bound=0.9, upper_bound=0.1),
        422,
        "validation_error",
        None,
    ),
    ("job unknown field", "POST", "/v1/jobs", lambda r: job(guidence=3), 422, "validation_error", "guidence"),
    (
        "job malformed JSON",
        "POST",
        "/v1/jobs",
        lambda r: {"content": b"{scene", "headers": {"content-type": "application/json"}},
        400,
        "bad_request",
        None,
    ),
    (
        "preview with NaN camera",
        "POST",
        "/v1/jobs/j-x/preview",
        lambda r: {
            "content": json.dumps({"camera": frame()}).replace("40.0", "NaN", 1),
            "headers": {"content-type": "application/json"},
        },
        422,
        "validation_error",
        "camera.fl_x",
    ),
    (
        "preview too large",
        "POST",
        "/v1/jobs/j-x/preview",
        lambda r: {"json": {"camera": {k: v for k, v in frame().items() if k != "file_path"}, "width": 5000}},
        422,
        "validation_error",
        "width",
    ),
    (
        "export mesh as nothing",
        "POST",
        "/v1/jobs/j-x/export",
        lambda r: {"json": {"kind": "point_cloud", "format": "glb"}},
        422,
        "validation_error",
        None,
    ),
    (
        "bad Last-Event-ID",
        "GET",
        "/v1/jobs/j-x/events",
        lambda r: {"headers": {"Last-Event-ID": "x"}},
        404,
        "not_found",
        "job_id",
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "make", "status", "code", "field"), CASES, ids=[case[0] for case in CASES]
)
def test_bad_input_is_rejected_and_writes_nothing(
    server: ServerProcess,
    client: httpx.Client,
    roots: dict[str, Path],
    name: str,
    method: str,
    path: str,
    make: Callable[[dict], dict],
    status: int,
    code: str,
    field: str | None,
) -> None:
    before = workspace_snapshot(server.workspace)
    response = client.request(method, path, **make(roots))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and "Traceback" not in response.text
    if field is not None:
        assert (error["field"] or "").startswith(field), error
    assert workspace_snapshot(server.workspace) == before


def test_a_valid_upload_then_delete(
    server: ServerProcess, client: httpx.Client, tiny_scene_dir: Path
) -> None:
    """The positive control for the table: the same server accepts a good scene and removes it cleanly."""
    before = workspace_snapshot(server.workspace)
    data, files = upload_parts(tiny_scene_dir)
    response = client.post("/v1/scenes", data=data, files=files)
    assert response.status_code == 201, response.text
    scene = response.json()
    assert scene["num_images"] == 16 and (scene["width"], scene["height"]) == (48, 48)
    assert len(scene["cameras"]) == 16 and scene["source"] == "upload"
    image = client.get(f"/v1/scenes/{scene['scene_id']}/images/3")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (48, 48)
    assert client.get(f"/v1/scenes/{scene['scene_id']}/images/16").status_code == 404
    assert [s["scene_id"] for s in client.get("/v1/scenes").json()] == [scene["scene_id"]]
    assert client.delete(f"/v1/scenes/{scene['scene_id']}").status_code == 204
    assert workspace_snapshot(server.workspace) == before


def test_rgba_upload_with_float_depth(server: ServerProcess, client: httpx.Client) -> None:
    """What the Blender extension sends by default: RGBA colour and float32 .npy depth beyond 65 m."""
    before = workspace_snapshot(server.workspace)
    rgba = io.BytesIO()
    Image.new("RGBA", (32, 32), (200, 40, 40, 0)).save(rgba, format="PNG")
    depth = np.zeros((32, 32), np.float32)
    depth[8:24, 8:24] = 120.0
    frames = [frame(f"{i}.png", depth_file_path=f"depths/{i}.npy") for i in range(2)]
    frames[1]["transform_matrix"] = [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]
    upload = scene_upload(
        frames,
        {f"{i}.png": rgba.getvalue() for i in range(2)},
        depths={f"{i}.npy": npy(depth) for i in range(2)},
    )
    response = client.post("/v1/scenes", **upload)
    assert response.status_code == 201, response.text
    scene_id = response.json()["scene_id"]
    prepared = server.workspace / "scenes" / scene_id / "dataset"
    meta = json.loads((prepared / "transforms.json").read_text())
    assert meta["in2n_alpha"] is True
    assert meta["in2n_bounds"]["min"][2] < -117.0 < meta["in2n_bounds"]["max"][2]  # z = 3 - 120
    assert np.load(prepared / meta["frames"][0]["in2n_depth_path"]).max() == pytest.approx(120.0)
    assert client.delete(f"/v1/scenes/{scene_id}").status_code == 204
    assert workspace_snapshot(server.workspace) == before


def test_surfaces_and_light_maps_are_prepared_with_the_scene(
    server: ServerProcess, client: httpx.Client
) -> None:
    """What a Blender capture for textures sends: the surfaces land in the dataset as sent, the light maps
    as float16 at the prepared size."""
    before = workspace_snapshot(server.workspace)
    light = np.random.default_rng(0).uniform(0, 2, (32, 32, 6)).astype(np.float32)
    upload = light_upload(npy(light), npy(light))
    upload["files"].append(("surfaces", ("surfaces.npz", npz(**GOOD_SURFACES), "application/octet-stream")))
    text = json.loads(upload["files"][0][1][1])
    text["in2n_surfaces"] = "surfaces.npz"
    upload["files"][0] = ("transforms", (None, json.dumps(text).encode()))
    response = client.post("/v1/scenes", **upload)
    assert response.status_code == 201, response.text
    scene_id = response.json()["scene_id"]
    prepared = server.workspace / "scenes" / scene_id / "dataset"
    meta = json.loads((prepared / "transforms.json").read_text())
    stored = np.load(prepared / meta["in2n_surfaces"], allow_pickle=False)
    assert list(stored["names"]) == ["Cube"] and np.array_equal(stored["positions_0"], TRIANGLE)
    kept = np.load(prepared / meta["frames"][1]["light_path"], allow_pickle=False)
    assert kept.dtype == np.float16 and np.allclose(kept, light, rtol=1e-3, atol=1e-3)
    assert client.delete(f"/v1/scenes/{scene_id}").status_code == 204
    assert workspace_snapshot(server.workspace) == before


def test_dataset_inside_an_allowed_root(
    server: ServerProcess, client: httpx.Client, roots: dict[str, Path], tiny_scene_dir: Path
) -> None:
    import shutil

    target = roots["allowed"] / "scene"
    if not target.exists():
        shutil.copytree(tiny_scene_dir, target)
    response = client.post("/v1/scenes/from-path", json={"path": str(target)})
    assert response.status_code == 201, response.text
    assert response.json()["source"] == str(target)
    assert client.delete(f"/v1/scenes/{response.json()['scene_id']}").status_code == 204


def test_large_image_is_downscaled(server: ServerProcess, client: httpx.Client) -> None:
    """Images over `max_image_size` (128 on this server; `max_image_side`, 256, only refuses larger
    uploads) shrink with their intrinsics: 200x100 becomes 128x64, every intrinsic times 0.64."""
    upload = scene_upload(
        [
            frame(w=200, h=100, cx=100.0, cy=50.0, fl_x=150.0, fl_y=150.0),
            frame(
                "b.png",
                w=200,
                h=100,
                cx=100.0,
                cy=50.0,
                fl_x=150.0,
                fl_y=150.0,
                transform_matrix=[[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]],
            ),
        ],
        {"a.png": png(200, 100), "b.png": png(200, 100)},
    )
    response = client.post("/v1/scenes", **upload)
    assert response.status_code == 201, response.text
    scene = response.json()
    assert (scene["width"], scene["height"]) == (128, 64)
    for camera in scene["cameras"]:
        assert (camera["w"], camera["h"]) == (128, 64)
        assert [camera[k] for k in ("fl_x", "fl_y", "cx", "cy")] == pytest.approx([96.0, 96.0, 64.0, 32.0])
    image = client.get(f"/v1/scenes/{scene['scene_id']}/images/1")
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size == (128, 64)
    assert client.delete(f"/v1/scenes/{scene['scene_id']}").status_code == 204


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"edit_region": "masked"}, "edit_region"),
        ({"crop_to_mask": True}, "crop_to_mask"),
        ({"edit_region": "masked", "crop_to_mask": True}, "edit_region"),  # what Blender sends
        ({"warp_start": True}, "warp_start"),
    ],
)
def test_a_local_edit_of_a_scene_without_masks_is_refused(
    server: ServerProcess, client: httpx.Client, tiny_scene_dir: Path, changes: dict, field: str
) -> None:
    """The scene exists (the tiny scene: RGB, no masks, no depth), so the 422 is about what it lacks (masks,
    or depth for a warped start), and no job is made."""
    data, files = upload_parts(tiny_scene_dir)
    response = client.post("/v1/scenes", data=data, files=files)
    assert response.status_code == 201, response.text
    scene_id = response.json()["scene_id"]
    try:
        before = workspace_snapshot(server.workspace)
        response = client.post("/v1/jobs", **job(scene_id=scene_id, **changes))
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("validation_error", field)
        assert ("depth" if field == "warp_start" else "mask") in error["message"]
        assert "Traceback" not in response.text
        assert workspace_snapshot(server.workspace) == before
        assert client.get("/v1/jobs").json() == []
    finally:
        assert client.delete(f"/v1/scenes/{scene_id}").status_code == 204


@pytest.fixture
def scene_id(client: httpx.Client, tiny_scene_dir: Path) -> Iterator[str]:
    data, files = upload_parts(tiny_scene_dir)
    response = client.post("/v1/scenes", data=data, files=files)
    assert response.status_code == 201, response.text
    yield response.json()["scene_id"]
    for record in client.get("/v1/jobs").json():
        client.post(f"/v1/jobs/{record['job_id']}/cancel")
        client.delete(f"/v1/jobs/{record['job_id']}")
    assert client.delete(f"/v1/scenes/{response.json()['scene_id']}").status_code == 204


def test_a_cross_field_rule_is_a_422_naming_the_fields_with_nothing_written(
    server: ServerProcess, client: httpx.Client, scene_id: str
) -> None:
    """The engine's own rule (annealing ends at or above the lowest start noise) is checked at the edge:
    it used to answer 202, write a job and fail it as an internal error."""
    before = workspace_snapshot(server.workspace)
    response = client.post("/v1/jobs", **job(scene_id=scene_id, anneal=True, anneal_to=0.01, lower_bound=0.3))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", "anneal_to")
    assert "anneal_to" in error["message"] and "lower_bound" in error["message"]
    assert workspace_snapshot(server.workspace) == before
    assert client.get("/v1/jobs").json() == []


def test_a_job_stores_the_models_defaults_resolved_once(
    server: ServerProcess, client: httpx.Client, scene_id: str
) -> None:
    """On `--model demo`, 4 views per call keep the demo editor's rate per view (5 NeRF steps per view:
    20 between calls), as EditParams, the docs and the Blender tooltip say; a rate that is set stays."""
    from in2n_server.editor.loading import recommended_settings

    demo = recommended_settings("demo")
    response = client.post("/v1/jobs", **job(scene_id=scene_id, edit_count=4, base_iterations=0))
    assert response.status_code == 202, response.text
    params = response.json()["params"]
    assert params["edit_rate"] == 4 * demo["edit_rate"] == 20
    for name in ("guidance_scale", "image_guidance_scale", "upper_bound"):
        assert params[name] == demo[name], name
    client.post(f"/v1/jobs/{response.json()['job_id']}/cancel")
    response = client.post("/v1/jobs", **job(scene_id=scene_id, edit_count=4, edit_rate=7))
    assert response.status_code == 202, response.text
    assert response.json()["params"]["edit_rate"] == 7
