"""A datamanager that holds every training image in memory, next to an untouched copy of the originals.

The Iterative Dataset Update overwrites training images in place, so the images rays are sampled from
must be one mutable tensor, and the originals (IP2P's conditioning) must never change. Images are read
in this process: on a two-core machine, nerfstudio's loader worker processes only compete with training.

RGBA datasets keep their alpha (4 channels: nerfstudio's "random" background then trains empty space
empty), and exact depth maps ride along as `depth_image` (z-depth in nerfstudio's normalised units, 0 where
no surface was hit), sampled with the same pixels as the colours. Each view's grow region (where its edit may
change the silhouette, engine/edit_alpha.py) rides along too, as `DEPTH_RELEASED_KEY`: the depth loss lets
those pixels go (engine/model.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from nerfstudio.cameras.cameras import Cameras
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManager, VanillaDataManagerConfig
from nerfstudio.model_components.ray_generators import RayGenerator
from PIL import Image

from .dataparser import In2NDataParserConfig
from .dataset import DEPTH_KEY, MASK_KEY, MASKS_MISSING
from .depth_maps import read_depth_map
from .edit_alpha import key_edit, over_background, reshaped
from .model import ALPHA_FREE_KEY, DEPTH_RELEASED_KEY
from .moved_surface import moved_pixels
from .regions import GrowRegion
from .types import CameraSpec


@dataclass
class In2NDataManagerConfig(VanillaDataManagerConfig):
    """All images cached; every image is a training image (an edit has no held-out views)."""

    _target: type = field(default_factory=lambda: In2NDataManager)
    dataparser: In2NDataParserConfig = field(
        default_factory=lambda: In2NDataParserConfig(
            eval_mode="all", downscale_factor=1, load_3D_points=False
        )
    )
    """Reads the prepared dataset (see engine/dataset.py): already downscaled, per-frame intrinsics."""
    images_on_device: bool = True
    """Keep the current training images on the training device (the originals stay on the CPU)."""


class In2NDataManager(VanillaDataManager):
    config: In2NDataManagerConfig

    def _load_all_images(self) -> torch.Tensor:
        images = [self.train_dataset.get_image_float32(i) for i in range(len(self.train_dataset))]
        return torch.stack(images)  # [N, H, W, 3 or 4]

    def _view_files(self, key: str) -> tuple[Path, list[str | None]]:
        """The dataset folder and each training view's file under `key` (None where a view has none), in
        the dataparser's order (it sorts the frames by image name)."""
        dataset_dir = Path(self.config.dataparser.data)
        meta = json.loads((dataset_dir / "transforms.json").read_text(encoding="utf-8"))
        file_of = {Path(f["file_path"]).name: f.get(key) for f in meta["frames"]}
        return dataset_dir, [file_of.get(Path(p).name) for p in self.train_dataparser_outputs.image_filenames]

    def _load_depths(self) -> torch.Tensor | None:
        """Every view's z-depth in nerfstudio's units [N, H, W, 1], or None when the dataset has none."""
        outputs = self.train_dataparser_outputs
        dataset_dir, names = self._view_files(DEPTH_KEY)
        if not any(names):
            return None
        height, width = self.original_images.shape[1:3]
        depths = torch.zeros(len(names), height, width, 1)
        for index, name in enumerate(names):
            if name:  # views without depth keep 0 (no supervision)
                depth = read_depth_map(dataset_dir / name) * float(outputs.dataparser_scale)
                depths[index, ..., 0] = torch.from_numpy(np.ascontiguousarray(depth))
        return depths

    def _load_masks(self) -> torch.Tensor | None:
        """Every view's edit mask [N, H, W, 1] in [0, 1] (the selected objects), or None without masks."""
        dataset_dir, names = self._view_files(MASK_KEY)
        if not all(names):
            return None
        masks = []
        for name in names:
            with Image.open(dataset_dir / name) as mask:
                masks.append(torch.from_numpy(np.asarray(mask.convert("L"), np.float32) / 255.0))
        return torch.stack(masks)[..., None]

    def edit_mask(self, index: int) -> torch.Tensor:
        """View `index`'s edit mask [H, W, 1]; ValueError when the dataset has none."""
        if self.edit_masks is None:
            raise ValueError(MASKS_MISSING)
        return self.edit_masks[index]

    @property
    def has_alpha(self) -> bool:
        return int(self.original_images.shape[-1]) == 4

    def setup_train(self) -> None:
        originals = self._load_all_images()
        self.original_images = originals.contiguous()  # never written after this point
        device = self.device if self.config.images_on_device else "cpu"
        self.image_batch = {
            "image": originals.clone().to(device),
            "image_idx": torch.arange(len(originals)),
        }
        self.edit_masks = self._load_masks()  # on the CPU: read once per edit, never sampled by rays
        # Where each edited view may change its silhouette ([N, H, W, 1] bool; nowhere until edited).
        self.grow_regions = torch.zeros(*originals.shape[:3], 1, dtype=torch.bool, device=device)
        # Edited pixels whose opacity the edit left undecided ([N, H, W, 1] bool; engine/edit_alpha.py).
        self.alpha_free = torch.zeros_like(self.grow_regions)
        # Where an edited view's shape changed, so its captured depth no longer holds (edit_alpha.reshaped).
        self.depth_released = torch.zeros_like(self.grow_regions)
        # Where an edited view's surface moved inside its silhouette (engine/moved_surface.py; part of the
        # release above, and what the sparsity prior's hull is built from, engine/edit_hull.py).
        self.moved_surface = torch.zeros_like(self.grow_regions)
        if self.has_alpha:
            self.image_batch[ALPHA_FREE_KEY] = self.alpha_free
        depths = self._load_depths()
        if depths is not None:
            self.image_batch["depth_image"] = depths.to(device)
            self.image_batch[DEPTH_RELEASED_KEY] = self.depth_released
        self.train_pixel_sampler = self._get_pixel_sampler(
            self.train_dataset, self.config.train_num_rays_per_batch
        )
        self.train_ray_generator = RayGenerator(self.train_dataset.cameras.to(self.device))

    def setup_eval(self) -> None:
        # Evaluation looks at the same (current) images: an edit has no held-out ground truth.
        self.eval_pixel_sampler = self._get_pixel_sampler(
            self.train_dataset, self.config.eval_num_rays_per_batch
        )
        self.eval_ray_generator = RayGenerator(self.train_dataset.cameras.to(self.device))
        self._eval_generator = torch.Generator().manual_seed(0)

    @property
    def num_images(self) -> int:
        return int(self.image_batch["image"].shape[0])

    def next_train(self, step: int) -> tuple[RayBundle, dict]:
        self.train_count += 1
        batch = self.train_pixel_sampler.sample(self.image_batch)
        return self.train_ray_generator(batch["indices"]), batch

    def next_eval(self, step: int) -> tuple[RayBundle, dict]:
        self.eval_count += 1
        batch = self.eval_pixel_sampler.sample(self.image_batch)
        return self.eval_ray_generator(batch["indices"]), batch

    def next_eval_image(self, step: int) -> tuple[Cameras, dict]:
        index = int(torch.randint(self.num_images, (1,), generator=self._eval_generator))
        return self.training_camera(index), {"image": self.image_batch["image"][index], "image_idx": index}

    def training_camera(self, index: int) -> Cameras:
        """The dataset camera `index` (nerfstudio frame), tagged so the camera optimizer can correct it."""
        camera = self.train_dataset.cameras[index : index + 1].to(self.device)
        camera.metadata = {"cam_idx": index}
        return camera

    def current_image(self, index: int) -> torch.Tensor:
        return self.image_batch["image"][index]

    def original_image(self, index: int) -> torch.Tensor:
        return self.original_images[index]

    def grow_region(self, index: int) -> torch.Tensor:
        """[H, W] bool: where view `index`'s edit may have changed its silhouette (nowhere until edited)."""
        return self.grow_regions[index, ..., 0]

    def set_grow_region(self, index: int, grow: GrowRegion) -> None:
        """Record view `index`'s grow region, and release its depth where its stored edit changed shape
        (call after the edit and its alpha-free pixels are stored)."""
        self.grow_regions[index, ..., 0] = grow.region().to(self.grow_regions.device)
        released = reshaped(
            self.original_images[index, ..., 3],
            self.current_image(index)[..., 3].cpu(),
            self.alpha_free_pixels(index).cpu(),
            grow,
        )
        self.depth_released[index, ..., 0] = released.to(self.depth_released.device)

    def release_moved_depth(self, index: int, cameras: Sequence[CameraSpec], partners: Sequence[int]) -> None:
        """Find where view `index`'s edited surface moved inside an unchanged silhouette, within its recorded
        grow region, judged against the `partners`' current images (engine/moved_surface.py; `cameras` in
        the depth maps' frame, one per view), record it, and release the depth there too."""
        depths = self.image_batch.get("depth_image")
        region = self.grow_region(index).cpu()
        self.moved_surface[index] = False
        if depths is None or not self.has_alpha or not region.any():
            return
        candidates = (
            region
            & (self.original_images[index, ..., 3] > 0)
            & (self.current_image(index)[..., 3].cpu() >= 0.5)
        )
        moved = moved_pixels(
            self._over_white(index),
            depths[index, ..., 0].float().cpu(),
            cameras[index],
            candidates,
            [self._over_white(j) for j in partners],
            [cameras[j] for j in partners],
        )
        self.moved_surface[index, ..., 0] = moved.to(self.moved_surface.device)
        self.depth_released[index, ..., 0] |= self.moved_surface[index, ..., 0]

    def _over_white(self, index: int) -> torch.Tensor:
        """View `index`'s current image over the editor's background ([H, W, 3], on the CPU)."""
        image = self.current_image(index).float().cpu()
        return over_background(image[..., :3], image[..., 3:], premultiplied=False)

    def moved_surface_pixels(self, index: int) -> torch.Tensor:
        """[H, W] bool: where view `index`'s edited surface moved inside its silhouette (last judged)."""
        return self.moved_surface[index, ..., 0]

    def depth_released_pixels(self, index: int) -> torch.Tensor:
        """[H, W] bool: where view `index`'s depth loss lets go (its edit changed the shape there)."""
        return self.depth_released[index, ..., 0]

    def alpha_free_pixels(self, index: int) -> torch.Tensor:
        """[H, W] bool: view `index`'s pixels whose opacity its edit left undecided (engine/edit_alpha.py)."""
        return self.alpha_free[index, ..., 0]

    def set_alpha_free(self, index: int, pixels: torch.Tensor) -> None:
        self.alpha_free[index, ..., 0] = pixels.to(self.alpha_free.device).bool()

    def replace_image(self, index: int, image: torch.Tensor, grow: GrowRegion | None = None) -> None:
        """Write an edited view into the training set (the originals are untouched).

        An RGB edit of an RGBA dataset keeps the original view's alpha outside the region of `grow` (None:
        everywhere), so it can never fill empty space there and bring back fog in front of the cameras;
        inside it, the edit's alpha is keyed (engine/edit_alpha.py), and the region, the alpha-free pixels and
        where the depth lets go are recorded. Without `grow` the view has none of them (a resumed session
        restores them after: `set_alpha_free`, then `set_grow_region`).
        """
        target = self.image_batch["image"]
        free = torch.zeros(image.shape[:2], dtype=torch.bool)
        if image.shape[-1] == 3 and target.shape[-1] == 4:
            original = self.original_images[index].to(image.device, image.dtype)
            if grow is None:
                image = torch.cat([image, original[..., 3:]], dim=-1)
            else:
                image, free = key_edit(original, image, grow)
        if image.shape != target.shape[1:]:
            raise ValueError(
                f"edited image has shape {tuple(image.shape)}, expected {tuple(target.shape[1:])}"
            )
        target[index] = image.to(target.device, target.dtype)
        self.set_alpha_free(index, free)
        if grow is not None:
            self.set_grow_region(index, grow)
        else:
            self.grow_regions[index] = False
            self.depth_released[index] = False
            self.moved_surface[index] = False
