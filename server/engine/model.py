"""The in2n NeRF: nerfacto with an L1 photometric loss, an optional patch LPIPS loss and a depth loss.

L1 (rather than nerfacto's MSE) and LPIPS on 32x32 patches are the paper's choices: edited views
disagree in detail, and these losses let the NeRF settle on structure rather than average colours.
Where the dataset has exact depth (Blender knows it), a relative L1 loss on the expected ray distance
pins the surfaces in place; it weighs less while editing, and not at all where an edited view's shape
changed (`DEPTH_RELEASED_KEY`, engine/edit_alpha.py `reshaped`): there an edit moved, added or removed
surface. Rays of edited pixels whose opacity the edit leaves undecided (`ALPHA_FREE_KEY`) are compared over
the editor's background instead of nerfstudio's random one: their colour is supervised, their opacity not.
A bounded scene's near and far planes come from the dataparser's metadata (engine/dataparser.py), and while
it is edited a sparsity prior (`density_sparsity`) pushes empty what no view needs inside the hull of where
the edit moved surfaces (engine/edit_hull.py, set by the pipeline): without it a converged NeRF paints an
edit's new shape onto the old one (a colour per view fits every training view) instead of carving the old
shape away and growing the new one (docs/benchmarks.md, *Shape edits*).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from nerfstudio.model_components.scene_colliders import NearFarCollider
from nerfstudio.models.nerfacto import NerfactoModel, NerfactoModelConfig
from torch import nn

from .dataparser import NEAR_FAR_KEY
from .edit_alpha import EDIT_BACKGROUND

DEPTH_RELEASED_KEY = "depth_released"
"""Batch key: rays where an edited view's shape changed: its captured depth no longer holds (no loss)."""

ALPHA_FREE_KEY = "alpha_free"
"""Batch key: rays of edited pixels that were either removed or painted the background's colour (the edit
cannot say which): compared over EDIT_BACKGROUND, so that other views decide whether surface stays."""

SPARSITY_STEPS = 256
"""The sparsity prior penalises the opacity of a step this many times shorter than the box's diagonal."""

ALEXNET_HINT = (
    "LPIPS needs torchvision's AlexNet weights (alexnet-owt-7be5be79.pth). Offline, place that file in "
    "$TORCH_HOME/hub/checkpoints/ (default ~/.cache/torch/hub/checkpoints/), or use a tier without LPIPS "
    "(in2n-tiny, in2n-cpu)."
)


class LPIPSUnavailableError(RuntimeError):
    """AlexNet weights for LPIPS are missing and cannot be downloaded."""


class _DeferredLPIPSMetric:
    """Stands in for nerfacto's LPIPS *metric* until an evaluation needs it.

    nerfacto builds the metric (and downloads AlexNet) when the model is built; editing and exporting
    never evaluate it, so an offline machine should not need those weights for them.
    """

    def __init__(self, *args, **kwargs) -> None:
        self._args, self._kwargs, self._metric = args, kwargs, None

    def __call__(self, *args, **kwargs):
        if self._metric is None:
            from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

            try:
                self._metric = LearnedPerceptualImagePatchSimilarity(*self._args, **self._kwargs)
            except OSError as error:  # URLError is an OSError
                raise LPIPSUnavailableError(ALEXNET_HINT) from error
        self._metric = self._metric.to(args[0].device)
        return self._metric(*args, **kwargs)


@contextlib.contextmanager
def _lpips_metric_deferred() -> Iterator[None]:
    import torchmetrics.image.lpip as lpip_module

    original = lpip_module.LearnedPerceptualImagePatchSimilarity
    lpip_module.LearnedPerceptualImagePatchSimilarity = _DeferredLPIPSMetric
    try:
        yield
    finally:
        lpip_module.LearnedPerceptualImagePatchSimilarity = original


