"""Where an edit moved a surface inside an unchanged silhouette, so the captured depth stops holding there.

`edit_alpha.reshaped` lets the depth loss go where an edited view's alpha changed. A surface can also move
with no change of alpha: a sphere that shrinks into a cone in front of a board shows the board where the
sphere was (alpha 1 before and after), and the cone's tip in front of the board shows the cone where the
board was. The captured depth there still says "sphere" and "board", and on a converged NeRF nothing else
moves the old surface (docs/benchmarks.md, *Shape edits*).

The test is the multi-view photo-consistency of the edited views (a plane sweep). Each candidate pixel of an
edited view is lifted along its ray to its captured depth and to `SWEEP_DEPTHS` others across the view's
depth range. Each point is projected into the `PARTNERS` nearest other edited views, blurred a little so
the editor's pixel shifts are not read as motion, and its cost is the RMS colour difference, pooled over the
better half of the partners that see it (the others may be occluded). The surface moved where some depth
farther than `MOVED_DEPTH` from the captured one matches (`MATCH_COST`) and explains the pixel better than
the captured depth by `COST_MARGIN` on average over the judged pixels around it (`EVIDENCE_WINDOW`). A
recoloured surface that stayed in place matches best at its captured depth, so it keeps its depth loss; that
is what keeps the reconstruction scenes' precision (releasing the whole region of an enclosed room cost 0.04).

Failure cases: untextured surfaces match equally at every depth, so a sphere shrinking in front of a plain
wall is not detected there; a view edited before two of its neighbours are has no verdict until its next
edit; an editor whose views disagree by more than `COST_MARGIN` can release recoloured surface (the margin
and the region's limits bound it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .geometry import MOVED_DEPTH
from .types import CameraSpec

PARTNERS = 6
"""Other edited views each pixel is compared with: the nearest ones (engine/geometry.py `nearest_views`)."""
MIN_PARTNERS = 2
"""A depth is judged only where at least this many partners see it."""
SWEEP_DEPTHS = 32
"""Depths tried along each ray besides the captured one, spaced evenly in inverse depth."""
DEPTH_RANGE = (0.5, 1.5)
"""The sweep spans this factor of the view's nearest and farthest captured depth."""
MATCH_COST = 0.12
"""Pooled RMS colour difference (over white, [0, 1] units) at or below which a depth explains a pixel."""
COST_MARGIN = 0.05
"""How much better (pooled over EVIDENCE_WINDOW) another depth must explain a pixel than its captured one."""
EVIDENCE_WINDOW = 5
"""The gain is averaged over this square of judged pixels: one pixel's editor noise is no moved surface."""
BLUR_SIGMA_PX = 0.6
"""Gaussian blur of the compared images, in pixels: above the editor's sub-pixel shifts."""
CHUNK_PIXELS = 8192
"""Candidate pixels swept at once (memory: chunk x (SWEEP_DEPTHS + 1) x PARTNERS colours)."""


def _blur(image: torch.Tensor) -> torch.Tensor:
    """[H, W, C] blurred by BLUR_SIGMA_PX (a 5-tap Gaussian, separable, edges replicated)."""
    taps = torch.arange(-2, 3, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (taps / BLUR_SIGMA_PX) ** 2)
    kernel = kernel / kernel.sum()
    chw = image.permute(2, 0, 1)[:, None]
    chw = F.conv2d(F.pad(chw, (2, 2, 0, 0), mode="replicate"), kernel.view(1, 1, 1, 5))
    chw = F.conv2d(F.pad(chw, (0, 0, 2, 2), mode="replicate"), kernel.view(1, 1, 5, 1))
    return chw[:, 0].permute(1, 2, 0)


def _pose(camera: CameraSpec, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(camera.camera_to_world, np.float64)[:3, :4], device=device).float()


