"""`in2n-edit --demo` end to end at a tiny size: every promised output is written and readable.

The editor here is the tiny random pipeline (its edits are noise); what is checked is the demo's path:
scene, reconstruction, IDU through the InstructPix2Pix loader, exports in the scene frame, images, summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from in2n_server.samples.demo import DemoSettings, run_demo

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

TINY = DemoSettings(
    views=12,
    size=32,
    base_iterations=400,  # enough for surfaces that several views agree on (exports keep only those)
    edit_iterations=20,
    edit_rate=10,
    diffusion_steps=2,
    num_points=2000,
    mesh_resolution=16,
    turntable_size=24,
)


def _read_ply_vertex_count(path: Path) -> int:
    with path.open("rb") as handle:
        for raw in handle:
            line = raw.decode("ascii", "replace").strip()
            if line.startswith("element vertex"):
                return int(line.split()[-1])
            if line == "end_header":
                break
    raise AssertionError(f"{path} has no vertex element")


def test_the_demo_writes_every_output(tmp_path: Path, tiny_ip2p_dir: Path) -> None:
    summary = run_demo(tmp_path / "demo", device="cpu", settings=TINY, model=str(tiny_ip2p_dir))

    assert summary["edits"] == 20 // 10
    assert json.loads((tmp_path / "demo" / "summary.json").read_text()) == summary
    outputs = {name: Path(path) for name, path in summary["outputs"].items()}
    assert set(outputs) == {"before_after.png", "turntable.gif", "edited_points.ply", "edited_mesh.ply"}

    sheet = np.asarray(Image.open(outputs["before_after.png"]).convert("RGB"))
    assert sheet.shape[0] == 3 * 32 * 3  # photo, reconstruction and edit rows of 4 held-out views, 3x
    with Image.open(outputs["turntable.gif"]) as gif:
        assert gif.n_frames == 24 and gif.size == (24, 24)
    assert _read_ply_vertex_count(outputs["edited_points.ply"]) > 0
    assert _read_ply_vertex_count(outputs["edited_mesh.ply"]) > 0
