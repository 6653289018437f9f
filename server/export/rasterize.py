"""A small differentiable Gaussian rasteriser in plain torch, for refining splats on the CPU.

gsplat's rasteriser is CUDA only (its pure-torch reference still needs CUDA to find which pixels a
Gaussian touches), so the refinement renders with this one where there is no GPU. It follows the 3DGS
conventions gsplat implements, so that a splat refined here renders the same there and in Blender:
the EWA projection with the field-of-view clamp, a screen-space blur that keeps each Gaussian's mass
(`EPS_2D`, gsplat's "antialiased" mode), alpha `min(0.99, opacity * exp(-d^T conic d / 2))` at pixel
centres, alphas under 1/255 skipped, front-to-back compositing by camera depth. Instead of tiles, every
Gaussian lists the pixels of its own footprint; a pixel's Gaussians are then sorted by depth and
composited with a segmented cumulative sum of log(1 - alpha), which autograd differentiates. Memory grows
with the (Gaussian, pixel) pairs, so it is for the small views of the CPU path (tens of thousands of pairs
per 64 px view).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..engine.types import CameraSpec

EPS_2D = 0.18
"""Screen-space blur added to every projected covariance, px², with the opacity scaled to keep each
Gaussian's mass (gsplat's `eps2d` in its "antialiased" mode): the refined splats are for Blender, whose
Cycles renders a splat's exact mass spread by its pixel filter. Measured with bpy 5.3 (one flat splat of
opacity 0.9, sigma 0.3 / 0.5 / 0.7 / 1.0 / 1.5 px, 256 samples): summed alpha 0.57 / 1.38 / 2.91 / 5.52 /
12.78 (0.9 * 2 pi sigma^2: 0.51 / 1.41 / 2.77 / 5.65 / 12.72), peaks 0.34 / 0.52 / 0.70 / 0.73 / 0.83,
which this blur reproduces within about 0.05 (0.3 without the mass correction, the 3DGS default, put
0.9 at every peak and twice the mass into small splats: a ring around every silhouette)."""
NEAR_PLANE = 0.01
MAX_ALPHA = 0.99
MIN_ALPHA = 1.0 / 255.0
FOV_CLAMP = 0.3
"""Centres off-screen are clamped to this share of the half field of view beyond the frame before the
Jacobian is taken (3DGS): the linearisation is unstable far outside."""
REACH = math.sqrt(2.0 * math.log(255.0))
"""A Gaussian's alpha falls under MIN_ALPHA beyond this many sigmas (for opacity 1): its footprint."""
MAX_RADIUS = 32
"""Footprints are cut at this many pixels: a larger splat is out of place in a refinement of surface
splats, and one would make every pixel's list long."""


@dataclass
class Projected:
    """Gaussians on the image plane of one camera (gsplat's layout)."""

    means2d: torch.Tensor  # [N, 2] pixels (x right, y down), pixel centres at +0.5
    conics: torch.Tensor  # [N, 3] the inverse 2D covariance's (xx, xy, yy)
    depths: torch.Tensor  # [N] camera-space z
    radii: torch.Tensor  # [N] int, 0 where the Gaussian is behind the camera or off-screen
    compensations: torch.Tensor  # [N] the opacity factor that keeps the mass through the EPS_2D blur


