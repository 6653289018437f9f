"""Scenes captured as Blender captures them (RGBA, exact float depth): trained, edited, resumed, exported.

The procedural scene without its ground, rendered with alpha and depth (`as_blender_capture`), stands in
for a Blender capture of objects on a plain world background: the case that reconstructed as fog before
the engine used alpha and depth. Real nerfstudio training on the CPU, the tiny IP2P editor.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from in2n_server.engine import workdir as layout
from in2n_server.engine.session import EditSession
from in2n_server.engine.types import CameraSpec, EditParams
from in2n_server.export.pointcloud import point_cloud
from in2n_server.samples.procedural import generate_scene

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

BASE, EDIT, RATE = 300, 30, 10


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory):
    return generate_scene(
        tmp_path_factory.mktemp("capture"), num_views=16, size=48, num_heldout=4, as_blender_capture=True
    )


@pytest.fixture(scope="module")
def run(scene, tiny_ip2p_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    workdir = tmp_path_factory.mktemp("session")
    params = EditParams(
        instruction="make it blue",
        tier="in2n-cpu",
        base_iterations=BASE,
        edit_iterations=EDIT,
        edit_rate=RATE,
        diffusion_steps=2,
        model=str(tiny_ip2p_dir),
        optimize_cameras=False,
        grow_margin=0.05,
    )
    session = EditSession.create(scene.root, workdir, params, device="cpu")
    session.run(max_steps=BASE)
    record: dict = {"workdir": workdir, "heldout": [], "config": session.pipeline.model.config}
    for frame in scene.heldout_cameras:
        camera = CameraSpec.from_wire(frame)
        rendered = session.render(camera)
        rgba = np.asarray(Image.open(scene.root / frame["file_path"]), np.float32) / 255.0
        depth = np.load(scene.root / frame["depth_file_path"])
        record["heldout"].append((rendered, rgba, depth))
    record["points"] = point_cloud(session, 6000)[0]
    session.run()
    record["edited"] = [session.edited_image(i) for i in range(session.num_images)]
    record["originals"] = [session.original_image(i) for i in range(session.num_images)]
    record["regions"] = [
        session.pipeline.datamanager.grow_region(i).numpy() for i in range(session.num_images)
    ]
    del session
    resumed = EditSession.resume(workdir, device="cpu")
    record["resumed"] = [resumed.edited_image(i) for i in range(resumed.num_images)]
    return record


def test_what_the_dataset_knows_sets_up_a_bounded_nerf(run: dict) -> None:
    meta = json.loads((run["workdir"] / "dataset" / "transforms.json").read_text())
    assert meta["in2n_alpha"] is True and "in2n_bounds" in meta
    config = run["config"]
    assert config.background_color == "random"
    assert config.disable_scene_contraction and not config.use_appearance_embedding


def test_held_out_views_are_empty_where_blender_saw_nothing_and_depth_is_exact(run: dict) -> None:
    empty_alpha, object_alpha, depth_errors = [], [], []
    for rendered, rgba, depth in run["heldout"]:
        hit = rgba[..., 3] > 0.5
        empty_alpha.append(rendered.accumulation[~hit])
        object_alpha.append(rendered.accumulation[hit])
        depth_errors.append(np.abs(rendered.depth[depth > 0] - depth[depth > 0]) / depth[depth > 0])
        assert rendered.transparent and rendered.image().shape[-1] == 4  # previews keep alpha
    # No fog: empty pixels stay empty (the old path left ~all of them opaque on this kind of scene).
    assert np.mean(np.concatenate(empty_alpha)) < 0.1
    assert np.mean(np.concatenate(object_alpha)) > 0.8
    assert np.median(np.concatenate(depth_errors)) < 0.03


def test_exported_points_lie_on_the_objects(scene, run: dict) -> None:
    distances = scene.distance_to_surfaces(run["points"].astype(np.float64))
    diagonal = np.linalg.norm(np.subtract(*scene.object_bounds()))
    assert np.mean(distances <= 0.02 * diagonal) > 0.8


def test_edits_keep_the_original_alpha_outside_their_grow_regions_on_disk_and_after_a_resume(
    run: dict,
) -> None:
    edited_files = layout.edited_images(run["workdir"])
    assert edited_files
    for path in edited_files:
        index = int(path.stem)
        on_disk = np.asarray(Image.open(path), np.float32) / 255.0
        assert on_disk.shape[-1] == 4
        outside = ~run["regions"][index]
        assert outside.any() and run["regions"][index].any()  # the silhouettes, grown by grow_margin
        np.testing.assert_allclose(
            on_disk[..., 3][outside], run["originals"][index][..., 3][outside], atol=1 / 255
        )
        np.testing.assert_allclose(run["resumed"][index], run["edited"][index], atol=1 / 255)
