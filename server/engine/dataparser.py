"""nerfstudio's dataparser, plus what a bounded scene's known extent tells the NeRF.

When the prepared dataset records `in2n_bounds` (the box around the surfaces Blender's depth saw, or one
the user gave), that box, carried into nerfstudio's normalised frame, becomes the scene box: with scene
contraction off, the NeRF's density lives only there, so no view can paint its background as fog in front
of its camera, and the hash grid's resolution is spent on the objects. The cameras' distances to the box
become the near and far planes (`NEAR_FAR_KEY` in the outputs' metadata, read by the model).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import torch
from nerfstudio.data.dataparsers.base_dataparser import DataparserOutputs
from nerfstudio.data.dataparsers.nerfstudio_dataparser import Nerfstudio, NerfstudioDataParserConfig
from nerfstudio.data.scene_box import SceneBox

from .geometry import BOUNDS_KEY, check_bounds

NEAR_FAR_KEY = "in2n_near_far"
MIN_NEAR = 0.01
"""Nearest near plane, in nerfstudio's normalised units (cameras inside the box start here)."""


@dataclass
class In2NDataParserConfig(NerfstudioDataParserConfig):
    """nerfstudio's transforms.json reader; a recorded `in2n_bounds` sets the scene box and near/far."""

    _target: type = field(default_factory=lambda: In2NDataParser)


class In2NDataParser(Nerfstudio):
    config: In2NDataParserConfig

    def _generate_dataparser_outputs(self, split: str = "train", **kwargs) -> DataparserOutputs:
        outputs = super()._generate_dataparser_outputs(split, **kwargs)
        meta = json.loads((self.config.data / "transforms.json").read_text(encoding="utf-8"))
        if meta.get(BOUNDS_KEY) is None:
            return outputs
        bounds = check_bounds(meta[BOUNDS_KEY])
        box = scene_box_in_nerf_frame(bounds, outputs.dataparser_transform, outputs.dataparser_scale)
        origins = outputs.cameras.camera_to_worlds[:, :3, 3]
        metadata = {**outputs.metadata, NEAR_FAR_KEY: near_far(box, origins)}
        return dataclasses.replace(outputs, scene_box=SceneBox(aabb=box), metadata=metadata)


def scene_box_in_nerf_frame(
    bounds: dict[str, list[float]], transform: torch.Tensor, scale: float
) -> torch.Tensor:
    """The axis-aligned box [2, 3] in nerfstudio's frame that holds the scene-frame box's 8 corners."""
    lo, hi = torch.tensor(bounds["min"]), torch.tensor(bounds["max"])
    corners = torch.stack(
        [
            torch.where(torch.tensor([(i >> k) & 1 for k in range(3)], dtype=torch.bool), hi, lo)
            for i in range(8)
        ]
    )
    moved = (corners @ transform[:, :3].T.float() + transform[:, 3].float()) * scale
    return torch.stack([moved.min(dim=0).values, moved.max(dim=0).values])


def near_far(box: torch.Tensor, origins: torch.Tensor) -> tuple[float, float]:
    """Near: the closest any camera is to the box (minus a little); far: the farthest box corner."""
    outside = torch.clamp(torch.maximum(box[0] - origins, origins - box[1]), min=0.0)
    nearest = float(outside.norm(dim=-1).min())
    corner_offsets = torch.maximum((origins - box[0]).abs(), (origins - box[1]).abs())
    farthest = float(corner_offsets.norm(dim=-1).max())
    return max(MIN_NEAR, 0.9 * nearest), 1.05 * farthest
