"""The Iterative Dataset Update as a nerfstudio pipeline.

Before a NeRF step, the schedule names the views to edit; each is rendered (with the camera
optimizer's pose correction, so the render lines up with the photo), edited against its *original*
photo, and written back into the training set. The NeRF then trains on the mix of edited and not yet
edited views, which is what gradually makes the edits agree in 3D.

RGBA datasets: the editor sees the render and the original composited on one and the same background
(edit_alpha.EDIT_BACKGROUND), so it cannot mistake a background difference for part of the edit. The edited
view keeps the original's alpha outside its grow region (`grow_margin` around the selected objects' masks,
or around the silhouettes for a global edit) and is keyed against the background inside it
(engine/edit_alpha.py), so an edit may reshape what it changes but never fill empty space elsewhere.

The schedule (engine/schedule.py) names the views of a step; several go to the editor as one batch (whole
views only), at the annealed highest start noise of that step (`anneal`). With `warp_start`, a view's edit
starts from the nearest already-edited view's current image, warped through the exact depth maps
(engine/warp.py), where that view sees the same surface; elsewhere from the render.

Local edits (`edit_region="masked"`, engine/regions.py): the edit is kept inside each view's (dilated,
feathered) mask and the view outside it stays as `MASKED_OUTSIDE` says; `crop_to_mask` edits a square
around the mask at the editor's working size, so small objects get its full resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from nerfstudio.cameras.cameras import Cameras
from nerfstudio.pipelines.base_pipeline import VanillaPipeline, VanillaPipelineConfig

from in2n_protocol import edit_params
from in2n_protocol.edit_params import EditRegion, JointAttention, Schedule

from ..editor.base import BatchEditor, Editor
from .datamanager import In2NDataManager, In2NDataManagerConfig
from .edit_alpha import over_background
from .edit_hull import hull_samples
from .geometry import nearest_views
from .model import In2NModelConfig
from .moved_surface import PARTNERS
from .regions import Box, GrowRegion, composite, crop_box, edit_crop, edit_region, grow_region, soft_mask
from .schedule import EditSchedule, NoiseAnneal
from .types import CameraSpec
from .warp import nearest_view, warp_into

if TYPE_CHECKING:
    from ..editor.ip2p import EditSettings

EditListener = Callable[[int, torch.Tensor], None]

MAX_EDIT_BATCH = 8
"""Most views in one batched editor call (8 x 3 guidance rows of 64² latents fit a 24 GB GPU in fp16)."""

MASKED_OUTSIDE = "original"
"""What a masked edit keeps outside the mask: "original" (the photo: the background stays as captured) or
"render" (the NeRF's current render). Chosen by the local-edit benchmark (docs/benchmarks.md)."""


def working_size(editor: Editor, view: torch.Tensor) -> int:
    """The side a crop is edited at: the editor's native resolution, else the view's longer side."""
    return int(getattr(editor, "working_size", None) or max(view.shape[:2]))


class In2NPipeline(VanillaPipeline):
    config: In2NPipelineConfig
    datamanager: In2NDataManager

    def __init__(self, config: In2NPipelineConfig, device: str, *args, **kwargs) -> None:
        super().__init__(config, device, *args, **kwargs)
        fill_unset_model_defaults(config)
        self.editor: Editor | Callable[[], Editor] | None = None
        self.editing = True
        self.edit_start_step: int | None = None
        self.edits_done = 0
        self.edit_listeners: list[EditListener] = []
        self.schedule = EditSchedule(
            num_views=self.datamanager.num_images,
            kind=config.schedule,
            edit_rate=config.edit_rate,
            edit_count=config.edit_count,
            sweep_every=config.sweep_every,
            seed=config.seed,
        )
        self.anneal = NoiseAnneal(
            start=config.upper_bound,
            end=config.anneal_to if config.anneal else None,
            edit_steps=config.edit_iterations,
            floor=config.lower_bound,
        )
        self.edited_views: set[int] = set()  # views edited at least once in this job (warp sources)
        self._camera_specs: list[CameraSpec] | None = None

    def get_editor(self) -> Editor:
        """The editor, built at the first edit (exporting or rendering never loads a diffusion model)."""
        if self.editor is None:
            from ..editor.ip2p import load_ip2p_editor

            c = self.config
            self.editor = load_ip2p_editor(
                c.ip2p_model,
                torch.device(self.device),
                editor_settings(c),
                half_precision=c.ip2p_half_precision,
                seed=c.seed,
            )
        elif not isinstance(self.editor, Editor):
            self.editor = self.editor()
        return self.editor

    def get_train_loss_dict(self, step: int):
        self.model.editing = self.editing
        if self.editing:
            if self.edit_start_step is None:
                self.edit_start_step = step
            edit_step = step - self.edit_start_step
            views = self.schedule.views_to_edit(edit_step)
            if views:
                self.edit_views(views, edit_step)
        return super().get_train_loss_dict(step)

    @torch.no_grad()
    def render_training_view(self, index: int) -> dict[str, torch.Tensor]:
        """The NeRF's render of training view `index`, pose-corrected: rgb [H, W, 3], accumulation [H, W, 1].

        With the "random" background (RGBA datasets) the colour is premultiplied by the accumulation.
        """
        camera = self.datamanager.training_camera(index)
        corrected = self.model.camera_optimizer.apply_to_camera(camera)
        camera = Cameras(
            camera_to_worlds=corrected,
            fx=camera.fx,
            fy=camera.fy,
            cx=camera.cx,
            cy=camera.cy,
            width=camera.width,
            height=camera.height,
            camera_type=camera.camera_type,
        )
        was_training = self.model.training
        self.model.eval()
        try:
            outputs = self.model.get_outputs_for_camera(camera)
        finally:
            self.model.train(was_training)
        return {"rgb": outputs["rgb"].clamp(0, 1), "accumulation": outputs["accumulation"].clamp(0, 1)}

    def edit_views(self, indices: list[int], edit_step: int = 0) -> None:
        """Edit these views at step `edit_step` of the edit phase and write them into the training set."""
        upper = self.anneal.upper_bound_at(edit_step) if self.config.anneal else None
        editor = self.get_editor()
        inputs = [self._edit_inputs(index) for index in indices]
        if len(inputs) > 1 and isinstance(editor, BatchEditor) and not self._needs_masks():
            edited: list[torch.Tensor] = []
            for first in range(0, len(inputs), MAX_EDIT_BATCH):
                chunk = inputs[first : first + MAX_EDIT_BATCH]
                extra = {} if upper is None else {"upper_bound": upper}
                edited += editor.edit_batch(
                    [start for _, start, _ in chunk],
                    [original for _, _, original in chunk],
                    self.config.prompt,
                    [index for index, _, _ in chunk],
                    **extra,
                )
        else:
            edited = [self._edit(index, start, original, upper) for index, start, original in inputs]
        for (index, _, _), image in zip(inputs, edited, strict=True):
            self.datamanager.replace_image(index, image, self.grow_region(index))
            self.edited_views.add(index)
            self.edits_done += 1
        self.settle_edits(indices)
        for index, _, _ in inputs:
            stored = self.datamanager.current_image(index)
            for listener in self.edit_listeners:
                listener(index, stored)

    def grow_region(self, index: int) -> GrowRegion | None:
        """Where view `index`'s edit may change its silhouette: the selected objects' mask (masked edits) or
        the view's silhouette, grown by `grow_margin`; None on RGB datasets or at 0."""
        margin = self.config.grow_margin
        if margin <= 0 or not self.datamanager.has_alpha:
            return None
        if self.config.edit_region == "masked":
            inside = self.datamanager.edit_mask(index)[..., 0] >= 0.5
        else:
            inside = self.datamanager.original_image(index)[..., 3] > 0
        return grow_region(inside, margin)

    def settle_edits(self, indices: Iterable[int]) -> None:
        """What follows a batch of edits (and a resume, for every edited view): the depth lets go where
        their surfaces moved, and the sparsity prior's hull takes their changes in."""
        self.release_moved_depth(indices)
        self.update_edit_hull()

    def update_edit_hull(self) -> None:
        """Give the model the hull of where the edited views' surfaces moved (engine/edit_hull.py), where
        its sparsity prior acts; bounded scenes whose edit started from a converged base only (the hull
        lives in the scene box; `sparsity_min_base_steps`)."""
        model = self.model
        settings = model.config
        base_steps = self.edit_start_step or 0
        if not getattr(model, "bounded", False) or settings.sparsity_loss_mult_edit <= 0:
            return
        if base_steps < settings.sparsity_min_base_steps:
            return
        data = self.datamanager
        moved = {i: data.moved_surface_pixels(i).cpu().numpy() for i in sorted(self.edited_views)}
        generator = np.random.default_rng((self.config.seed, self.edits_done))
        box = model.scene_box.aabb.detach().cpu().double().numpy()
        points, share = hull_samples(box, self._training_camera_specs(), moved, generator)
        model.sparsity_region = (torch.from_numpy(points).float().to(self.device), share)

    def release_moved_depth(self, indices: Iterable[int]) -> None:
        """Let each edited view's depth loss also go where its surface moved inside an unchanged silhouette,
        judged against its nearest edited views (engine/moved_surface.py); after a batch, so that the views
        of one call are each other's partners, and on resuming, for every edited view."""
        if self.datamanager.image_batch.get("depth_image") is None:
            return
        cameras = self._training_camera_specs()
        poses = np.stack([camera.camera_to_world for camera in cameras])
        for index in indices:
            partners = nearest_views(poses, index, sorted(self.edited_views), PARTNERS)
            self.datamanager.release_moved_depth(index, cameras, partners)

    def mark_edited(self, index: int) -> None:
        """Record view `index` as edited (a resumed session's views): a warp source, its grow region set."""
        self.edited_views.add(index)
        grow = self.grow_region(index)
        if grow is not None:
            self.datamanager.set_grow_region(index, grow)

    def _needs_masks(self) -> bool:
        return self.config.edit_region != "all" or self.config.crop_to_mask

    def _edit_inputs(self, index: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        """(index, what the edit starts from, the original): RGB [H, W, 3], over the background for RGBA."""
        rendered = self.render_training_view(index)
        render = rendered["rgb"].float()
        original = self.datamanager.original_image(index).to(render.device)
        if original.shape[-1] == 4:
            render = over_background(render, rendered["accumulation"].float(), premultiplied=True)
            original = over_background(original[..., :3], original[..., 3:], premultiplied=False)
        if self.config.warp_start:
            render = self._warped_start(index, render)
        return index, render, original

    def _warped_start(self, index: int, render: torch.Tensor) -> torch.Tensor:
        """The render, with the nearest edited view's current image warped in where it sees this view's
        surfaces (exact depth); just the render while no other view is edited or without depth."""
        depths = self.datamanager.image_batch.get("depth_image")
        if depths is None or not self.edited_views:
            return render
        cameras = self._training_camera_specs()
        source = nearest_view(
            np.stack([c.camera_to_world for c in cameras]), index, sorted(self.edited_views)
        )
        if source is None:
            return render
        image = self.datamanager.current_image(source).float().to(render.device)
        if image.shape[-1] == 4:
            image = over_background(image[..., :3], image[..., 3:], premultiplied=False)
        warped, valid = warp_into(
            image,
            depths[source, ..., 0].cpu().numpy(),
            cameras[source],
            depths[index, ..., 0].cpu().numpy(),
            cameras[index],
        )
        return valid * warped + (1.0 - valid) * render

    def _training_camera_specs(self) -> list[CameraSpec]:
        """The training cameras in nerfstudio's (normalised) frame, the frame of the depth maps."""
        if self._camera_specs is None:
            cameras = self.datamanager.train_dataset.cameras
            self._camera_specs = [
                CameraSpec(
                    fx=float(cameras.fx[i]),
                    fy=float(cameras.fy[i]),
                    cx=float(cameras.cx[i]),
                    cy=float(cameras.cy[i]),
                    width=int(cameras.width[i]),
                    height=int(cameras.height[i]),
                    camera_to_world=cameras.camera_to_worlds[i].double().cpu().numpy(),
                )
                for i in range(len(cameras))
            ]
        return self._camera_specs

    def _edit(
        self, index: int, render: torch.Tensor, original: torch.Tensor, upper_bound: float | None = None
    ) -> torch.Tensor:
        """One view's edit: whole, or kept to its mask, or cropped around it (engine/regions.py)."""
        editor, prompt, c = self.get_editor(), self.config.prompt, self.config

        def edit(view: torch.Tensor, condition: torch.Tensor, box: Box | None = None) -> torch.Tensor:
            extra: dict[str, Any] = {} if box is None else {"crop": (box.top, box.left, box.side)}
            if upper_bound is not None:
                extra["upper_bound"] = upper_bound
            return editor.edit(view, condition, prompt, view_index=index, **extra)

        if c.edit_region == "all" and not c.crop_to_mask:
            return edit(render, original)
        mask = self.datamanager.edit_mask(index).to(render.device)
        size = working_size(editor, render)
        if c.edit_region == "masked":
            outside = original if MASKED_OUTSIDE == "original" else render
            # A shape edit may reach as far as its grow region (RGBA datasets): the edit is kept there whole.
            grow = self.grow_region(index)
            return edit_region(
                edit,
                render,
                original,
                mask,
                outside=outside,
                crop=c.crop_to_mask,
                working_size=size,
                kept=None if grow is None else grow.region(),
            )
        # A global edit whose masked objects also get a high-resolution crop, blended in with the mask.
        whole = edit(render, original)
        box = crop_box(mask)
        if box is None:
            return whole
        sharp = edit_crop(edit, render, original, box, size)
        return composite(sharp, whole, soft_mask(mask).to(sharp.device, sharp.dtype))

    def idu_state_dict(self) -> dict:
        return {
            "schedule": self.schedule.state_dict(),
            "edits_done": self.edits_done,
            "edited_views": sorted(self.edited_views),
            "edit_start_step": -1 if self.edit_start_step is None else self.edit_start_step,
        }

    def load_idu_state_dict(self, state: dict) -> None:
        self.schedule.load_state_dict(state["schedule"])
        self.edits_done = int(state["edits_done"])
        self.edited_views = set()
        for index in state.get("edited_views", []):
            self.mark_edited(int(index))
        start = int(state["edit_start_step"])
        self.edit_start_step = None if start < 0 else start


def fill_unset_model_defaults(config: In2NPipelineConfig) -> None:
    """Unset model-tuned settings become the editor model's recommended values (else IP2P's).

    Only `ns-train in2n` gets here with unset values: nerfstudio builds this pipeline from its own command
    line, so the pipeline is where that edit is created, and this is that path's one resolution. A session's
    config arrives resolved (EditSession.create; a job's admission before it): its numbers are kept as they
    are, never resolved again.
    """
    names = edit_params.model_tuned_fields()
    values = {name: getattr(config, PIPELINE_FIELDS[name]) for name in (*names, "edit_count")}
    if all(values[name] is not None for name in names):
        return
    from ..editor.loading import recommended_settings

    resolved = edit_params.resolve_model_defaults(values, recommended_settings(config.ip2p_model))
    for name, value in resolved.items():
        setattr(config, PIPELINE_FIELDS[name], value)


def editor_settings(config: In2NPipelineConfig) -> EditSettings:
    """The editor's settings: the config's numbers as they are (an unset one is an error, not a default)."""
    from ..editor.ip2p import EditSettings

    return EditSettings.from_params(
        {name: getattr(config, PIPELINE_FIELDS[name]) for name in edit_params.EDITOR_FIELDS}
    )


# -- the config ------------------------------------------------------------------------------------------
# The IDU's edit settings are EditParams' (in2n_protocol), under the names PIPELINE_FIELDS gives them
# (`instruction` is ns-train's `--pipeline.prompt`), written out so that ns-train's help reads them here;
# tests/engine/test_pipeline_config.py checks that their types, defaults and docstrings are EditParams'.

PIPELINE_FIELDS = edit_params.PIPELINE_FIELDS
DEFAULT_PROMPT = "don't change the image"


@dataclass
class In2NPipelineConfig(VanillaPipelineConfig):
    """The IDU's settings: EditParams' edit fields (defaults: the original in2n's), the editor's weights."""

    _target: type = field(default_factory=lambda: In2NPipeline)
    datamanager: In2NDataManagerConfig = field(default_factory=In2NDataManagerConfig)
    model: In2NModelConfig = field(default_factory=In2NModelConfig)
    prompt: str = DEFAULT_PROMPT
    """What to change, e.g. "make it look like autumn"."""
    guidance_scale: float | None = None
    """Text guidance: how strongly to follow the instruction (unset: the model's recommended value)."""
    image_guidance_scale: float | None = None
    """Image guidance: how closely to keep the original view (unset: the model's recommended value)."""
    diffusion_steps: int = 20
    """DDIM steps per edit."""
    lower_bound: float = 0.02
    """Lowest noise level an edit starts from, as a fraction of the 1000-step schedule."""
    upper_bound: float | None = None
    """Highest noise level an edit starts from, above lower_bound (unset: the model's recommended value)."""
    edit_iterations: int = 15000
    """NeRF steps of the Iterative Dataset Update."""
    edit_rate: int | None = None
    """NeRF steps between edit steps, rolling (unset: the model's recommended value times edit_count)."""
    edit_count: int = 1
    """Views edited at each edit step (rolling schedule), in one batched editor call."""
    joint_attention: JointAttention = "off"
    """Views of one batched call attend to each other: off; anchor (to the call's first view); all."""
    schedule: Schedule = "rolling"
    """rolling: the original's; sweep: every view every sweep_every steps; once: edit all, then train."""
    sweep_every: int = 2500
    """NeRF steps between whole-dataset edits (sweep schedule)."""
    anneal: bool = False
    """Lower the highest start noise over the edit phase, from upper_bound down to anneal_to."""
    anneal_to: float = 0.5
    """Highest start noise at the end of the edit phase when annealing (at least lower_bound)."""
    scale_steps: bool = False
    """Fewer DDIM steps for less noise: every edit keeps the step size of one from upper_bound."""
    warp_start: bool = False
    """Start each edit from the nearest edited view's latest edit, warped through the depth maps."""
    seed: int = 0
    """Seeds the view order and the editor's noise."""
    edit_region: EditRegion = "all"
    """all: the instruction may change every pixel; masked: only the scene's masks (the selected objects)."""
    crop_to_mask: bool = False
    """Edit a square around each view's mask at the editor's working size, pasted back (needs masks)."""
    grow_margin: float = 0.05
    """RGBA scenes: how far an edit may reshape beyond the masks (masked) or silhouettes, as a share of the
    longer image side; 0 keeps the captured alpha (the edit only recolours). 0.05 measured best."""
    ip2p_model: str = "timbrooks/instruct-pix2pix"
    """Hub id, local pipeline directory, or a bundled name ("demo")."""
    ip2p_half_precision: bool = False
    """Run the editor in fp16 (CUDA only; the CPU uses fp32)."""
