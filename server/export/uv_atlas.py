"""A UV layout for a mesh that has none (the TSDF mesh), made by xatlas.

xatlas (the `xatlas` package: Python bindings of the C++ library that Godot, Blender add-ons and
nerfstudio's own textured-mesh export use) cuts the surface into charts, flattens each with little
stretch and packs them into one square with padding between them, which is what baking a texture needs:
every texel belongs to at most one surface point, and bilinear filtering at a chart's edge reads padding
(which `texture_bake.texture_image` fills), not another chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TARGET_FILL = 0.6
"""Share of the texture the charts are sized to cover (xatlas packs charts to about 0.55 to 0.75)."""
CHART_FACES = 200
"""Faces per chart at most, on average: xatlas's charting time grows much faster than linearly with the
size of a chart (an 89k-face bumpy sphere: 28 s as 8 charts, 1 s as 535), and the bake does not care how
many charts there are, as long as padding keeps them apart."""
PADDING = 2
"""Texels between charts, so that bilinear filtering and mip levels at an edge read that chart's padding."""


@dataclass(frozen=True)
class UVAtlas:
    """The mesh with vertices split along the charts' seams, and their UVs in [0, 1]² (V up, Blender's
    and OBJ's convention; glTF writers flip it)."""

    vertices: np.ndarray  # [V', 3]
    faces: np.ndarray  # [F, 3], the input's faces in the input's order
    uvs: np.ndarray  # [V', 2]
    source: np.ndarray  # [V'] the input vertex each vertex copies
    charts: int


def unwrap(vertices: np.ndarray, faces: np.ndarray, texture_size: int) -> UVAtlas:
    """Charts sized so that they fill about TARGET_FILL of a `texture_size`² texture, in one atlas."""
    import xatlas

    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    corners = vertices[faces]
    area = float(
        0.5
        * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1).sum()
    )
    if len(faces) == 0 or area <= 0:
        raise ValueError("a mesh with no surface area has no UV layout")
    atlas = xatlas.Atlas()
    atlas.add_mesh(vertices.astype(np.float32), faces.astype(np.uint32))
    charting = xatlas.ChartOptions()
    charting.max_chart_area = area * CHART_FACES / len(faces)
    packing = xatlas.PackOptions()
    packing.padding = PADDING
    packing.bilinear = True
    packing.texels_per_unit = float(np.sqrt(TARGET_FILL * texture_size**2 / area))  # resolution 0: one atlas
    atlas.generate(charting, packing)
    source, new_faces, uvs = atlas[0]
    # xatlas gives UVs per axis of its own atlas (about texture_size, rarely square): one scale for both
    # axes keeps texels square, and the larger side spans the texture.
    width, height = atlas.width, atlas.height
    uvs = np.asarray(uvs, np.float64) * np.array([width, height]) / max(width, height)
    return UVAtlas(
        vertices[np.asarray(source, np.int64)],
        np.asarray(new_faces, np.int64).reshape(-1, 3),
        uvs,
        np.asarray(source, np.int64),
        int(atlas.chart_count),
    )
