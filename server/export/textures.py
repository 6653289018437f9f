"""The `textures` export: the edited scene baked into the UV maps of the artist's own objects.

For each object of the scene's surfaces (the capture's selected objects), every texel inside its UV
triangles is mapped to its 3D point and coloured from the NeRF's renders at the training cameras that see
it (`texture_bake`). Visibility comes from exact geometry when the capture carried depth, else from the
NeRF's depth. With light maps (a Cycles capture), each view's colour is turned into the albedo Blender's
lights expect before averaging: (C - glossy) / diffuse light, in linear light (Cycles composes the diffuse
part of a pixel as DiffCol x (DiffDir + DiffInd): ../shared/notes/texture-bake.md), so the texture is lit
once, by the scene, not twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.dataset import DEPTH_KEY, has_lights, read_transforms
from ..engine.depth_maps import read_depth_map
from ..engine.light_maps import DIFFUSE, GLOSSY, LIGHT_KEY, read_light_map
from ..engine.surfaces import SURFACES_KEY, Surface, read_surfaces
from ..engine.types import CameraSpec
from ..engine.workdir import dataset_dir
from .backproject import MIN_ACCUMULATION
from .errors import SurfacesMissingError
from .texture_bake import BakeView, gather, linear_to_srgb, rasterise_uv, srgb_to_linear, texture_image

SURFACES_NEEDED = (
    "this scene carries no surfaces to bake textures into; capture it in Blender with 'Capture for "
    "Textures' (the selected objects' meshes and UV maps), or export a mesh instead"
)
LIGHT_RELIABLE = 0.05
"""Diffuse light (linear luminance) above which a pixel's albedo is fully trusted; darker pixels (shadow)
count less, since dividing by little light amplifies every error."""
LUMINANCE = np.array([0.2126, 0.7152, 0.0722])


@dataclass(frozen=True)
class ObjectTexture:
    """One object's baked texture (sRGB, [size, size, 3] in [0, 1]) and how it was filled."""

    name: str
    image: np.ndarray
    triangles: int
    texels: int
    seen_share: float
    filled_share: float
    visible_seen_share: float
    outside_uv_share: float


@dataclass(frozen=True)
class Textures:
    size: int
    lighting: str  # "removed" (light maps) or "baked_in"
    objects: list[ObjectTexture] = field(default_factory=list)


def textures(session: Any, texture_size: int) -> Textures:
    """Bake every object of `session`'s surfaces; SurfacesMissingError when the scene has none."""
    folder = dataset_dir(session.workdir)
    meta = read_transforms(folder)
    if meta.get(SURFACES_KEY) is None:
        raise SurfacesMissingError(SURFACES_NEEDED)
    surfaces = read_surfaces(folder / meta[SURFACES_KEY])
    views = bake_views(session, view_inputs(folder, meta))
    lighting = "removed" if has_lights(meta) else "baked_in"
    return Textures(
        texture_size, lighting, [bake_object(surface, views, texture_size) for surface in surfaces]
    )


def bake_object(surface: Surface, views: list[BakeView], texture_size: int) -> ObjectTexture:
    texels = rasterise_uv(surface.positions, surface.uvs, texture_size)
    baked = texture_image(texels, gather(texels, views))
    return ObjectTexture(
        surface.name,
        linear_to_srgb(baked.image),
        surface.triangles,
        texels.count,
        baked.seen_share,
        baked.filled_share,
        baked.visible_seen_share,
        texels.outside_uv_share,
    )


@dataclass(frozen=True)
class ViewInputs:
    """What a captured view gives the bake besides its colour: the camera, the capture's own depth
    (exact for Blender renders; None without) and its light map (None without)."""

    camera: CameraSpec
    depth: np.ndarray | None
    light: np.ndarray | None


def view_inputs(folder: Path, meta: dict[str, Any]) -> list[ViewInputs]:
    """Every view of a prepared dataset (or of a capture folder), in its frames' order."""
    views = []
    for frame in meta["frames"]:
        camera = CameraSpec.from_wire(frame)
        light = read_light_map(folder / frame[LIGHT_KEY]) if LIGHT_KEY in frame else None
        views.append(ViewInputs(camera, exact_depth(folder, frame, camera), light))
    return views


def bake_view(
    inputs: ViewInputs, rgb: np.ndarray, coverage: np.ndarray, depth: np.ndarray | None = None
) -> BakeView:
    """A view to bake from its sRGB colour and coverage (alpha, or the NeRF's opacity): linear colour,
    the albedo when the view has a light map, and the capture's depth (else `depth`, e.g. the NeRF's)."""
    colour = srgb_to_linear(rgb)
    reliability = np.clip(np.asarray(coverage, np.float64), 0.0, 1.0)
    reliability = np.where(reliability >= MIN_ACCUMULATION, reliability, 0.0)
    if inputs.light is not None:
        colour, trust = albedo(colour, inputs.light)
        reliability = reliability * trust
    exact = inputs.depth is not None
    if exact:
        depth = inputs.depth
    elif depth is None:
        raise ValueError("a view without the capture's depth needs a depth to test visibility against")
    else:
        depth = np.where(reliability > 0, depth, 0.0)
    return BakeView(inputs.camera, colour, depth, reliability, exact_depth=exact)


def bake_views(session: Any, views: Iterable[ViewInputs]) -> list[BakeView]:
    """The NeRF's render at each view's camera (`view_inputs` of the dataset), made into a view to bake."""
    baked = []
    for inputs in views:
        render = session.render(inputs.camera)
        baked.append(bake_view(inputs, render.rgb, render.accumulation, render.depth))
    return baked


def albedo(colour: np.ndarray, light: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear lit colour -> the albedo Cycles' lights turn back into it, and how far to trust each pixel."""
    diffuse = light[..., DIFFUSE].astype(np.float64)
    base = (colour - light[..., GLOSSY]) / np.maximum(diffuse, 1e-4)
    trust = np.clip((diffuse @ LUMINANCE) / LIGHT_RELIABLE, 0.0, 1.0)
    return np.clip(base, 0.0, 1.0), trust


def exact_depth(folder: Path, frame: dict[str, Any], camera: CameraSpec) -> np.ndarray | None:
    """The capture's own depth map of the view (exact for Blender renders), at the view's size."""
    relative = frame.get(DEPTH_KEY) or frame.get("depth_file_path")  # a prepared dataset, or a capture
    if relative is None:
        return None
    depth = read_depth_map(folder / relative)
    return depth if depth.shape == (camera.height, camera.width) else None
