"""Shape edits of RGBA captures through a real session: the alpha follows the edit inside each view's grow
region and nowhere else, the depth loss lets go there, a resume keeps it, and the edited objects' masks
follow the new shape, and a sparsity prior empties what the edit released.

The procedural scene rendered as a Blender capture (hard alpha, exact depth); the editor is a stand-in that
paints a purple bar across the whole view it is given, over the empty background and the objects alike.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from in2n_server.engine import datamanager as datamanager_module
from in2n_server.engine import workdir as layout
from in2n_server.engine.dataset import DEPTH_KEY, read_transforms
from in2n_server.engine.depth_maps import read_depth_map
from in2n_server.engine.edit_hull import in_hull
from in2n_server.engine.model import (
    ALPHA_FREE_KEY,
    DEPTH_RELEASED_KEY,
    density_sparsity,
    supervised_depth,
)
from in2n_server.engine.regions import grow_region
from in2n_server.engine.session import EditSession
from in2n_server.engine.types import EditParams
from in2n_server.samples.procedural import generate_scene

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

SIZE, MARGIN = 32, 0.1  # the grow region: 3 px around the silhouettes or masks
BAR = slice(14, 18)  # the rows the editor paints
PURPLE = torch.tensor([0.5, 0.1, 0.7])


class BarEditor:
    """Returns the original (over white) with a purple bar across it; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def edit(
        self, render: torch.Tensor, original: torch.Tensor, instruction: str, **_: object
    ) -> torch.Tensor:
        self.calls += 1
        edited = original.clone()
        edited[BAR] = PURPLE.to(edited)
        return edited


class EraserEditor(BarEditor):
    """Shows the background everywhere but the bar: every object seems removed (or painted white)."""

    def edit(
        self, render: torch.Tensor, original: torch.Tensor, instruction: str, **_: object
    ) -> torch.Tensor:
        self.calls += 1
        edited = torch.ones_like(original)
        edited[BAR] = PURPLE.to(edited)
        return edited


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scene = generate_scene(
        tmp_path_factory.mktemp("capture"), num_views=4, size=SIZE, num_heldout=1, as_blender_capture=True
    )
    return scene.root


def _session(data: Path, workdir: Path, editor: object = None, **overrides: object) -> EditSession:
    params = EditParams(
        instruction="add a purple bar",
        tier="in2n-cpu",
        base_iterations=0,
        edit_iterations=1,
        optimize_cameras=False,
        **overrides,  # type: ignore[arg-type]
    )
    return EditSession.create(data, workdir, params, editor=editor or BarEditor(), device="cpu")


def _bar() -> torch.Tensor:
    bar = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    bar[BAR] = True
    return bar