@dataclass
class In2NModelConfig(NerfactoModelConfig):
    """nerfacto plus in2n's losses."""

    _target: type = field(default_factory=lambda: In2NModel)
    use_lpips: bool = True
    """Add a patch LPIPS loss (needs patch sampling: the datamanager's `patch_size`)."""
    patch_size: int = 32
    """Side of the square patches the LPIPS loss compares."""
    lpips_loss_mult: float = 1.0
    """Weight of the LPIPS loss."""
    l1_loss_mult: float = 1.0
    """Weight of the L1 photometric loss."""
    depth_loss_mult: float = 0.1
    """Weight of the depth loss during the base reconstruction (pixels with exact depth only)."""
    depth_loss_mult_edit: float = 0.01
    """Weight of the depth loss while editing: lower, so that an edit may change shape a little."""
    sparsity_loss_mult_edit: float = 0.1
    """Weight of the density sparsity prior while editing a bounded scene (0: none), per unit of the box's
    volume; measured on the fusion benchmark's converged `tabletop` (box-wide, 0.03 grew too little of the
    new shape; inside the hull, 0.3 was no better than 0.1)."""
    sparsity_samples: int = 8192
    """Points of the edit's hull the sparsity prior looks at each step."""
    sparsity_min_base_steps: int = 500
    """The prior waits for a converged base: it acts only on edits that start after this many NeRF steps.
    A loose base reshapes without it (fusion benchmark, `tabletop`, 200 base steps: the cone's tip 83-100%
    complete without it; the exact edits' PSNR in the masks moved -1.27, -0.73, +0.99 dB over three seeds);
    a converged one keeps the old shape unless it acts (600 steps: tip 65-71% -> 87-96%, +1.15 dB)."""


