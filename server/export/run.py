"""One entry point for exports: kind + format -> a file in the scene's frame (never loads the editor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from in2n_protocol.wire import EXPORT_PARAMS

from .decimate import decimate
from .mesh import fuse, fusion_views
from .pointcloud import point_cloud
from .sh import DEFAULT_SH_DEGREE
from .splats import splats
from .textured_mesh import textured_mesh
from .textures import textures
from .writers import write_mesh, write_point_cloud, write_splats, write_textured_mesh, write_textures


def export_geometry(
    session: Any,
    kind: str,
    file_format: str,
    path: Path,
    num_points: int = EXPORT_PARAMS["num_points"].default,
    resolution: int = EXPORT_PARAMS["resolution"].default,
    crop: bool = True,
    masked_only: bool = False,
    sh_degree: int = DEFAULT_SH_DEGREE,
    refine_steps: int = EXPORT_PARAMS["refine_steps"].default,
    texture_size: int = EXPORT_PARAMS["texture_size"].default,
    faces: int = EXPORT_PARAMS["faces"].default,
    vertex_colors: bool = False,
) -> Path:
    """Render `session` (an export-only or running EditSession) and write the geometry atomically.

    `masked_only` keeps only what the views' masks cover (the edited objects): MasksMissingError without.
    `num_points` bounds point clouds and splats, `resolution` sizes meshes, `sh_degree` and
    `refine_steps` are for splats only, `texture_size` sizes textures (of the `textures` kind and of
    textured meshes), `faces` bounds meshes.
    A mesh as GLB or OBJ is textured unless `vertex_colors`; PLY has vertex colours. Returns the file's
    path: an OBJ is a zip next to `path` (`writers.mesh_file`).
    """
    if kind == "textures":
        return write_textures(path, textures(session, texture_size))
    if kind == "point_cloud":
        points, colors = point_cloud(session, num_points, crop=crop, masked_only=masked_only)
        return write_point_cloud(path, points, colors)
    if kind == "splats":
        gaussians = splats(
            session, num_points, sh_degree, crop=crop, masked_only=masked_only, refine_steps=refine_steps
        )
        return write_splats(path, gaussians)
    views, region = fusion_views(session, resolution, crop=crop, masked_only=masked_only)
    vertices, triangles, colors = decimate(*fuse(views, region, resolution), max_faces=faces)
    if file_format == "ply" or vertex_colors:
        return write_mesh(path, vertices, triangles, colors, file_format)
    textured = textured_mesh(vertices, triangles, views, texture_size)
    return write_textured_mesh(path, textured, file_format)
