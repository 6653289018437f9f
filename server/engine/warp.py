"""Warping one training view's image into another through exact depth (ViCA-NeRF's consistency idea).

An edit that starts from a neighbouring view's latest edit, carried into this view by the scene's geometry,
starts close to an edit the two views agree on; at low start noise the editor then keeps that agreement
instead of inventing a new variant. The camera model is engine/geometry.py's.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .geometry import DEPTH_AGREEMENT, nearest_views, pixels_in_view, project, world_points
from .types import CameraSpec


def warp_into(
    source_image: torch.Tensor,
    source_depth: np.ndarray,
    source_camera: CameraSpec,
    target_depth: np.ndarray,
    target_camera: CameraSpec,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`source_image` [h, w, C] seen from the target camera: (warped [H, W, C], valid [H, W, 1] in {0, 1}).

    Each target pixel with a surface (`target_depth` [H, W] > 0) is lifted to 3D, projected into the source
    camera and sampled there; it is valid where it lands inside the source image on a surface the source
    sees at the same depth (not occluded there). Depths are z along -Z, 0 where no surface was hit.
    """
    u, v, z = project(source_camera, world_points(target_camera, target_depth))
    height, width = source_depth.shape
    col, row, inside = pixels_in_view(u, v, z, width, height)
    seen = source_depth[row, col]
    valid = inside & (target_depth > 0) & (seen > 0) & (np.abs(seen - z) <= DEPTH_AGREEMENT * z)

    device = source_image.device
    grid = torch.from_numpy(np.stack([u / width * 2 - 1, v / height * 2 - 1], axis=-1)).float()[None]
    chw = source_image.permute(2, 0, 1)[None].float()
    warped = F.grid_sample(chw, grid.to(device), mode="bilinear", padding_mode="border", align_corners=False)
    valid_t = torch.from_numpy(valid[..., None]).to(device, source_image.dtype)
    return warped[0].permute(1, 2, 0).to(source_image.dtype), valid_t


def nearest_view(camera_to_worlds: np.ndarray, index: int, candidates: list[int]) -> int | None:
    """The candidate camera that looks most like camera `index` (geometry.nearest_views), or None."""
    nearest = nearest_views(camera_to_worlds, index, candidates, 1)
    return nearest[0] if nearest else None