@pytest.fixture(scope="module")
def grown(capture: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    workdir = tmp_path_factory.mktemp("grown")
    session = _session(capture, workdir, grow_margin=MARGIN)
    session.pipeline.edit_views([0, 1])
    datamanager = session.pipeline.datamanager
    record = {
        "workdir": workdir,
        "stored": [datamanager.current_image(i).clone() for i in range(4)],
        "originals": [datamanager.original_image(i).clone() for i in range(4)],
        "regions": [datamanager.grow_region(i).clone() for i in range(4)],
        "batch": datamanager.next_train(0)[1],
        "grow_regions": datamanager.grow_regions.clone(),
        "released": [datamanager.depth_released_pixels(i).clone() for i in range(4)],
        "depth_released": datamanager.depth_released.clone(),
    }
    session.save()
    del session
    resumed = EditSession.resume(workdir, editor=BarEditor(), device="cpu")
    record["resumed_regions"] = [resumed.pipeline.datamanager.grow_region(i).clone() for i in range(4)]
    record["resumed_released"] = [
        resumed.pipeline.datamanager.depth_released_pixels(i).clone() for i in range(4)
    ]
    record["resumed_stored"] = [resumed.pipeline.datamanager.current_image(i).clone() for i in range(4)]
    record["held"] = [resumed.held_depth(i) for i in range(4)]
    record["image_names"] = list(resumed.pipeline.datamanager.train_dataparser_outputs.image_filenames)
    return record


def test_the_edit_becomes_surface_inside_the_grow_region_and_empty_stays_empty_outside(grown: dict) -> None:
    bar = _bar()
    for index in (0, 1):
        stored, original, region = grown["stored"][index], grown["originals"][index], grown["regions"][index]
        assert torch.equal(
            region, grow_region(original[..., 3] > 0, MARGIN).region()
        )  # the silhouette, grown
        assert torch.all(stored[..., 3][bar & region] == 1.0)
        torch.testing.assert_close(stored[..., :3][bar & region], PURPLE.expand(int((bar & region).sum()), 3))
        assert torch.equal(stored[..., 3][~region], original[..., 3][~region])  # the fog guarantee
        assert (bar & ~region & (original[..., 3] == 0)).any()  # the bar did reach empty space outside
        assert torch.all(stored[..., 3][region & ~bar & (original[..., 3] == 0)] == 0.0)  # white keyed out
    for index in (2, 3):  # not edited: as captured, no grow region
        assert torch.equal(grown["stored"][index], grown["originals"][index])
        assert not grown["regions"][index].any()


def test_the_depth_loss_lets_go_only_where_an_edited_view_changed_shape(grown: dict) -> None:
    """The bar grew into empty space: the depth lets go there and up to the margin around it, inside the
    grow region; where the edit kept the captured shape (the objects above and below the bar, recoloured or
    not) the captured depth keeps pinning the surface."""
    bar = _bar()
    for index in (0, 1):
        released, region = grown["released"][index], grown["regions"][index]
        original = grown["originals"][index]
        grew = bar & region & (original[..., 3] == 0)
        assert grew.any() and torch.all(released[grew])
        assert not (released & ~region).any()
        far = torch.ones_like(bar)
        far[BAR.start - 4 : BAR.stop + 4] = False  # more than the margin (3 px) from the bar
        assert not released[far].any()
    for index in (2, 3):
        assert not grown["released"][index].any()
    batch = grown["batch"]
    cameras, rows, cols = batch["indices"].unbind(-1)
    released = batch[DEPTH_RELEASED_KEY][..., 0]
    assert torch.equal(released, grown["depth_released"][cameras, rows, cols, 0])
    assert released.any() and (~released & (batch["depth_image"][..., 0] > 0)).any()
    depth = supervised_depth(batch, "cpu")[..., 0]
    assert torch.all(depth[released] == 0)  # 0: unknown, no loss (model.relative_depth_loss)
    assert torch.equal(depth[~released], batch["depth_image"][..., 0][~released])


def test_the_held_depth_is_the_captured_depth_less_what_the_edit_released(grown: dict) -> None:
    """What the exports snap to (`EditSession.held_depth`): the capture's depth in scene units, 0 where it
    hit nothing and where the depth loss lets go; per training camera, which nerfstudio may order
    differently from the datamanager's rows."""
    dataset = grown["workdir"] / "dataset"
    frames = read_transforms(dataset)["frames"]
    rows = {Path(name).name: row for row, name in enumerate(grown["image_names"])}
    for index, frame in enumerate(frames):
        captured = read_depth_map(dataset / frame[DEPTH_KEY])
        released = grown["resumed_released"][rows[Path(frame["file_path"]).name]].numpy()
        held = grown["held"][index]
        assert held.shape == captured.shape and held.dtype == np.float32
        np.testing.assert_allclose(held[~released], captured[~released], rtol=1e-5)
        assert np.all(held[released] == 0)
    assert any(released.any() for released in grown["resumed_released"][:2])


def test_a_resumed_session_keeps_the_grow_regions_and_the_edited_alpha(grown: dict) -> None:
    for index in range(4):
        assert torch.equal(grown["resumed_regions"][index], grown["regions"][index])
        assert torch.equal(grown["resumed_released"][index], grown["released"][index])
        torch.testing.assert_close(
            grown["resumed_stored"][index], grown["stored"][index], atol=1 / 255, rtol=0
        )


def test_margin_zero_keeps_the_captured_alpha_and_the_depth(capture: Path, tmp_path: Path) -> None:
    session = _session(capture, tmp_path / "work", grow_margin=0.0)
    session.pipeline.edit_views([0])
    datamanager = session.pipeline.datamanager
    stored, original = datamanager.current_image(0), datamanager.original_image(0)
    assert torch.equal(stored[..., 3], original[..., 3])
    assert torch.all(stored[..., :3][_bar()] == PURPLE)  # recoloured, even over empty pixels
    assert not datamanager.grow_regions.any() and not datamanager.depth_released.any()


def _with_corner_masks(data: Path, out: Path) -> Path:
    """The capture with masks of the upper-left quarter of every view (the "selected objects")."""
    shutil.copytree(data, out)
    meta = json.loads((out / "transforms.json").read_text())
    (out / "masks").mkdir()
    for index, frame in enumerate(meta["frames"]):
        mask = np.zeros((frame["h"], frame["w"]), np.uint8)
        mask[: SIZE // 2, : SIZE // 2] = 255
        Image.fromarray(mask).save(out / "masks" / f"{index}.png")
        frame["mask_path"] = f"masks/{index}.png"
    (out / "transforms.json").write_text(json.dumps(meta))
    return out


def test_the_edited_objects_mask_includes_what_a_masked_edit_grew(capture: Path, tmp_path: Path) -> None:
    data = _with_corner_masks(capture, tmp_path / "data")
    session = _session(data, tmp_path / "work", grow_margin=MARGIN, edit_region="masked")
    before = [session.view_mask(i) for i in range(4)]
    session.pipeline.edit_views([0])
    datamanager = session.pipeline.datamanager
    region = datamanager.grow_region(0).numpy()
    original_alpha = datamanager.original_image(0)[..., 3].numpy()
    assert np.array_equal(region, grow_region(torch.from_numpy(before[0]), MARGIN).region().numpy())
    after = session.view_mask(0)
    bar, quarter = _bar().numpy(), before[0]
    grew = bar & region & (original_alpha == 0)
    assert grew.any() and after[grew].all()  # the new part is one of the edited objects
    assert not after[bar & ~region].any()  # the bar beyond the region was never kept
    assert np.array_equal(after[~region], quarter[~region])
    assert np.array_equal(session.view_mask(1), before[1])  # views not edited keep their masks


def test_undecided_pixels_are_sampled_kept_on_disk_and_survive_a_resume(
    capture: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    session = _session(capture, workdir, editor=EraserEditor(), grow_margin=MARGIN)
    session.pipeline.edit_views([0])
    datamanager = session.pipeline.datamanager
    free, original = datamanager.alpha_free_pixels(0).clone(), datamanager.original_image(0)
    silhouette = original[..., 3] > 0
    assert free.any() and torch.all(silhouette[free])  # only surface can be undecided
    assert not free[_bar()].any()  # the bar is surface the edit shows: decided
    stored = datamanager.current_image(0)[..., 3]
    assert torch.equal(stored[~_bar()], original[..., 3][~_bar()])  # but for the bar, alpha as captured
    assert not datamanager.alpha_free_pixels(1).any()  # not edited
    assert layout.alpha_free_path(workdir, 0).is_file()
    batch = datamanager.next_train(0)[1]
    cameras, rows, cols = batch["indices"].unbind(-1)
    assert torch.equal(batch[ALPHA_FREE_KEY][..., 0], datamanager.alpha_free[cameras, rows, cols, 0])
    session.save()
    del session
    resumed = EditSession.resume(workdir, editor=EraserEditor(), device="cpu")
    assert torch.equal(resumed.pipeline.datamanager.alpha_free_pixels(0), free)


def test_moved_surfaces_release_the_depth_after_a_batch_and_after_a_resume(
    capture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring of engine/moved_surface.py (its verdicts are tested in test_moved_surface.py): after a
    batch each view is judged against the other edited views, what it finds adds to the depth's release
    inside the grow region, and a resumed session judges again."""
    judged: list[int] = []
    band = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    band[22:26] = True  # where the stand-in judge says the surface moved (beyond the bar and its margin)

    def judge(image, depth, camera, candidates, partner_images, partner_cameras) -> torch.Tensor:
        judged.append(len(partner_images))
        return candidates & band

    monkeypatch.setattr(datamanager_module, "moved_pixels", judge)
    workdir = tmp_path / "work"
    session = _session(capture, workdir, grow_margin=MARGIN)
    session.pipeline.edit_views([0, 1, 2])
    assert judged == [2, 2, 2]  # each view of the batch against the two others
    datamanager = session.pipeline.datamanager
    released = [datamanager.depth_released_pixels(i).clone() for i in range(4)]
    for index in range(3):
        region, alpha = datamanager.grow_region(index), datamanager.original_image(index)[..., 3]
        assert (band & region & (alpha > 0)).any()
        assert torch.all(released[index][band & region & (alpha > 0)])
        assert not released[index][band & ~region].any()
    assert not released[3].any()  # not edited
    session.save()
    del session
    judged.clear()
    resumed = EditSession.resume(workdir, editor=BarEditor(), device="cpu")
    assert judged == [2, 2, 2]
    for index in range(4):
        assert torch.equal(resumed.pipeline.datamanager.depth_released_pixels(index), released[index])


def test_the_sparsity_prior_is_the_mean_opacity_of_a_short_step_and_empties_space() -> None:
    points, step = torch.rand(4096, 3), 0.01
    constant = density_sparsity(lambda p: torch.full((len(p), 1), 2.0), points, step)
    assert float(constant) == pytest.approx(1 - math.exp(-2.0 * step), rel=1e-5)
    log_density = torch.tensor(1.0, requires_grad=True)
    density_sparsity(lambda p: log_density.exp().expand(len(p), 1), points, step).backward()
    assert log_density.grad is not None and float(log_density.grad) > 0  # descending it lowers the density


def test_the_sparsity_prior_acts_in_the_hull_of_moved_surfaces_while_editing_only(
    capture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring of engine/edit_hull.py (its rule is tested in test_edit_hull.py): after a batch the model
    holds points of the hull of the views' moved-surface verdicts (once the base is converged), the prior
    weighs only while editing a bounded scene, scaled by the hull's share of the box, and a resumed session
    rebuilds the same hull."""

    def judge(image, depth, camera, candidates, partner_images, partner_cameras) -> torch.Tensor:
        return candidates.clone()  # the stand-in judge: every candidate moved

    monkeypatch.setattr(datamanager_module, "moved_pixels", judge)
    workdir = tmp_path / "work"
    session = _session(capture, workdir, grow_margin=MARGIN)
    pipeline = session.pipeline
    model, datamanager = pipeline.model, pipeline.datamanager
    assert model.bounded and model.sparsity_region is None  # a Blender capture; nothing edited yet
    pipeline.edit_start_step = model.config.sparsity_min_base_steps - 1  # a loose base: no prior
    pipeline.edit_views([0, 1])
    assert model.sparsity_region is None and datamanager.moved_surface_pixels(0).any()
    pipeline.edit_start_step = model.config.sparsity_min_base_steps  # as if the edit began there
    pipeline.edit_views([0, 1, 2])
    moved = {i: datamanager.moved_surface_pixels(i).numpy() for i in range(4)}
    assert all(moved[i].any() for i in range(3)) and not moved[3].any()
    for index in range(3):  # recorded apart from, and part of, the depth's release
        assert np.all(datamanager.depth_released_pixels(index).numpy()[moved[index]])
    assert model.sparsity_region is not None
    points, share = model.sparsity_region
    assert 0 < share < 1 and len(points) > 0
    assert in_hull(points.double().numpy(), pipeline._training_camera_specs(), moved).all()

    model.train()
    ray_bundle, batch = datamanager.next_train(0)
    outputs = model(ray_bundle)
    metrics = model.get_metrics_dict(outputs, batch)

    def losses() -> dict:
        return model.get_loss_dict(outputs, batch, metrics)

    model.editing = False
    assert "sparsity_loss" not in losses()
    model.editing = True
    weight = model.config.sparsity_loss_mult_edit
    assert weight > 0 and 0 < float(losses()["sparsity_loss"]) <= weight * share
    model.bounded = False  # a photo scene: its empty space is not known to be empty
    assert "sparsity_loss" not in losses()
    model.bounded = True
    model.sparsity_region = (points[:0], 0.0)  # a recolour: nothing moved, no prior
    assert "sparsity_loss" not in losses()

    session.save()
    del session
    resumed = EditSession.resume(workdir, editor=BarEditor(), device="cpu")
    again = resumed.pipeline.model.sparsity_region
    assert again is not None and again[1] == share and torch.equal(again[0], points)
