"""3D Gaussian Splatting export: one flat Gaussian on every surface pixel the views agree on.

Placement: the point cloud's renders (`pointcloud.sized_surface_views`, the same kept
pixels) are turned into discs lying in the surface. Each kept pixel becomes a Gaussian at its world
point, flattened along the normal of the depth map around it, about half the pixel's footprint wide, as
opaque as the NeRF's accumulation there and coloured by the render. Many views' splats overlap on every
surface, so small discs cover it without holes while keeping the render's detail: a feasibility run put
0.45 footprints at 35.3 dB against the renders, where 1 to 1.5 footprints blurred to 21-25 dB. The
export then refines them (`refine.py`, `refine_steps`); placing them is all that happens in this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from in2n_protocol.wire import EXPORT_PARAMS

from .backproject import MIN_ACCUMULATION, SurfaceView, session_region, view_lookup
from .coverage import between_views
from .pointcloud import sized_surface_views, subsample, view_colours
from .sh import DEFAULT_SH_DEGREE, SH_C0, coefficient_count, sh_basis

DEFAULT_REFINE_STEPS = EXPORT_PARAMS["refine_steps"].default
IN_PLANE_FOOTPRINTS = 0.45
"""In-plane sigma in pixel footprints (depth / focal length): sharp, and still no holes between views."""
EDGE_FOOTPRINTS = 0.25
"""In-plane sigma at depth edges: a disc there must not reach over the silhouette into the background."""
NORMAL_SHARE = 0.5
"""Sigma along the normal as a share of the in-plane one. Thin, but not the 0.05 of exact normals: the
normals come from the NeRF's depth, and a disc tilted by their noise is seen edge-on from other views.
Measured (Blender 5.3 at held-out cameras): recon `object` 31.13 dB at 0.05, 31.47 at 0.5, 30.70 at 1.0
(NeRF 31.10); edited `object` pair 23.41 at 0.05, 24.04 at 0.5."""
MIN_LOG_SCALE = -12.0
"""No sigma below exp(this) (6e-6 scene units): log(0) would break importers and renderers."""
OPACITY_RANGE = (0.01, 0.99)
"""Opacity is clipped to this before it becomes a logit (a finite logit that stays trainable)."""
GAP_NEIGHBOURS = 3
GAP_SHARE = 0.5
"""In-plane sigma at least this share of the mean distance to the GAP_NEIGHBOURS nearest splats, so that
sparse parts (few views agree, or subsampled) close up, as the 3DGS initialisation sizes its Gaussians.
Measured on the fusion benchmark's edited `object` pair (48 px, 12 views, Blender 5.3 at 4 held-out
cameras): 0 -> 24.04 dB, 0.5 -> 24.17, 1.0 -> 22.49 (blurred)."""
MAX_STRETCH = 1.0
"""A pixel seen at an angle covers footprint / cos(angle) of the surface along the direction the view
looks across it: its disc is stretched that way by 1 / cos, at most this much (1: round discs). Off:
it helps where the views graze (`room` 18.45 -> 19.03 dB at 3, uncapped floor) and blurs elsewhere
(`object` 33.69 -> 33.16, `tabletop` 31.12 -> 30.45; with the floor capped at 1.5: `object` 33.61,
`room` 18.62, edited pair 25.58; same runs as GAP_CAP)."""
GAP_CAP = 1.5
"""The spacing floor grows a splat to at most this many times its own footprint sigma: a lone splat off
the surface (a silhouette's stray depth) must not become a visible blob, which it did uncapped at 200k
splats on `tabletop` (29.60 dB against 32.19 with no floor). Measured (50k splats, Blender 5.3 at the
held-out cameras, PSNR dB, `object` / `tabletop` / `room` / edited `object` pair; NeRF 34.03 / 35.02 /
36.20 / 26.30): uncapped 33.69 / 31.12 / 18.45 / 24.97; 1.5 -> 33.88 / 31.91 / 17.99 / 25.39; 2 -> 33.72 /
31.47 / 18.11 / 25.36; no floor at all (GAP_SHARE 0) 34.10 / 32.05 / 17.73 / 24.79."""
EDGE_JUMP_FOOTPRINTS = 4.0
"""Neighbours whose depths differ by more than this many footprints are on two sides of a depth edge."""
SH_RIDGE = 0.1
"""Ridge weight on the higher SH bands: a few views cannot pin 15 coefficients, so unseen directions
stay close to the view-independent colour instead of swinging to whatever fits the seen ones. On the
exact sphere of the tests (12 views, colours at held-out views): with render noise 0.03, degree 1 gives
35.5 dB where 0.01 gives 33.0 and degree 0 30.4; on a strongly view-dependent colour 30.2 (0.01: 34.7)."""
SH_CHUNK = 32768
"""Points fitted at once (bounds the memory of the per-point normal equations)."""


class PointArrays:
    """A dataclass of arrays with one row per point: rows taken, or parts joined, field by field."""

    def take(self, index: np.ndarray) -> Self:
        return type(self)(*(getattr(self, name)[index] for name in self.__dataclass_fields__))

    @classmethod
    def concatenate(cls, parts: list[Self]) -> Self:
        return cls(*(np.concatenate([getattr(p, n) for p in parts]) for n in cls.__dataclass_fields__))


@dataclass
class Splats(PointArrays):
    """Gaussians in the scene frame, in plain units (the PLY writer applies the 3DGS encodings)."""

    positions: np.ndarray  # [N, 3] float32
    normals: np.ndarray  # [N, 3] unit, facing the camera that saw the point
    colors: np.ndarray  # [N, 3] sRGB: 0.5 + SH_C0 * f_dc (the render's colour, or the fitted DC)
    opacities: np.ndarray  # [N] in (0, 1)
    sigmas: np.ndarray  # [N, 3] standard deviations along the local x, y, z axes (z is the normal)
    rotations: np.ndarray  # [N, 4] unit quaternions (w, x, y, z) taking local z to the normal
    sh_rest: np.ndarray  # [N, 3, K] higher SH bands per channel (K = (degree + 1)^2 - 1)

    def __len__(self) -> int:
        return len(self.positions)


@dataclass
class Surfels(PointArrays):
    """The kept pixels of one or more views, before they become Gaussians."""

    positions: np.ndarray  # [M, 3]
    normals: np.ndarray  # [M, 3]
    colors: np.ndarray  # [M, 3]
    accumulation: np.ndarray  # [M]
    in_plane: np.ndarray  # [M] in-plane sigma, world units (the disc's narrower axis)
    stretch: np.ndarray  # [M] >= 1: the wider in-plane axis is this many times in_plane
    across: np.ndarray  # [M, 3] unit, in the surface: the wider axis (the view's ray across the surface)


def splats(
    session: Any,
    num_points: int,
    sh_degree: int = DEFAULT_SH_DEGREE,
    seed: int = 0,
    crop: bool = True,
    masked_only: bool = False,
    refine_steps: int = DEFAULT_REFINE_STEPS,
) -> Splats:
    """At most `num_points` Gaussians on the surface the training views agree on, in the scene frame.

    The same pixels as `point_cloud` (agreement, `crop`, `masked_only`, subsampling). With `sh_degree` 0
    the colour is the render's; above, all SH bands are fitted to the colours the views see the point in.
    With `refine_steps`, the holes the views leave are filled and every splat is optimised against the
    NeRF's renders (`refine.refined_splats`), also at cameras between the training ones (not with
    `masked_only`: masks exist for the training views only).
    """
    coefficient_count(sh_degree)  # a bad degree fails before anything is rendered
    views = sized_surface_views(session, num_points, crop, masked_only)
    if refine_steps <= 0:
        return splats_from_views(views, num_points, sh_degree, seed)
    from .refine import refined_splats  # refine builds on this module's Splats

    region = session_region(session, crop)
    novel = [] if masked_only else between_views(session, views, region, num_points, seed)
    return refined_splats(views, num_points, sh_degree, refine_steps, seed, novel=novel)


def splats_from_views(
    views: list[SurfaceView], num_points: int, sh_degree: int = DEFAULT_SH_DEGREE, seed: int = 0
) -> Splats:
    """The splats of already rendered surface views (`splats` without the rendering)."""
    surfels = Surfels.concatenate([view_surfels(view) for view in views])
    surfels = surfels.take(subsample(len(surfels.positions), num_points, seed))
    grown = np.minimum(GAP_SHARE * neighbour_spacing(surfels.positions), GAP_CAP * surfels.in_plane)
    surfels.in_plane = np.maximum(surfels.in_plane, grown)
    if sh_degree == 0:
        colors, rest = surfels.colors, np.zeros((len(surfels.colors), 3, 0), np.float32)
    else:
        colors, rest = fit_sh(surfels.positions, surfels.colors, views, sh_degree)
    return Splats(
        positions=surfels.positions.astype(np.float32),
        normals=surfels.normals.astype(np.float32),
        colors=colors.astype(np.float32),
        opacities=np.clip(surfels.accumulation, *OPACITY_RANGE).astype(np.float32),
        sigmas=flat_sigmas(surfels.in_plane, surfels.stretch),
        rotations=disc_rotations(surfels.normals, surfels.across, surfels.stretch > 1.0),
        sh_rest=rest.astype(np.float32),
    )


def neighbour_spacing(positions: np.ndarray) -> np.ndarray:
    """Mean distance [N] from each splat to its GAP_NEIGHBOURS nearest others: how far apart the splats
    are where few views agreed, or where subsampling thinned them."""
    from scipy.spatial import cKDTree

    if len(positions) <= GAP_NEIGHBOURS:
        return np.zeros(len(positions))
    distances, _ = cKDTree(positions).query(positions, k=GAP_NEIGHBOURS + 1)
    return distances[:, 1:].mean(axis=1)


def view_surfels(view: SurfaceView) -> Surfels:
    """Position, normal, colour, accumulation and in-plane sigma of every kept pixel of one view."""
    camera = view.camera
    shape = view.keep.shape
    depth = np.asarray(view.render.depth, np.float64).reshape(shape)
    accumulation = np.asarray(view.render.accumulation, np.float32).reshape(shape)
    opaque = np.isfinite(depth) & (depth > 0) & (accumulation >= MIN_ACCUMULATION)
    depth = np.where(opaque, depth, 0.0)
    footprint = depth / math.sqrt(camera.fx * camera.fy)
    centre = np.asarray(camera.camera_to_world, np.float64)[:3, 3]
    normals, edge = surface_normals(view.world, depth, opaque, footprint, centre)
    in_plane = footprint * np.where(edge, EDGE_FOOTPRINTS, IN_PLANE_FOOTPRINTS)
    keep = view.keep
    stretch, across = oblique_stretch(view.world[keep] - centre, normals[keep])
    return Surfels(
        positions=view.world[keep],
        normals=normals[keep],
        colors=np.clip(view_colours(view)[keep], 0.0, 1.0),
        accumulation=accumulation[keep],
        in_plane=in_plane[keep],
        stretch=np.where(edge[keep], 1.0, stretch),
        across=across,
    )


def oblique_stretch(rays: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How much wider [M] a pixel's footprint is on the surface along the ray's direction in it, and
    that direction [M, 3] (unit, perpendicular to the normal): 1 / |cos| of the angle between the ray
    and the normal, at most MAX_STRETCH. Where the ray is along the normal any in-plane axis is given."""
    rays = _unit(np.asarray(rays, np.float64))
    cosine = np.sum(rays * normals, axis=-1)
    stretch = np.clip(1.0 / np.maximum(np.abs(cosine), 1e-9), 1.0, MAX_STRETCH)
    across = rays - cosine[:, None] * normals
    fallback = np.cross(normals, np.eye(3)[np.argmin(np.abs(normals), axis=-1)])
    small = np.linalg.norm(across, axis=-1) < 1e-6
    return stretch, _unit(np.where(small[:, None], fallback, across))