def _pooled_cost(costs: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """[P, S] from [K, P, S]: the mean of the better half of the costs the partners see (at least
    MIN_PARTNERS of them), inf where fewer see the point."""
    count = seen.sum(0)
    ordered = torch.where(seen, costs, torch.full_like(costs, float("inf"))).sort(dim=0).values
    used = torch.div(count + 1, 2, rounding_mode="floor").clamp_min(1)
    rank = torch.arange(costs.shape[0], device=costs.device).view(-1, 1, 1)
    take = rank < used
    pooled = torch.where(take, ordered, torch.zeros_like(ordered)).sum(0) / used
    return torch.where(count >= MIN_PARTNERS, pooled, torch.full_like(pooled, float("inf")))


def moved_pixels(
    image: torch.Tensor,
    depth: torch.Tensor,
    camera: CameraSpec,
    candidates: torch.Tensor,
    partner_images: Sequence[torch.Tensor],
    partner_cameras: Sequence[CameraSpec],
) -> torch.Tensor:
    """[H, W] bool: the `candidates` pixels of an edited view whose surface moved off its captured depth.

    `image` [H, W, 3]: the edited view over white; `depth` [H, W]: its captured z-depth (0: none);
    `partner_images` [h, w, 3] over white with their `partner_cameras`, in the same frame as `camera`.
    """
    device = image.device
    gain = torch.zeros(depth.shape, device=device)  # how much better the best other depth explains a pixel
    judged = torch.zeros(depth.shape, dtype=torch.bool, device=device)
    candidates = candidates.to(device).bool() & (depth > 0)
    if len(partner_images) < MIN_PARTNERS or not candidates.any():
        return judged
    surface = depth[depth > 0]
    near, far = float(surface.min()) * DEPTH_RANGE[0], float(surface.max()) * DEPTH_RANGE[1]
    sweep = 1.0 / torch.linspace(1.0 / near, 1.0 / far, SWEEP_DEPTHS, device=device)
    reference = _blur(image.float())
    blurred = [_blur(partner.float().to(device)) for partner in partner_images]
    partners = list(zip(blurred, partner_cameras, strict=True))
    pose = _pose(camera, device)
    rows, cols = candidates.nonzero(as_tuple=True)
    for first in range(0, len(rows), CHUNK_PIXELS):
        r, c = rows[first : first + CHUNK_PIXELS], cols[first : first + CHUNK_PIXELS]
        captured = depth[r, c].float()
        z = torch.cat([captured[:, None], sweep[None].expand(len(r), -1)], dim=1)  # [P, 1 + S]
        x = (c.float() + 0.5 - camera.cx) / camera.fx
        y = -(r.float() + 0.5 - camera.cy) / camera.fy
        local = torch.stack([x[:, None] * z, y[:, None] * z, -z], dim=-1)  # [P, 1 + S, 3]
        world = local @ pose[:, :3].T + pose[:, 3]
        pooled = _sweep_costs(reference[r, c], world, partners)  # [P, 1 + S]
        elsewhere = (z[:, 1:] - captured[:, None]).abs() > MOVED_DEPTH * captured[:, None]
        best = torch.where(elsewhere, pooled[:, 1:], torch.inf).min(1).values
        at_captured = pooled[:, 0]
        judged[r, c] = torch.isfinite(at_captured) & (best <= MATCH_COST)
        gain[r, c] = torch.where(judged[r, c], at_captured - best, torch.zeros_like(best))
    return judged & (gain > 0) & (_window_mean(gain, judged) >= COST_MARGIN)


def _sweep_costs(
    colours: torch.Tensor, world: torch.Tensor, partners: Sequence[tuple[torch.Tensor, CameraSpec]]
) -> torch.Tensor:
    """[P, D]: how well each world point ([P, D, 3]) explains its pixel's colour ([P, 3]), pooled over the
    partners (blurred [h, w, 3] images with their cameras)."""
    costs, seen = [], []
    for partner, camera in partners:
        pose = _pose(camera, world.device)
        local = (world - pose[:, 3]) @ pose[:, :3]
        z = -local[..., 2]
        safe = torch.where(z > 1e-6, z, torch.ones_like(z))
        u = local[..., 0] / safe * camera.fx + camera.cx
        v = -local[..., 1] / safe * camera.fy + camera.cy
        height, width = partner.shape[:2]
        grid = torch.stack([u / width * 2 - 1, v / height * 2 - 1], dim=-1)[None]
        chw = partner.permute(2, 0, 1)[None]
        sampled = F.grid_sample(chw, grid, mode="bilinear", padding_mode="border", align_corners=False)
        costs.append((sampled[0].permute(1, 2, 0) - colours[:, None]).pow(2).mean(-1).sqrt())
        seen.append((z > 1e-6) & (u >= 0) & (u <= width) & (v >= 0) & (v <= height))
    return _pooled_cost(torch.stack(costs), torch.stack(seen))


def _window_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """[H, W]: the mean of `values` over the `valid` pixels of each pixel's EVIDENCE_WINDOW square."""
    pad = EVIDENCE_WINDOW // 2

    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x[None, None], EVIDENCE_WINDOW, stride=1, padding=pad)[0, 0]

    return pool(values * valid) / pool(valid.float()).clamp_min(1e-6)
