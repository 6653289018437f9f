"""The mesh export's texture: the edited scene baked into an xatlas layout of the TSDF mesh.

Vertex colours hold one colour per vertex, so a mesh at a few hundred thousand faces shows the scene at
voxel resolution (a checker blurs into blotches). A texture holds the views' own detail: each texel's
point on the mesh is sampled in the NeRF's renders at the training cameras that see it (`texture_bake`).
The views are the renders TSDF fusion made the mesh from (`mesh.fusion_views`: the training cameras, at
least their own size), so the texture costs no second pass over the views. Visibility is tested against the
mesh's own depth (ray casts), as the texels lie on this mesh, not on the NeRF's fuzzier depth, where the
NeRF sees that same surface: a mesh of the edited objects alone (`masked_only`) does not hold what stands
in front of them, and the NeRF does.

Lighting stays in: the texture is the NeRF's lit colour, as the vertex colours are. A new object has no
original lighting to divide out (unlike the `textures` export into the artist's own objects), so the
extension shows the mesh unlit, as it was seen (docs/blender.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..engine.geometry import DEPTH_AGREEMENT, camera_points
from ..engine.types import CameraSpec
from .backproject import SurfaceView
from .texture_bake import BakeView, gather, linear_to_srgb, rasterise_uv, texture_image
from .textures import ViewInputs, bake_view
from .uv_atlas import UVAtlas, unwrap


@dataclass(frozen=True)
class TexturedMesh:
    """A mesh with UVs and its colour texture (sRGB, [size, size, 3] in [0, 1]), in the scene frame."""

    vertices: np.ndarray  # [V, 3]
    faces: np.ndarray  # [F, 3]
    uvs: np.ndarray  # [V, 2], V up
    image: np.ndarray
    seen_share: float
    """Share of the covered texels some view saw (the rest are filled from their nearest seen texel)."""


class MeshDepth:
    """Z-depth of a triangle mesh in any camera (open3d ray casts; 0 where a ray misses)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        import open3d as o3d

        self._scene = o3d.t.geometry.RaycastingScene()
        self._scene.add_triangles(np.asarray(vertices, np.float32), np.asarray(faces, np.uint32))

    def __call__(self, camera: CameraSpec) -> np.ndarray:
        c2w = np.asarray(camera.camera_to_world, np.float64)[:3, :4]
        directions = camera_points(camera, np.ones((camera.height, camera.width))) @ c2w[:, :3].T
        rays = np.concatenate([np.broadcast_to(c2w[:, 3], directions.shape), directions], axis=-1)
        hit = self._scene.cast_rays(rays.reshape(-1, 6).astype(np.float32))["t_hit"].numpy()
        # The directions have z-depth 1, so the distance along them is the z-depth.
        return np.where(np.isfinite(hit), hit, 0.0).reshape(camera.height, camera.width)


def visible_depth(mesh_depth: np.ndarray, nerf_depth: np.ndarray) -> np.ndarray:
    """The mesh's z-depth where the NeRF sees the same surface (within DEPTH_AGREEMENT), else 0 (nothing
    to sample): something the mesh lacks in front of it, or a floater, or nothing at all."""
    nerf_depth = np.asarray(nerf_depth, np.float64).reshape(mesh_depth.shape)
    agree = np.abs(nerf_depth - mesh_depth) <= DEPTH_AGREEMENT * mesh_depth
    return np.where((mesh_depth > 0) & agree, mesh_depth, 0.0)


def bake_atlas(atlas: UVAtlas, views: list[BakeView], texture_size: int) -> TexturedMesh:
    """The texture of `atlas` from linear-colour views whose depth is the mesh's own."""
    texels = rasterise_uv(atlas.vertices[atlas.faces], atlas.uvs[atlas.faces], texture_size)
    baked = texture_image(texels, gather(texels, views))
    return TexturedMesh(atlas.vertices, atlas.faces, atlas.uvs, linear_to_srgb(baked.image), baked.seen_share)


def textured_mesh(
    vertices: np.ndarray, faces: np.ndarray, views: Iterable[SurfaceView], texture_size: int
) -> TexturedMesh:
    """`vertices` and `faces` (the TSDF mesh, reduced) unwrapped and baked from the renders `views` (lit
    colour: no light maps)."""
    atlas = unwrap(vertices, faces, texture_size)
    depth = MeshDepth(vertices, faces)
    baked = []
    for view in views:
        seen = visible_depth(depth(view.camera), view.render.depth)
        baked.append(
            bake_view(ViewInputs(view.camera, seen, None), view.render.rgb, view.render.accumulation)
        )
    return bake_atlas(atlas, baked, texture_size)
