"""Bake views into a UV texture: every texel mapped to its 3D point, then sampled in the views that see it.

Splatting view pixels into UV space leaves most texels empty when the views are coarser than the texture
(44% of a 256² texture from 24 views of 96 px: ../shared/notes/texture-bake.md); going the other way, texel to
3D point to every view with a depth test, fills every texel some view sees. Three steps, each usable alone
(the `textures` export bakes the artist's own UV layouts, the textured mesh export an xatlas layout):

1. `rasterise_uv`: the texels inside each UV triangle (texel centres), with their 3D points and normals;
2. `gather`: their colours from views (bilinear among the depth-consistent neighbours, weighted by cos² of
   the viewing angle);
3. `texture_image`: the image, texels no view saw filled from the nearest seen texel in 3D (counted), and
   every texel outside the UV islands padded with its nearest island texel, so that seams and mip levels do
   not bleed the background in.

Texel (row, col) of a `size`² texture is UV ((col + 0.5) / size, 1 - (row + 0.5) / size): row 0 is the top
of the image, as Blender and glTF read images.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ..engine.geometry import DEPTH_AGREEMENT, project, world_points
from ..engine.types import CameraSpec

MIN_FACING = 0.0
"""A view samples a texel only when the surface faces it (cos of the viewing angle above this); grazing views
already weigh little (cos²), and a texel only grazing views see is better sampled than filled: on Suzanne
from 24 views of 96 px, a floor of 0.05 left 1.4% of the visible texels unsampled."""
SAME_PLANE_PIXELS = 0.5
"""With exact depth, a pixel shows a texel's surface when the pixel's 3D point lies within this many pixel
footprints of the texel's tangent plane: at a crease the next face passes any depth test (it is just as
far), but it leaves the plane..."""
AGREEING = 3
SAME_NORMAL_COS = 0.3
"""... and AGREEING of its four surface normals (from the depth map, one towards each pair of neighbours)
lie within acos(0.3) = 73° of the texel's: across a crease or into the background they do not. Measured
(tests/server/test_textures_export.py's cube at 64² from 96-px views; Suzanne's edited views from the
texture benchmark): all four within 30° gave 49.4 dB / 84% of the visible texels sampled, three within 73°
53.2 dB / 99.6%, any two within 45° let the next face in (31 dB)."""
CANDIDATES_PER_CHUNK = 4_000_000
"""Texel candidates tested at once while rasterising (bounds the memory of big triangles at 4096²)."""


@dataclass(frozen=True)
class TexelMap:
    """The texels a UV layout covers, with the surface point and normal each one stands for."""

    size: int
    rows: np.ndarray  # [M] int
    cols: np.ndarray  # [M] int
    points: np.ndarray  # [M, 3] world frame
    normals: np.ndarray  # [M, 3] unit, from the triangles' winding
    outside_uv_share: float
    """Share of the triangles' UV area outside [0, 1]² (not baked)."""

    @property
    def count(self) -> int:
        return len(self.rows)

    def covered(self) -> np.ndarray:
        """[size, size] bool: texels inside some UV triangle."""
        mask = np.zeros((self.size, self.size), bool)
        mask[self.rows, self.cols] = True
        return mask


def uv_to_texel(uvs: np.ndarray, size: int) -> np.ndarray:
    """UVs [..., 2] -> continuous texel coordinates (x = col, y = row); texel centres at +0.5."""
    uvs = np.asarray(uvs, np.float64)
    return np.stack([uvs[..., 0] * size, (1.0 - uvs[..., 1]) * size], axis=-1)


