"""A datamanager that holds every training image in memory, next to an untouched copy of the originals.

The Iterative Dataset Update overwrites training images in place, so the images rays are sampled from
must be one mutable tensor, and the originals (IP2P's conditioning) must never change. Images are read
in this process: on a two-core machine, nerfstudio's loader worker processes only compete with training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from nerfstudio.cameras.cameras import Cameras
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManager, VanillaDataManagerConfig
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.model_components.ray_generators import RayGenerator


@dataclass
class In2NDataManagerConfig(VanillaDataManagerConfig):
    """All images cached; every image is a training image (an edit has no held-out views)."""

    _target: type = field(default_factory=lambda: In2NDataManager)
    dataparser: NerfstudioDataParserConfig = field(
        default_factory=lambda: NerfstudioDataParserConfig(
            eval_mode="all", downscale_factor=1, load_3D_points=False
        )
    )
    """Reads the prepared dataset (see engine/dataset.py): already downscaled, RGB, per-frame intrinsics."""
    images_on_device: bool = True
    """Keep the current training images on the training device (the originals stay on the CPU)."""


class In2NDataManager(VanillaDataManager):
    config: In2NDataManagerConfig

    def _load_all_images(self) -> torch.Tensor:
        images = [self.train_dataset.get_image_float32(i)[..., :3] for i in range(len(self.train_dataset))]
        return torch.stack(images)  # [N, H, W, 3]

    def setup_train(self) -> None:
        originals = self._load_all_images()
        self.original_images = originals.contiguous()  # never written after this point
        device = self.device if self.config.images_on_device else "cpu"
        self.image_batch = {
            "image": originals.clone().to(device),
            "image_idx": torch.arange(len(originals)),
        }
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

    def replace_image(self, index: int, image: torch.Tensor) -> None:
        """Write an edited view into the training set (the originals are untouched)."""
        target = self.image_batch["image"]
        if image.shape != target.shape[1:]:
            raise ValueError(
                f"edited image has shape {tuple(image.shape)}, expected {tuple(target.shape[1:])}"
            )
        target[index] = image.to(target.device, target.dtype)