def view_matrix(camera: CameraSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    """`camera.opencv_view_matrix()` as gsplat takes it: float32 on `device`."""
    return torch.as_tensor(camera.opencv_view_matrix(), dtype=torch.float32, device=device)


def intrinsics(camera: CameraSpec, device: torch.device | str = "cpu") -> torch.Tensor:
    matrix = [[camera.fx, 0.0, camera.cx], [0.0, camera.fy, camera.cy], [0.0, 0.0, 1.0]]
    return torch.tensor(matrix, dtype=torch.float32, device=device)


def rotation_matrices(quaternions: torch.Tensor) -> torch.Tensor:
    """[N, 3, 3] from quaternions [N, 4] (w, x, y, z), normalised first."""
    w, x, y, z = torch.unbind(quaternions / quaternions.norm(dim=-1, keepdim=True), dim=-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*quaternions.shape[:-1], 3, 3)


def covariances(quaternions: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """World covariances [N, 3, 3] = R diag(sigma^2) R^T."""
    rotation = rotation_matrices(quaternions)
    scaled = rotation * sigmas[..., None, :]
    return scaled @ scaled.transpose(-1, -2)


def project(
    means: torch.Tensor,
    covars: torch.Tensor,
    viewmat: torch.Tensor,
    camera_matrix: torch.Tensor,
    width: int,
    height: int,
) -> Projected:
    """The EWA projection of Gaussians (means [N, 3], covariances [N, 3, 3]) into one pinhole camera."""
    rotation, translation = viewmat[:3, :3], viewmat[:3, 3]
    local = means @ rotation.T + translation
    local_cov = rotation @ covars @ rotation.T
    tx, ty, tz = torch.unbind(local, dim=-1)
    fx, fy, cx, cy = camera_matrix[0, 0], camera_matrix[1, 1], camera_matrix[0, 2], camera_matrix[1, 2]
    safe_z = torch.where(tz > NEAR_PLANE, tz, torch.ones_like(tz))
    limit_x = FOV_CLAMP * 0.5 * width / fx
    limit_y = FOV_CLAMP * 0.5 * height / fy
    clamped_x = safe_z * torch.clamp(tx / safe_z, -(cx / fx + limit_x), (width - cx) / fx + limit_x)
    clamped_y = safe_z * torch.clamp(ty / safe_z, -(cy / fy + limit_y), (height - cy) / fy + limit_y)
    zero = torch.zeros_like(tz)
    jacobian = torch.stack(
        [fx / safe_z, zero, -fx * clamped_x / safe_z**2, zero, fy / safe_z, -fy * clamped_y / safe_z**2],
        dim=-1,
    ).reshape(-1, 2, 3)
    cov2d = jacobian @ local_cov @ jacobian.transpose(-1, -2)
    unblurred = cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] * cov2d[:, 1, 0]
    cov2d = cov2d + EPS_2D * torch.eye(2, dtype=cov2d.dtype, device=cov2d.device)
    det = (cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] * cov2d[:, 1, 0]).clamp_min(1e-10)
    compensations = torch.sqrt(torch.clamp(unblurred / det, min=0.0))
    conics = torch.stack([cov2d[:, 1, 1] / det, -cov2d[:, 0, 1] / det, cov2d[:, 0, 0] / det], dim=-1)
    means2d = torch.stack([fx * tx / safe_z + cx, fy * ty / safe_z + cy], dim=-1)
    half_trace = 0.5 * (cov2d[:, 0, 0] + cov2d[:, 1, 1])
    largest = half_trace + torch.sqrt(torch.clamp(half_trace**2 - det, min=0.01))
    radii = torch.ceil(3.0 * torch.sqrt(largest)).detach()
    x, y = means2d[:, 0].detach(), means2d[:, 1].detach()
    visible = (
        (tz > NEAR_PLANE) & (x + radii > 0) & (x - radii < width) & (y + radii > 0) & (y - radii < height)
    )
    radii = torch.where(visible, radii, 0).to(torch.int64)
    return Projected(means2d, conics, tz, radii, compensations)