def rasterise_uv(positions: np.ndarray, uvs: np.ndarray, size: int) -> TexelMap:
    """The texel centres inside each UV triangle, their 3D points (barycentric) and the face normals.

    `positions` [T, 3, 3] and `uvs` [T, 3, 2] are per triangle corner. A texel on an edge two triangles share
    goes to the first of them; triangles with no UV area are skipped.
    """
    positions = np.asarray(positions, np.float64).reshape(-1, 3, 3)
    corners = uv_to_texel(np.asarray(uvs, np.float64).reshape(-1, 3, 2), size)
    if len(positions) != len(corners):
        raise ValueError(f"{len(positions)} triangles but {len(corners)} UV triangles")
    normals = np.cross(positions[:, 1] - positions[:, 0], positions[:, 2] - positions[:, 0])
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, lengths, out=np.zeros_like(normals), where=lengths > 0)
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    area2 = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # twice the signed UV area, in texels²
    outside = _outside_share(corners, np.abs(area2), size)
    keep = np.abs(area2) > 1e-12
    lo = np.clip(np.ceil(corners.min(axis=1) - 0.5), 0, size).astype(np.int64)  # first centre >= min
    hi = np.clip(np.floor(corners.max(axis=1) - 0.5), -1, size - 1).astype(np.int64)  # last centre <= max
    spans = np.where(keep[:, None], np.maximum(hi - lo + 1, 0), 0)  # [T, 2] texels along x and y
    counts = spans[:, 0] * spans[:, 1]
    found_index, found_tri, found_bary = [], [], []
    for chunk in _chunks(counts, CANDIDATES_PER_CHUNK):
        tri = np.repeat(chunk, counts[chunk])
        if not len(tri):
            continue
        start = np.repeat(np.cumsum(counts[chunk]) - counts[chunk], counts[chunk])
        local = np.arange(len(tri)) - start
        col = lo[tri, 0] + local % spans[tri, 0]
        row = lo[tri, 1] + local // spans[tri, 0]
        px, py = col + 0.5 - corners[tri, 0, 0], row + 0.5 - corners[tri, 0, 1]
        b1 = (px * e2[tri, 1] - py * e2[tri, 0]) / area2[tri]
        b2 = (e1[tri, 0] * py - e1[tri, 1] * px) / area2[tri]
        b0 = 1.0 - b1 - b2
        eps = -1e-9
        inside = (b0 >= eps) & (b1 >= eps) & (b2 >= eps)
        found_index.append((row * size + col)[inside])
        found_tri.append(tri[inside])
        found_bary.append(np.stack([b0, b1, b2], axis=1)[inside])
    if not found_index:
        empty = np.zeros((0, 3))
        return TexelMap(size, np.zeros(0, np.int64), np.zeros(0, np.int64), empty, empty, outside)
    index, first = np.unique(np.concatenate(found_index), return_index=True)
    tri = np.concatenate(found_tri)[first]
    bary = np.concatenate(found_bary)[first]
    points = np.einsum("mk,mkd->md", bary, positions[tri])
    return TexelMap(size, index // size, index % size, points, normals[tri], outside)


def _outside_share(corners: np.ndarray, area2: np.ndarray, size: int) -> float:
    """Share of the UV area whose triangles reach outside [0, 1]² (counted whole: a report, not a clip)."""
    total = float(area2.sum())
    if total <= 0:
        return 0.0
    out = (corners.min(axis=1) < -1e-6).any(axis=1) | (corners.max(axis=1) > size + 1e-6).any(axis=1)
    return float(area2[out].sum()) / total


def _chunks(counts: np.ndarray, budget: int) -> Iterable[np.ndarray]:
    """Consecutive triangle indices whose candidate counts add up to about `budget` each."""
    ends = np.searchsorted(np.cumsum(counts), np.arange(budget, int(counts.sum()) + budget, budget))
    start = 0
    for end in np.unique(np.minimum(ends + 1, len(counts))):
        if end > start:
            yield np.arange(start, end)
            start = end
    if start < len(counts):
        yield np.arange(start, len(counts))


@dataclass
class BakeView:
    """One view to sample: its camera, linear colour, z-depth for the visibility test (0 = nothing there),
    an optional per-pixel reliability in [0, 1] (e.g. how much light the surface had), and whether the
    depth is exact (the capture's own, of the same triangles), which allows the stricter same-plane test."""

    camera: CameraSpec
    colour: np.ndarray  # [H, W, 3] linear
    depth: np.ndarray  # [H, W]
    reliability: np.ndarray | None = None  # [H, W]
    exact_depth: bool = False


@dataclass
class Gathered:
    """Per texel: the weighted colour sum, the weight (0: no view sampled it), and whether any view shows
    its point at all (nearest pixel at its depth, facing the camera): what the bake could have sampled."""

    colour_sum: np.ndarray  # [M, 3]
    weight: np.ndarray  # [M]
    visible: np.ndarray  # [M] bool

    @property
    def seen(self) -> np.ndarray:
        return self.weight > 0

    def colours(self) -> np.ndarray:
        return self.colour_sum / np.maximum(self.weight, 1e-12)[:, None]


def gather(texels: TexelMap, views: Iterable[BakeView], depth_tolerance: float = DEPTH_AGREEMENT) -> Gathered:
    """Each texel's colour from every view that sees its point.

    A view sees a point when the point projects inside it, in front of the camera, onto a surface facing
    the camera, at the depth the view has there (within `depth_tolerance` of it; with exact depth, the
    pixel's point on the texel's tangent plane instead). The colour is bilinear among the four nearest
    pixels that pass (so a silhouette or a crease does not mix in another surface), and the view's weight
    is cos² of the viewing angle times the share of the bilinear weight that passed.
    """
    colour_sum = np.zeros((texels.count, 3))
    weight = np.zeros(texels.count)
    visible = np.zeros(texels.count, bool)
    for view in views:
        camera = view.camera
        height, width = view.depth.shape
        centre = np.asarray(camera.camera_to_world, np.float64)[:3, 3]
        to_camera = centre - texels.points
        distance = np.linalg.norm(to_camera, axis=1)
        facing = np.einsum("md,md->m", texels.normals, to_camera) / np.maximum(distance, 1e-12)
        x, y, z = project(camera, texels.points)
        inside = (z > 1e-9) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
        nearest = view.depth[
            np.clip(y.astype(np.int64), 0, height - 1), np.clip(x.astype(np.int64), 0, width - 1)
        ]
        visible |= inside & (facing > 0) & (nearest > 0) & (np.abs(z - nearest) <= DEPTH_AGREEMENT * nearest)
        candidate = (facing > MIN_FACING) & inside
        if not candidate.any():
            continue
        idx = np.nonzero(candidate)[0]
        fx, fy = x[idx] - 0.5, y[idx] - 0.5  # pixel centres at +0.5
        x0, y0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
        tx, ty = fx - x0, fy - y0
        total = np.zeros(len(idx))
        colour = np.zeros((len(idx), 3))
        world = world_points(camera, view.depth) if view.exact_depth else None
        normals = depth_normals(world) if world is not None else None
        plane_tolerance = SAME_PLANE_PIXELS * z[idx] / camera.fx  # a pixel's footprint at the point's depth
        for dx, dy, w in (
            (0, 0, (1 - tx) * (1 - ty)),
            (1, 0, tx * (1 - ty)),
            (0, 1, (1 - tx) * ty),
            (1, 1, tx * ty),
        ):
            col, row = np.clip(x0 + dx, 0, width - 1), np.clip(y0 + dy, 0, height - 1)
            depth = view.depth[row, col]
            if world is None:
                ok = (depth > 0) & (np.abs(z[idx] - depth) <= depth_tolerance * depth)
            else:
                offset = np.einsum("md,md->m", texels.normals[idx], world[row, col] - texels.points[idx])
                cosines = np.abs(np.einsum("md,mkd->mk", texels.normals[idx], normals[row, col]))
                agree = np.sort(cosines, axis=1)[:, -AGREEING]  # the AGREEING-th best of the four
                ok = (depth > 0) & (np.abs(offset) <= plane_tolerance) & (agree >= SAME_NORMAL_COS)
            if view.reliability is not None:
                w = w * view.reliability[row, col]
            w = np.where(ok, w, 0.0)
            total += w
            colour += w[:, None] * view.colour[row, col]
        hit = total > 1e-6
        view_weight = facing[idx[hit]] ** 2 * total[hit]
        colour_sum[idx[hit]] += view_weight[:, None] * colour[hit] / total[hit, None]
        weight[idx[hit]] += view_weight
    return Gathered(colour_sum, weight, visible)


def depth_normals(world: np.ndarray) -> np.ndarray:
    """Unit surface normals [H, W, 4, 3] of a depth map's points, one towards each diagonal pair of
    neighbours (one-sided differences; sign arbitrary): a pixel next to a crease or an edge has normals
    that disagree, so it is never taken for either side. Zero where a neighbour is missing (the border)."""
    height, width, _ = world.shape
    padded = np.pad(world, ((1, 1), (1, 1), (0, 0)), mode="edge")
    centre = padded[1:-1, 1:-1]
    right, left = padded[1:-1, 2:] - centre, padded[1:-1, :-2] - centre
    down, up = padded[2:, 1:-1] - centre, padded[:-2, 1:-1] - centre
    normals = np.stack(
        [np.cross(a, b) for a, b in ((right, down), (down, left), (left, up), (up, right))], axis=2
    )
    length = np.linalg.norm(normals, axis=-1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


@dataclass(frozen=True)
class BakedTexture:
    image: np.ndarray  # [size, size, 3] float in [0, 1], same encoding as the views' colour
    seen_share: float
    """Share of the covered texels some view saw."""
    filled_share: float
    """Share of the covered texels no view saw, filled from the nearest seen texel in 3D."""
    visible_seen_share: float
    """Share of the texels some view shows (`Gathered.visible`) that the bake sampled: what the grazing-angle,
    crease and silhouette tests gave up."""


def texture_image(
    texels: TexelMap, gathered: Gathered, empty: tuple[float, float, float] = (0.5, 0.5, 0.5)
) -> BakedTexture:
    """The texture: seen texels' colours, unseen ones from the nearest seen texel in 3D (UV neighbours may
    lie on another island), and every texel outside the islands from its nearest island texel."""
    size = texels.size
    colours = np.empty((texels.count, 3))
    seen = gathered.seen
    colours[seen] = gathered.colours()[seen]
    unseen = ~seen
    if unseen.any():
        if seen.any():
            _, nearest = cKDTree(texels.points[seen]).query(texels.points[unseen])
            colours[unseen] = colours[seen][nearest]
        else:
            colours[unseen] = empty
    image = np.empty((size, size, 3))
    image[:] = empty
    if texels.count:
        image[texels.rows, texels.cols] = colours
        covered = texels.covered()
        _, (near_rows, near_cols) = ndimage.distance_transform_edt(~covered, return_indices=True)
        image = image[near_rows, near_cols]
    count = max(texels.count, 1)
    visible = max(int(gathered.visible.sum()), 1)
    return BakedTexture(
        np.clip(image, 0.0, 1.0),
        float(seen.sum()) / count,
        float(unseen.sum()) / count,
        float((seen & gathered.visible).sum()) / visible,
    )


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """The sRGB transfer function undone (the encoding of 8-bit PNGs and Blender's Standard view)."""
    values = np.clip(np.asarray(values, np.float64), 0.0, 1.0)
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    values = np.clip(np.asarray(values, np.float64), 0.0, 1.0)
    return np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1.0 / 2.4) - 0.055)
