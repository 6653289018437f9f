"""A reference editor: plays InstructPix2Pix's part in the IDU with a known target (the edited scene).

Real IP2P edits disagree between views and between calls; fusing them into one consistent scene is the job
of the 3D loop, and that is what the benchmark measures. This editor returns the requested training view of
the *edited* scene (rendered by Blender), degraded the way diffusion edits are:

1. a timestep t ~ U[lower_bound, upper_bound] is drawn per call, as the in2n edit draws it; the edit is
   applied with strength a = min(1, t / full_edit_t) over the current render (a small t keeps the render,
   as a lightly noised latent does);
2. the edited view is misaligned by a small random rotation and shift (diffusion redraws geometry loosely);
3. blurred with a random Gaussian (the VAE and few denoising steps lose detail);
4. colour-shifted by random per-channel gains and offsets;
5. given random smooth local detail (a coarse noise field, upsampled), different in every call;
6. given the DDIM discretisation error of the call's step size (start timestep / steps): smooth noise of an
   RMS proportional to it, fitted to what the bundled demo editor measured against 100-step edits from the
   same noise (`STEP_ERROR`, `benchmarks/fusion/calibrate_steps.py`).

A batched call (`edit_batch`) draws everything per view, the timestep included, as the batched IP2P call
does (each view's edit is the draw it would get alone; batching only shares the UNet passes). With
`scale_steps` a call takes `steps_for_start` steps of its highest timestep (the engine's rule), else
`diffusion_steps`, and `unet_passes` counts one pass per step per call whatever its batch.

Every random draw comes from (seed, call number), so a run is reproducible. The settings are part of the
benchmark's definition: change them and the figures are no longer comparable.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from in2n_server.editor.edit_math import steps_for_start

STEP_ERROR: tuple[tuple[float, int, float], ...] = (
    (0.2, 200, 0.0842),
    (0.2, 100, 0.0539),
    (0.2, 50, 0.0193),
    (0.2, 25, 0.0091),
    (0.2, 10, 0.0031),
    (0.4, 400, 0.1168),
    (0.4, 200, 0.0936),
    (0.4, 100, 0.0315),
    (0.4, 50, 0.0163),
    (0.4, 20, 0.0062),
    (0.7, 700, 0.2122),
    (0.7, 350, 0.184),
    (0.7, 175, 0.0911),
    (0.7, 87, 0.0509),
    (0.7, 35, 0.0184),
    (0.98, 980, 0.3148),
    (0.98, 490, 0.2703),
    (0.98, 245, 0.104),
    (0.98, 122, 0.0233),
    (0.98, 49, 0.0237),
)
"""(start noise fraction, DDIM step size in timesteps, RMS error in [0, 1] image units): the demo editor's
n-step edits against 100-step ones from the same noise, 4 procedural 64² images, "make it blue"
(`python -m benchmarks.fusion.calibrate_steps`, 2026-12-02; benchmarks/results/step_error.json)."""
STEP_ERROR_FIT_MAX = 250
"""Strides the linear error model is fitted on (above, edits of one or two steps saturate)."""


@dataclass(frozen=True)
class ReferenceEditorSettings:
    """Degradation settings of the reference editor (the defaults define the benchmark)."""

    lower_bound: float = 0.02
    """Smallest timestep fraction (in2n's default)."""
    upper_bound: float = 0.98
    """Largest timestep fraction (in2n's default)."""
    full_edit_t: float = 0.5
    """Timestep fraction at and above which the edit replaces the render completely."""
    shift_max: float = 0.015
    """Largest misalignment shift, as a fraction of the image width (about 1 px at 64 px)."""
    rotation_max_deg: float = 1.5
    """Largest misalignment rotation in degrees."""
    blur_sigma_max: float = 0.012
    """Largest Gaussian blur sigma, as a fraction of the image width (0.77 px at 64 px)."""
    gain_std: float = 0.06
    """Standard deviation of the per-channel colour gain around 1."""
    offset_std: float = 0.03
    """Standard deviation of the per-channel colour offset."""
    detail_amplitude: float = 0.06
    """Standard deviation of the random local detail added to every pixel."""
    detail_cells: int = 8
    """The local detail is a `detail_cells` x `detail_cells` noise grid upsampled to the image."""
    step_error: tuple[tuple[float, int, float], ...] = field(default=STEP_ERROR)
    """The discretisation error table (see STEP_ERROR); empty: no step-count effect."""
    seed: int = 0

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


class ReferenceEditor:
    """An Editor (server/editor/base.py) whose edits are degraded views of a known edited scene.

    `targets` are the edited scene's training views `[N, H, W, 3]` in [0, 1] and `originals` the original
    views in the same order: a call is matched to its view by `view_index`, checked against `original`
    (and found by nearest original if the engine's indices ever differ from the dataset's order).
    """

    def __init__(
        self,
        targets: np.ndarray,
        originals: np.ndarray,
        settings: ReferenceEditorSettings | None = None,
        *,
        diffusion_steps: int = 20,
        scale_steps: bool = False,
    ) -> None:
        if targets.shape != originals.shape or targets.ndim != 4 or targets.shape[-1] != 3:
            raise ValueError(
                "targets/originals: expected two [N, H, W, 3] arrays of one shape, "
                f"got {targets.shape} and {originals.shape}"
            )
        self.settings = settings or ReferenceEditorSettings()
        self._targets = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
        self._originals = torch.from_numpy(np.ascontiguousarray(originals, dtype=np.float32))
        self._originals_at: dict[tuple[int, ...], torch.Tensor] = {}  # the originals resized, per size
        self.diffusion_steps = diffusion_steps
        self.scale_steps = scale_steps
        self.calls = 0  # editor calls (a batch is one)
        self.views_edited = 0
        self.unet_passes = 0
        self.index_mismatches = 0
        self.timesteps: list[float] = []

    def edit(
        self,
        render: torch.Tensor,
        original: torch.Tensor,
        instruction: str,
        *,
        view_index: int,
        crop: tuple[int, int, int] | None = None,
        upper_bound: float | None = None,
    ) -> torch.Tensor:
        """The edited view `view_index` (or its `crop` square), degraded by this call's random draws
        (`instruction` is ignored; `upper_bound` overrides the settings' highest start noise)."""
        return self._edit_views([(render, original, view_index)], crop, upper_bound)[0]

    def edit_batch(
        self,
        renders: list[torch.Tensor],
        originals: list[torch.Tensor],
        instruction: str,
        view_indices: list[int],
        *,
        upper_bound: float | None = None,
    ) -> list[torch.Tensor]:
        """Several views in one call: every draw per view, one denoising loop (`unet_passes`) for all."""
        return self._edit_views(list(zip(renders, originals, view_indices, strict=True)), None, upper_bound)

    def _edit_views(
        self,
        views: list[tuple[torch.Tensor, torch.Tensor, int]],
        crop: tuple[int, int, int] | None,
        upper_bound: float | None,
    ) -> list[torch.Tensor]:
        s = self.settings
        call = self.calls
        self.calls += 1
        high = s.upper_bound if upper_bound is None else max(s.lower_bound, upper_bound)
        # View 0 draws from the call's generator (so a one-view call is what it always was), the others
        # from their own; the timestep comes first in each.
        keys = [[s.seed, call] if number == 0 else [s.seed, call, number] for number in range(len(views))]
        rngs = [np.random.default_rng(key) for key in keys]
        starts = [float(rng.uniform(s.lower_bound, high)) for rng in rngs]
        self.timesteps.extend(starts)
        steps = self.diffusion_steps
        if self.scale_steps:
            steps = steps_for_start(
                int(1000 * max(starts)), self.diffusion_steps, max(1, int(1000 * s.upper_bound))
            )
        self.unet_passes += steps
        self.views_edited += len(views)
        edited = []
        for (render, original, view_index), rng, t in zip(views, rngs, starts, strict=True):
            step_rms = step_error(s.step_error, t, 1000 * t / steps)
            strength = min(1.0, t / s.full_edit_t)
            edited.append(self._degrade(render, original, view_index, crop, rng, strength, step_rms))
        return edited

    def _degrade(
        self,
        render: torch.Tensor,
        original: torch.Tensor,
        view_index: int,
        crop: tuple[int, int, int] | None,
        rng: np.random.Generator,
        strength: float,
        step_rms: float,
    ) -> torch.Tensor:
        height, width = render.shape[:2]
        index = self._match_view(view_index, original, crop)
        target = _resize(_cut(self._targets[index], crop), height, width)
        current = render.detach().to("cpu", torch.float32)
        s = self.settings
        degraded = _misalign(target, rng, s.shift_max, s.rotation_max_deg)
        degraded = _gaussian_blur(degraded, rng.uniform(0.0, s.blur_sigma_max) * width)
        gain = torch.from_numpy(rng.normal(1.0, s.gain_std, 3).astype(np.float32))
        offset = torch.from_numpy(rng.normal(0.0, s.offset_std, 3).astype(np.float32))
        degraded = degraded * gain + offset
        degraded = degraded + _smooth_noise(rng, s.detail_cells, height, width) * s.detail_amplitude
        edited = (1.0 - strength) * current + strength * degraded.clamp(0.0, 1.0)
        if step_rms > 0:
            edited = edited + _smooth_noise(rng, 2 * s.detail_cells, height, width) * step_rms
        return edited.clamp(0.0, 1.0).to(render.device, render.dtype)

    def _match_view(self, view_index: int, original: torch.Tensor, crop: tuple[int, int, int] | None) -> int:
        """`view_index` if its original is (one of) the nearest to the one given, else the nearest view."""
        given = original.detach().to("cpu", torch.float32)
        size = tuple(given.shape[:2])
        key = (*size, *(crop or ()))
        if key not in self._originals_at:
            self._originals_at[key] = torch.stack(
                [_resize(_cut(view, crop), *size) for view in self._originals]
            )
        errors = (self._originals_at[key] - given).abs().mean(dim=(1, 2, 3))  # [N]
        nearest = int(errors.argmin())
        if 0 <= view_index < len(errors) and float(errors[view_index]) <= float(errors[nearest]) + 1e-6:
            return view_index
        self.index_mismatches += 1
        return nearest


def _cut(image: torch.Tensor, crop: tuple[int, int, int] | None) -> torch.Tensor:
    """The `crop` square (top, left, side) of a view, or the whole view."""
    if crop is None:
        return image
    top, left, side = crop
    return image[top : top + side, left : left + side]


def _resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[H, W, 3] -> [height, width, 3] (bilinear, antialiased); unchanged when the size already matches."""
    if image.shape[:2] == (height, width):
        return image
    chw = image.permute(2, 0, 1)[None]
    resized = F.interpolate(chw, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return resized[0].permute(1, 2, 0)


def _misalign(
    image: torch.Tensor, rng: np.random.Generator, shift_max: float, rotation_deg: float
) -> torch.Tensor:
    """A small random rotation about the centre and shift (border pixels repeat)."""
    angle = math.radians(rng.uniform(-rotation_deg, rotation_deg))
    shift = rng.uniform(-shift_max, shift_max, 2) * 2.0  # normalized coordinates span 2 per image width
    cos, sin = math.cos(angle), math.sin(angle)
    theta = torch.tensor([[[cos, -sin, shift[0]], [sin, cos, shift[1]]]], dtype=torch.float32)
    chw = image.permute(2, 0, 1)[None]  # [1, 3, H, W]
    grid = F.affine_grid(theta, list(chw.shape), align_corners=False)
    warped = F.grid_sample(chw, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return warped[0].permute(1, 2, 0)


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflected borders; sigma in pixels (no-op below 0.1 px)."""
    if sigma < 0.1:
        return image
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    chw = image.permute(2, 0, 1)[:, None]  # [3, 1, H, W]: channels as a batch
    chw = F.conv2d(F.pad(chw, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    chw = F.conv2d(F.pad(chw, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return chw[:, 0].permute(1, 2, 0)


def _smooth_noise(rng: np.random.Generator, cells: int, height: int, width: int) -> torch.Tensor:
    """Zero-mean, unit-ish variance smooth colour noise [H, W, 3]: a coarse grid, bicubically upsampled."""
    coarse = torch.from_numpy(rng.standard_normal((1, 3, cells, cells)).astype(np.float32))
    fine = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    return fine[0].permute(1, 2, 0)


def step_error(table: tuple[tuple[float, int, float], ...], start: float, stride: float) -> float:
    """RMS discretisation error of an edit at DDIM step size `stride` (timesteps): proportional to the
    stride, the least-squares slope through the origin of the table's points up to STEP_ERROR_FIT_MAX
    (the measurement depends on the stride far more than on the start noise `start`); 0 for no table."""
    points = [(step, rms) for _, step, rms in table if step <= STEP_ERROR_FIT_MAX]
    if not points:
        return 0.0
    slope = sum(step * rms for step, rms in points) / sum(step * step for step, _ in points)
    return slope * stride
