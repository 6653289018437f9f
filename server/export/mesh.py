"""Mesh export: TSDF fusion (open3d) of depth + colour renders at the training cameras.

TSDF fusion averages many noisy depth maps into one signed distance field and extracts a watertight
surface with vertex colours, which suits a NeRF's depth better than marching cubes on its density
(whose level set is arbitrary and floaters-laden).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backproject import (
    MIN_ACCUMULATION,
    Crop,
    Region,
    SurfaceView,
    scaled_cameras,
    session_masks,
    session_region,
    surface_views,
)
from .coverage import coverage_views
from .errors import NO_SURFACE_YET, NothingToExportError


def tsdf_mesh(
    session: Any,
    resolution: int,
    min_accumulation: float = MIN_ACCUMULATION,
    crop: bool = True,
    masked_only: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices [V, 3], triangles [F, 3] and vertex colours [V, 3] in the scene frame.

    `resolution` is the number of voxels along the longest side of the surface's bounding box. Only
    depth that other views agree with is fused (`multi_view_agreement`); with `crop`, only depth inside
    the scene's bounds (or, when unknown, the camera rig's sphere); with `masked_only`, only depth the views'
    masks cover (the edited objects).
    """
    views, region = fusion_views(session, resolution, min_accumulation, crop, masked_only)
    return fuse(views, region, resolution)


def fusion_views(
    session: Any,
    resolution: int,
    min_accumulation: float = MIN_ACCUMULATION,
    crop: bool = True,
    masked_only: bool = False,
) -> tuple[list[SurfaceView], Region]:
    """The renders fusion integrates (the training cameras, at least their own size and up to twice
    `resolution` pixels along the longer side), with the surface each keeps, and the region geometry may
    lie in. Without masks, the cameras turned up and down add the surface the training views barely see
    (`coverage_views`, as for the point cloud: a room's ceiling). The textured mesh bakes from the same
    renders: no second pass over the views."""
    cameras = session.training_cameras
    masks = session_masks(session, len(cameras)) if masked_only else None
    longest = max(max(c.width, c.height) for c in cameras)
    cameras = scaled_cameras(cameras, max(1.0, min(2.0 * resolution, 512) / longest))
    region = session_region(session, crop)
    views = surface_views(session, cameras, region, min_accumulation, masks=masks)
    if masks is None and any(view.keep.any() for view in views):  # masks exist for the training views only
        views += coverage_views(session, views, region)
    return views, region


def fuse(
    views: list[SurfaceView], region: Region, resolution: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TSDF fusion of the views' kept depth and colour (`tsdf_mesh`)."""
    import open3d as o3d

    points = [view.world[view.keep] for view in views]
    cloud = np.concatenate(points) if points else np.zeros((0, 3), np.float32)
    if len(cloud) < 16:
        raise NothingToExportError(NO_SURFACE_YET)
    low, high = np.percentile(cloud, 0.5, axis=0), np.percentile(cloud, 99.5, axis=0)
    pad = 0.05 * (high - low).max()
    low, high = low - pad, high + pad
    length = float((high - low).max())
    voxel = length / resolution
    # A dense cube over the surface's bounds. (open3d 0.20's ScalableTSDFVolume integrates nothing on
    # this build, so the uniform volume it is: `resolution` <= 256 keeps it under ~400 MB.)
    volume = o3d.pipelines.integration.UniformTSDFVolume(
        length=length,
        resolution=resolution,
        sdf_trunc=4.0 * voxel,
        color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8,
        origin=low.astype(np.float64).reshape(3, 1),
    )
    for view in views:
        camera, render, opaque = view.camera, view.render, view.keep
        depth = np.asarray(render.depth, np.float32).reshape(camera.height, camera.width).copy()
        depth[~opaque] = 0.0
        if not opaque.any():
            continue
        rgb = (np.clip(np.asarray(render.rgb, np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(rgb.reshape(camera.height, camera.width, 3))),
            o3d.geometry.Image(depth),
            depth_scale=1.0,
            depth_trunc=float(depth.max()) * 1.01 + 1e-6,
            convert_rgb_to_intensity=False,
        )
        # open3d puts pixel centres at integer coordinates; the protocol puts them at +0.5.
        intrinsic = o3d.camera.PinholeCameraIntrinsic(
            camera.width, camera.height, camera.fx, camera.fy, camera.cx - 0.5, camera.cy - 0.5
        )
        volume.integrate(rgbd, intrinsic, camera.opencv_view_matrix())
    mesh = volume.extract_triangle_mesh()
    mesh = mesh.crop(o3d.geometry.AxisAlignedBoundingBox(low, high))
    if not isinstance(region, Crop) or region.radius is not None:
        mesh.remove_vertices_by_mask(~region.inside(np.asarray(mesh.vertices)))
    vertices = np.asarray(mesh.vertices, np.float64)
    faces = np.asarray(mesh.triangles, np.int64)
    colors = np.asarray(mesh.vertex_colors, np.float64)
    if len(faces) == 0:
        raise NothingToExportError(
            "TSDF fusion found no surface; let the job train longer or lower the resolution"
        )
    return vertices, faces, colors if len(colors) == len(vertices) else np.full_like(vertices, 0.7)