def _shifted(values: np.ndarray, rows: int, cols: int, fill: Any) -> np.ndarray:
    """`out[r, c] = values[r + rows, c + cols]`, `fill` where that falls outside the image."""
    height, width = values.shape[:2]
    pad = [(1, 1), (1, 1)] + [(0, 0)] * (values.ndim - 2)
    padded = np.pad(values, pad, constant_values=fill)
    return padded[1 + rows : 1 + rows + height, 1 + cols : 1 + cols + width]


def surface_normals(
    world: np.ndarray, depth: np.ndarray, opaque: np.ndarray, footprint: np.ndarray, centre: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals [H, W, 3] facing the camera, and the depth edges [H, W] of a view's surface.

    The normal is the cross product of the surface's tangents along the image's columns and rows
    (`_tangent`). With a tangent along one axis only it is the direction to the camera made perpendicular
    to that tangent; with none, the direction to the camera. An opaque pixel is at a depth edge when any
    4-neighbour is empty or lies across a depth jump.
    """
    along_cols, has_cols, inner_cols = _tangent(world, depth, opaque, footprint, 0, 1)
    along_rows, has_rows, inner_rows = _tangent(world, depth, opaque, footprint, 1, 0)
    toward = _unit(centre - world)
    normals = toward
    for tangent, only in ((along_cols, has_cols & ~has_rows), (along_rows, has_rows & ~has_cols)):
        t = _unit(tangent)
        normals = np.where(only[..., None], toward - np.sum(toward * t, -1, keepdims=True) * t, normals)
    normals = np.where((has_cols & has_rows)[..., None], np.cross(along_cols, along_rows), normals)
    normals = np.where(np.linalg.norm(normals, axis=-1, keepdims=True) > 0, normals, toward)
    normals = _unit(normals)
    facing = np.sum(normals * toward, axis=-1, keepdims=True) >= 0
    return np.where(facing, normals, -normals), opaque & ~(inner_cols & inner_rows)


def _tangent(
    world: np.ndarray, depth: np.ndarray, opaque: np.ndarray, footprint: np.ndarray, rows: int, cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface's tangent [H, W, 3] along one image axis, where there is one, and where both
    neighbours along it are on the same surface: a central difference there, one-sided where only one is
    (so a disc at a silhouette leans along the surface it belongs to, not across the jump)."""
    after = _continuous(depth, opaque, footprint, rows, cols)
    before = _continuous(depth, opaque, footprint, -rows, -cols)
    ahead, behind = _shifted(world, rows, cols, 0.0), _shifted(world, -rows, -cols, 0.0)
    tangent = np.where((after & before)[..., None], ahead - behind, 0.0)
    tangent = np.where((after & ~before)[..., None], ahead - world, tangent)
    tangent = np.where((before & ~after)[..., None], world - behind, tangent)
    return tangent, after | before, after & before


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-300)


