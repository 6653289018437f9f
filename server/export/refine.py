"""Refining exported splats against the NeRF's own renders: a short 3DGS-style optimisation.

The splats start where the views agree on the surface, sized by pixel footprints and coloured by a
least-squares SH fit, which leaves gaps where few views agree and discs that stand out where the
normals are noisy. The NeRF's renders at the cameras that placed them (already made for the export)
say what the splats should show there, so every parameter (position, scale, rotation, opacity, SH
bands) is optimised to reproduce them, with the 3DGS learning rates and an L1 loss over a random
background each step (so colour and coverage are both fitted). gsplat renders on CUDA; on the CPU
the small rasteriser of `rasterize.py`, which follows the same conventions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..engine.types import CameraSpec
from .backproject import SurfaceView
from .pointcloud import subsample
from .rasterize import EPS_2D, covariances, intrinsics, project, rasterize, view_matrix
from .sh import SH_C0, coefficient_count, sh_basis
from .splats import OPACITY_RANGE, Splats, splats_from_views

POSITION_RATE = 1.6e-4
"""Position step as a share of the cameras' extent (3DGS's initial position learning rate)."""
RATES = {"log_sigmas": 5e-3, "quaternions": 1e-3, "opacity_logits": 5e-2, "dc": 2.5e-3, "rest": 2.5e-3 / 20}
"""Adam learning rates of the other parameters (3DGS's: scale in log space, opacity as a logit, the
higher SH bands 20 times slower than the DC)."""
PRUNE_OPACITY = 1.0 / 255.0
"""Splats whose opacity the refinement drove under this are dropped: nothing renders them."""
HOLE_ALPHA = 0.5
"""A view's pixel is a hole where the NeRF shows surface the export may keep and the splats cover less
than this of it."""
HOLE_SHARE = 0.25
"""At most this share of the splat budget goes to splats that fill holes."""


@dataclass
class Target:
    """What one camera should show: the NeRF's straight colour and its accumulation."""

    camera: CameraSpec
    rgb: torch.Tensor  # [H, W, 3]
    accumulation: torch.Tensor  # [H, W]


def targets_from_views(views: list[SurfaceView]) -> list[Target]:
    """The renders the export already made (training cameras and coverage views) as targets."""
    targets = []
    for view in views:
        height, width = view.keep.shape
        rgb = np.asarray(view.render.rgb, np.float32).reshape(height, width, 3)
        accumulation = np.asarray(view.render.accumulation, np.float32).reshape(height, width)
        targets.append(
            Target(
                view.camera,
                torch.as_tensor(np.clip(rgb, 0, 1)),
                torch.as_tensor(np.clip(accumulation, 0, 1)),
            )
        )
    return targets


class SplatParameters(torch.nn.Module):
    """Splats as the optimiser sees them (3DGS's parametrisation)."""

    def __init__(self, gaussians: Splats) -> None:
        super().__init__()
        as_tensor = lambda a: torch.nn.Parameter(torch.as_tensor(np.asarray(a, np.float32)))  # noqa: E731
        self.means = as_tensor(gaussians.positions)
        self.log_sigmas = as_tensor(np.log(gaussians.sigmas))
        self.quaternions = as_tensor(gaussians.rotations)
        opacity = np.clip(gaussians.opacities, *OPACITY_RANGE)
        self.opacity_logits = as_tensor(np.log(opacity / (1 - opacity)))
        self.dc = as_tensor((gaussians.colors - 0.5) / SH_C0)  # [N, 3]
        self.rest = as_tensor(np.transpose(gaussians.sh_rest, (0, 2, 1)))  # [N, K, 3]
        self.degree = math.isqrt(self.rest.shape[1] + 1) - 1

    def colours(self, centre: torch.Tensor) -> torch.Tensor:
        """[N, 3] seen from a camera at `centre` (3DGS: 0.5 + SH, clamped at 0)."""
        directions = self.means - centre
        directions = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        basis = sh_basis(directions, self.degree)  # [N, (degree + 1)^2]
        coefficients = torch.cat([self.dc[:, None], self.rest], dim=1)  # [N, count, 3]
        return torch.clamp_min(0.5 + torch.einsum("nk,nkc->nc", basis, coefficients), 0.0)

    def splats(self) -> Splats:
        with torch.no_grad():
            quaternions = self.quaternions / self.quaternions.norm(dim=-1, keepdim=True)
            w, x, y, z = quaternions.unbind(-1)
            normals = torch.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], -1)
            return Splats(
                positions=self.means.detach().numpy().copy(),
                normals=normals.detach().numpy().copy(),
                colors=(0.5 + SH_C0 * self.dc).detach().numpy().copy(),
                opacities=torch.sigmoid(self.opacity_logits).detach().numpy().copy(),
                sigmas=torch.exp(self.log_sigmas).detach().numpy().copy(),
                rotations=quaternions.detach().numpy().copy(),
                sh_rest=self.rest.permute(0, 2, 1).detach().numpy().copy(),
            )