class In2NModel(NerfactoModel):
    config: In2NModelConfig

    editing: bool = False
    """Set by the pipeline: the edit phase uses `depth_loss_mult_edit`."""
    sparsity_region: tuple[torch.Tensor, float] | None = None
    """Set by the pipeline while editing: points of the hull of where the edit moved surfaces ([K, 3], the
    scene's frame) and the hull's share of the box's volume; the sparsity prior acts there only."""

    def populate_modules(self) -> None:
        with _lpips_metric_deferred():
            super().populate_modules()
        near_far = self.kwargs.get("metadata", {}).get(NEAR_FAR_KEY)
        self.bounded = near_far is not None
        if near_far is not None:
            self.collider = NearFarCollider(near_plane=near_far[0], far_plane=near_far[1])
        self.rgb_loss = nn.L1Loss()
        # Kept outside the module tree: its frozen AlexNet has no place in checkpoints.
        object.__setattr__(self, "lpips_loss", _build_lpips_loss() if self.config.use_lpips else None)

    def get_outputs(self, ray_bundle):
        outputs = super().get_outputs(ray_bundle)
        if ray_bundle.metadata and "directions_norm" in ray_bundle.metadata:
            outputs["directions_norm"] = ray_bundle.metadata["directions_norm"]
        return outputs

    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> dict[str, torch.Tensor]:
        loss_dict = super().get_loss_dict(outputs, batch, metrics_dict)
        pred, target = self.loss_colours(outputs, batch)
        loss_dict["rgb_loss"] = self.config.l1_loss_mult * self.rgb_loss(target, pred)
        weight = self.config.depth_loss_mult_edit if self.editing else self.config.depth_loss_mult
        if self.training and weight > 0 and "depth_image" in batch and "directions_norm" in outputs:
            loss_dict["depth_loss"] = weight * relative_depth_loss(
                outputs["expected_depth"], supervised_depth(batch, self.device), outputs["directions_norm"]
            )
        sparsity, region = self.config.sparsity_loss_mult_edit, self.sparsity_region
        if self.training and self.editing and self.bounded and sparsity > 0 and region and len(region[0]):
            points, share = region
            chosen = torch.randint(len(points), (self.config.sparsity_samples,), device=points.device)
            step = (self.scene_box.aabb[1] - self.scene_box.aabb[0]).norm() / SPARSITY_STEPS
            loss_dict["sparsity_loss"] = (sparsity * share) * density_sparsity(
                self.field.density_fn, points[chosen].to(self.device), float(step)
            )
        if self.lpips_loss is not None and self.training:
            size = self.config.patch_size
            pred_patches = (pred.view(-1, size, size, 3).permute(0, 3, 1, 2) * 2 - 1).clamp(
                -1, 1
            )  # [P,3,s,s]
            target_patches = (target.view(-1, size, size, 3).permute(0, 3, 1, 2) * 2 - 1).clamp(-1, 1)
            self.lpips_loss.to(pred_patches.device)
            loss_dict["lpips_loss"] = (
                self.config.lpips_loss_mult * self.lpips_loss(pred_patches, target_patches).mean()
            )
        return loss_dict

    def loss_colours(self, outputs, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(predicted, target) RGB over the background the losses compare them on: nerfstudio's (random for
        RGBA datasets while training), but EDIT_BACKGROUND on alpha-free rays."""
        image = batch["image"].to(self.device)
        free = batch.get(ALPHA_FREE_KEY)
        random = self.renderer_rgb.background_color == "random"
        if free is None or not (self.training and random and image.shape[-1] == 4):
            return self.renderer_rgb.blend_background_for_loss_computation(
                pred_image=outputs["rgb"], pred_accumulation=outputs["accumulation"], gt_image=image
            )
        background = torch.rand_like(outputs["rgb"])
        edit_background = torch.tensor(EDIT_BACKGROUND, device=self.device, dtype=background.dtype)
        background = torch.where(free.to(self.device), edit_background, background)
        pred = outputs["rgb"] + background * (1.0 - outputs["accumulation"])
        alpha = image[..., 3:]
        return pred, image[..., :3] * alpha + background * (1.0 - alpha)

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        """Checkpoints of plain nerfacto hold LPIPS metric weights this model builds lazily: skip them."""
        own = self.state_dict()
        filtered = {k: v for k, v in state_dict.items() if not k.startswith("lpips.") or k in own}
        return super().load_state_dict(filtered, strict=strict, **kwargs)


def supervised_depth(batch: dict, device: torch.device | str) -> torch.Tensor:
    """The batch's z-depth, 0 (unknown: no depth loss) on rays of an edited view's grow region."""
    depth = batch["depth_image"].to(device)
    released = batch.get(DEPTH_RELEASED_KEY)
    if released is None:
        return depth
    return torch.where(released.to(device), torch.zeros_like(depth), depth)


def density_sparsity(
    density_fn: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, step: float
) -> torch.Tensor:
    """The mean opacity of a step of length `step` at `points` ([K, 3]): a prior for empty space that the
    photometric loss outweighs wherever a view shows surface, and that wins where painting and carving fit
    the views alike. Scaled by the hull's share of the box, it is the box-wide prior kept to the hull."""
    return (1.0 - torch.exp(-density_fn(points).float() * step)).mean()


def relative_depth_loss(
    predicted_distance: torch.Tensor, target_z: torch.Tensor, directions_norm: torch.Tensor
) -> torch.Tensor:
    """Mean |predicted - true| / true ray distance over rays whose true depth is known (z > 0).

    The dataset's depth is z along the camera axis; times the ray direction's length before normalisation
    it is the distance along the ray, which is what the renderer's expected depth measures. Relative, so
    that near and far surfaces weigh alike.
    """
    known = target_z > 0
    if not known.any():
        return predicted_distance.sum() * 0.0
    target = target_z * directions_norm
    return ((predicted_distance - target).abs()[known] / target[known]).mean()


def _build_lpips_loss() -> nn.Module:
    import lpips

    try:
        loss = lpips.LPIPS(net="alex", verbose=False)
    except OSError as error:
        raise LPIPSUnavailableError(ALEXNET_HINT) from error
    for parameter in loss.parameters():
        parameter.requires_grad_(False)
    return loss