def footprint_pairs(projected: Projected, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(Gaussian, pixel) index pairs [M] of every pixel within REACH sigmas of a visible Gaussian.

    The reach is REACH / 3 of the projection's 3-sigma radius (so nothing with alpha >= MIN_ALPHA is
    left out), at most MAX_RADIUS pixels; Gaussians of one reach share one grid of offsets."""
    visible = torch.nonzero(projected.radii > 0).squeeze(-1)
    reach = torch.ceil(projected.radii[visible] * (REACH / 3.0)).clamp(max=MAX_RADIUS).to(torch.int64)
    centres = torch.floor(projected.means2d[visible].detach()).to(torch.int64)
    gaussians, pixels = [], []
    for radius in torch.unique(reach).tolist():
        group = reach == radius
        span = torch.arange(-radius, radius + 1)
        dy, dx = torch.meshgrid(span, span, indexing="ij")
        cols = centres[group, 0, None] + dx.reshape(1, -1)
        rows = centres[group, 1, None] + dy.reshape(1, -1)
        inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        ids = visible[group, None].expand_as(cols)
        gaussians.append(ids[inside])
        pixels.append((rows * width + cols)[inside])
    if not gaussians:
        empty = torch.zeros(0, dtype=torch.int64)
        return empty, empty
    return torch.cat(gaussians), torch.cat(pixels)


def rasterize(
    projected: Projected,
    opacities: torch.Tensor,
    colours: torch.Tensor,
    width: int,
    height: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Front-to-back composite of the projected Gaussians: premultiplied colour [H, W, C] and alpha [H, W].

    Composite over a background `b` with `colour + (1 - alpha) * b`."""
    device = colours.device
    gaussian, pixel = footprint_pairs(projected, width, height)
    gaussian, pixel = gaussian.to(device), pixel.to(device)
    with torch.no_grad():  # most of a footprint's square is under MIN_ALPHA: drop it before autograd sees it
        power, alpha = _pair_alpha(projected, opacities, gaussian, pixel, width)
        used = (alpha >= MIN_ALPHA) & (power <= 0)
    gaussian, pixel = gaussian[used], pixel[used]
    _, alpha = _pair_alpha(projected, opacities, gaussian, pixel, width)
    depth_rank = torch.empty_like(projected.depths, dtype=torch.int64)
    depth_rank[torch.argsort(projected.depths.detach())] = torch.arange(len(projected.depths), device=device)
    order = torch.argsort(pixel * len(projected.depths) + depth_rank[gaussian])
    gaussian, pixel, alpha = gaussian[order], pixel[order], alpha[order]
    transmittance = _segment_transmittance(alpha, pixel)
    weights = alpha * transmittance
    image = torch.zeros(height * width, colours.shape[-1], dtype=colours.dtype, device=device)
    image = image.index_add(0, pixel, weights[:, None] * colours[gaussian])
    coverage = torch.zeros(height * width, dtype=colours.dtype, device=device).index_add(0, pixel, weights)
    return image.reshape(height, width, -1), coverage.reshape(height, width)


def _pair_alpha(
    projected: Projected, opacities: torch.Tensor, gaussian: torch.Tensor, pixel: torch.Tensor, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Gaussian's exponent and alpha [M] at each pair's pixel centre."""
    dtype = projected.means2d.dtype
    centre_x = (pixel % width).to(dtype) + 0.5
    centre_y = torch.div(pixel, width, rounding_mode="floor").to(dtype) + 0.5
    dx = centre_x - projected.means2d[gaussian, 0]
    dy = centre_y - projected.means2d[gaussian, 1]
    conic = projected.conics[gaussian]
    power = -0.5 * (conic[:, 0] * dx * dx + conic[:, 2] * dy * dy) - conic[:, 1] * dx * dy
    weight = opacities[gaussian] * projected.compensations[gaussian]
    return power, torch.clamp(weight * torch.exp(power), max=MAX_ALPHA)


def _segment_transmittance(alpha: torch.Tensor, pixel: torch.Tensor) -> torch.Tensor:
    """[M] the light left in front of each sorted pair: the product of (1 - alpha) over the pairs before
    it on the same pixel. A cumulative sum of logs in float64 (millions of terms), restarted per pixel."""
    if not len(alpha):
        return alpha
    logs = torch.log1p(-alpha.to(torch.float64))
    before = torch.cumsum(logs, dim=0) - logs
    first = torch.ones_like(pixel, dtype=torch.bool)
    first[1:] = pixel[1:] != pixel[:-1]
    positions = torch.arange(len(pixel), device=pixel.device)
    start = torch.cummax(torch.where(first, positions, 0), dim=0).values
    return torch.exp(before - before[start]).to(alpha.dtype)