def _continuous(
    depth: np.ndarray, opaque: np.ndarray, footprint: np.ndarray, rows: int, cols: int
) -> np.ndarray:
    """Where the neighbour at (rows, cols) is on the same surface: opaque and no depth jump between."""
    other = _shifted(depth, rows, cols, 0.0)
    near = np.abs(other - depth) <= EDGE_JUMP_FOOTPRINTS * footprint
    return opaque & _shifted(opaque, rows, cols, False) & near


def flat_sigmas(in_plane: np.ndarray, stretch: np.ndarray | None = None) -> np.ndarray:
    """Sigmas [N, 3]: `in_plane` times `stretch` along local x, `in_plane` along y, NORMAL_SHARE of
    `in_plane` along z, none below the floor."""
    floor = math.exp(MIN_LOG_SCALE)
    side = np.maximum(np.asarray(in_plane, np.float64), floor)
    wide = side if stretch is None else side * np.asarray(stretch, np.float64)
    return np.stack([wide, side, np.maximum(NORMAL_SHARE * side, floor)], axis=-1).astype(np.float32)


def disc_rotations(normals: np.ndarray, across: np.ndarray, turn: np.ndarray) -> np.ndarray:
    """Unit quaternions [N, 4] (w, x, y, z) taking +z to each normal and, where `turn`, +x to `across`
    (a unit vector perpendicular to the normal); elsewhere the shortest rotation (`rotations_to`).

    The shortest rotation q0 followed, in its own frame, by a turn about z by the angle that brings
    q0's x axis onto `across`: q = q0 * (cos(a/2), 0, 0, sin(a/2))."""
    q0 = rotations_to(normals).astype(np.float64)
    w, x, y, z = q0.T
    x_axis = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], axis=-1)
    y_axis = np.stack([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)], axis=-1)
    across = np.asarray(across, np.float64)
    angle = np.where(turn, np.arctan2(np.sum(across * y_axis, -1), np.sum(across * x_axis, -1)), 0.0)
    c, s = np.cos(angle / 2), np.sin(angle / 2)
    q = np.stack([w * c - z * s, x * c + y * s, y * c - x * s, z * c + w * s], axis=-1)
    return (q / np.linalg.norm(q, axis=-1, keepdims=True)).astype(np.float32)