def render(parameters: SplatParameters, camera: CameraSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Premultiplied colour [H, W, 3] and alpha [H, W] of the splats at `camera`."""
    device = parameters.means.device
    viewmat, camera_matrix = view_matrix(camera, device), intrinsics(camera, device)
    centre = torch.linalg.inv(viewmat)[:3, 3]
    colours = parameters.colours(centre)
    sigmas = torch.exp(parameters.log_sigmas)
    opacities = torch.sigmoid(parameters.opacity_logits)
    if device.type == "cuda":
        from gsplat import rasterization

        image, alpha, _ = rasterization(
            parameters.means, parameters.quaternions, sigmas, opacities, colours,
            viewmat[None], camera_matrix[None], camera.width, camera.height,
            eps2d=EPS_2D, rasterize_mode="antialiased",
        )  # fmt: skip
        return image[0], alpha[0, ..., 0]
    projected = project(
        parameters.means,
        covariances(parameters.quaternions, sigmas),
        viewmat,
        camera_matrix,
        camera.width,
        camera.height,
    )
    return rasterize(projected, opacities, colours, camera.width, camera.height)


def hole_views(gaussians: Splats, views: list[SurfaceView]) -> list[SurfaceView]:
    """The views again, keeping only their holes: surface the NeRF renders there (a `candidate` pixel)
    that the splats leave open, because the views did not agree on it (seen by one view, or with a
    depth the views disagree on). Splats seeded there start wrong where the NeRF's depth is, and the
    refinement moves them; a floater in front of one camera is no hole, since the surface behind it is
    confirmed by other views and covered."""
    parameters = SplatParameters(gaussians).to(refine_device())
    holes = []
    for view in views:
        with torch.no_grad():
            _, alpha = render(parameters, view.camera)
        hole = view.candidate & (alpha.cpu().numpy() < HOLE_ALPHA)
        holes.append(SurfaceView(view.camera, view.render, view.world, hole, view.candidate))
    return holes


def refine_device() -> torch.device:
    """CUDA (gsplat) where there is a GPU, else the CPU (`rasterize.py`)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cameras_extent(cameras: list[CameraSpec]) -> float:
    """3DGS's scene scale: 1.1 times the largest distance of a camera centre from their mean."""
    centres = np.array([np.asarray(c.camera_to_world, np.float64)[:3, 3] for c in cameras])
    return 1.1 * float(np.linalg.norm(centres - centres.mean(axis=0), axis=1).max() or 1.0)


def refine(
    gaussians: Splats,
    targets: list[Target],
    steps: int,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> Splats:
    """`gaussians` optimised for `steps` steps, one target view each (shuffled epochs)."""
    if steps <= 0 or not targets or not len(gaussians):
        return gaussians
    device = torch.device(device or refine_device())
    generator = torch.Generator().manual_seed(seed)
    parameters = SplatParameters(gaussians).to(device)
    extent = cameras_extent([target.camera for target in targets])
    groups = [{"params": [parameters.means], "lr": POSITION_RATE * extent}]
    groups += [{"params": [getattr(parameters, name)], "lr": rate} for name, rate in RATES.items()]
    optimiser = torch.optim.Adam(groups, eps=1e-15)
    order: list[int] = []
    for step in range(steps):
        if not order:
            order = torch.randperm(len(targets), generator=generator).tolist()
        target = targets[order.pop()]
        background = torch.rand(3, generator=generator).to(device)
        image, alpha = render(parameters, target.camera)
        predicted = image + (1 - alpha)[..., None] * background
        accumulation = target.accumulation.to(device)[..., None]
        wanted = target.rgb.to(device) * accumulation + (1 - accumulation) * background
        loss = torch.abs(predicted - wanted).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if progress is not None:
            progress(step, float(loss))
    refined = parameters.cpu().splats()
    return refined.take(refined.opacities >= PRUNE_OPACITY)


def refined_splats(
    views: list[SurfaceView],
    num_points: int,
    sh_degree: int,
    steps: int,
    seed: int = 0,
    novel: list[SurfaceView] | tuple[SurfaceView, ...] = (),
    progress: Callable[[int, float], None] | None = None,
) -> Splats:
    """The export's splats of `views` with their holes filled (at most HOLE_SHARE of `num_points`), then
    refined for `steps` steps against the renders of `views` and of the `novel` views (renders at
    cameras that placed no splats: their holes are filled too)."""
    gaussians = splats_from_views(views, num_points, sh_degree, seed)
    every = [*views, *novel]
    holes = hole_views(gaussians, every)
    if any(view.keep.any() for view in holes):
        filling = splats_from_views(holes, int(HOLE_SHARE * num_points), 0, seed)
        missing = coefficient_count(sh_degree) - 1
        filling.sh_rest = np.zeros((len(filling), 3, missing), np.float32)
        kept = subsample(len(gaussians), max(num_points - len(filling), 0), seed)
        gaussians = Splats.concatenate([gaussians.take(kept), filling])
    return refine(gaussians, targets_from_views(every), steps, seed, progress=progress)