def rotations_to(normals: np.ndarray) -> np.ndarray:
    """Unit quaternions [N, 4] (w, x, y, z) of the shortest rotation taking +z to each normal.

    q = (1 + z.n, z x n) normalised; for n = -z (no shortest rotation) a half turn about x.
    """
    n = np.asarray(normals, np.float64)
    n = n / np.linalg.norm(n, axis=-1, keepdims=True)
    q = np.stack([1.0 + n[..., 2], -n[..., 1], n[..., 0], np.zeros(n.shape[:-1])], axis=-1)
    length = np.linalg.norm(q, axis=-1, keepdims=True)
    opposite = length < 1e-9
    q = np.where(opposite, np.array([0.0, 1.0, 0.0, 0.0]), q / np.where(opposite, 1.0, length))
    return q.astype(np.float32)


def kept_colours(view: SurfaceView, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The view's colour [M, 3] at points it sees, at continuous pixel coordinates (col `u`, row `v`).

    Bilinear between the centres of the kept pixels around each point: a view seeing a point off its
    pixel centres must not report a neighbouring surface point's colour as view dependence, and the
    background must not leak in. The pixel a seen point lies in is kept and weighs at least 1/4.
    """
    height, width = view.keep.shape
    colours = view_colours(view).astype(np.float64)
    x, y = np.asarray(u, np.float64) - 0.5, np.asarray(v, np.float64) - 0.5
    left, top = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    across, down = x - left, y - top
    total, weights = np.zeros((len(x), 3)), np.zeros(len(x))
    for rows, row_weight in ((0, 1 - down), (1, down)):
        for cols, col_weight in ((0, 1 - across), (1, across)):
            row, col = np.clip(top + rows, 0, height - 1), np.clip(left + cols, 0, width - 1)
            weight = row_weight * col_weight * view.keep[row, col]
            total += weight[:, None] * colours[row, col]
            weights += weight
    return total / np.maximum(weights, 1e-12)[:, None]


def fit_sh(
    points: np.ndarray, own_colors: np.ndarray, views: list[SurfaceView], degree: int
) -> tuple[np.ndarray, np.ndarray]:
    """DC colours [N, 3] and higher bands [N, 3, K] fitted to what the views see at each point.

    A view sees a point when its kept surface is there at the same depth (`view_lookup`, the agreement
    test); its colour there is one sample along the direction from that camera's centre to the point
    (3DGS's convention). Least squares per point and channel, with SH_RIDGE on the bands above 0 only, so
    a point seen once keeps that colour and no view dependence. A point no view confirms (rounding at a
    pixel's border) keeps `own_colors`, its own render's.
    """
    count = coefficient_count(degree)
    colors = np.empty((len(points), 3), np.float64)
    rest = np.empty((len(points), 3, count - 1), np.float64)
    ridge = np.diag(np.r_[1e-9, np.full(count - 1, SH_RIDGE)])
    for start in range(0, len(points), SH_CHUNK):
        chunk = np.asarray(points[start : start + SH_CHUNK], np.float64)
        gram = np.zeros((len(chunk), count, count)) + ridge
        rhs = np.zeros((len(chunk), count, 3))
        seen_by = np.zeros(len(chunk), np.int64)
        for view in views:
            seen, u, v = view_lookup(chunk, view)
            if not seen.any():
                continue
            centre = np.asarray(view.camera.camera_to_world, np.float64)[:3, 3]
            directions = chunk[seen] - centre
            directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
            basis = sh_basis(directions, degree)  # [M, count]
            observed = kept_colours(view, u[seen], v[seen]) - 0.5
            gram[seen] += basis[:, :, None] * basis[:, None, :]
            rhs[seen] += basis[:, :, None] * observed[:, None, :]
            seen_by += seen
        unseen = seen_by == 0  # only the ridge in `gram`: a DC right-hand side that solves to its colour
        own = (own_colors[start : start + len(chunk)][unseen] - 0.5) / SH_C0
        rhs[unseen, 0] = gram[unseen, 0, 0][:, None] * own
        coefficients = np.linalg.solve(gram, rhs)  # [n, count, 3]
        colors[start : start + len(chunk)] = 0.5 + SH_C0 * coefficients[:, 0]
        rest[start : start + len(chunk)] = coefficients[:, 1:].transpose(0, 2, 1)
    return colors, rest
