"""The in2n tiers as nerfstudio methods (`ns-train in2n`, `in2n-small`, `in2n-tiny`, `in2n-cpu`).

Each tier is `dataclasses.replace` of one base config, so the tiers differ only where they should:
- in2n: full-precision editor, patch LPIPS, 16384 rays per step (a 24 GB GPU);
- in2n-small: the same with an fp16 editor;
- in2n-tiny: fp16 editor, no LPIPS, 4096 rays (fits smaller GPUs);
- in2n-cpu: a tiny NeRF and 512 rays, mixed precision off: for tests and demos on a CPU.
"""

from __future__ import annotations

import copy
import dataclasses

from nerfstudio.cameras.camera_optimizers import CameraOptimizerConfig
from nerfstudio.configs.base_config import ViewerConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.plugins.types import MethodSpecification

from in2n_protocol.wire import TIERS

from .datamanager import In2NDataManagerConfig
from .model import In2NModelConfig
from .pipeline import In2NPipelineConfig

__all__ = ["TIERS", "tier_config"]


def _optimizers(max_steps: int) -> dict:
    def adam(lr: float, lr_final: float, steps: int) -> dict:
        return {
            "optimizer": AdamOptimizerConfig(lr=lr, eps=1e-15),
            "scheduler": ExponentialDecaySchedulerConfig(lr_final=lr_final, max_steps=steps),
        }

    return {
        "proposal_networks": adam(1e-2, 1e-4, max_steps),
        "fields": adam(1e-2, 1e-4, max_steps),
        "camera_opt": adam(1e-3, 1e-4, 5000),
    }


def _base_config() -> TrainerConfig:
    return TrainerConfig(
        method_name="in2n",
        steps_per_eval_batch=1000,
        steps_per_eval_image=1000,
        steps_per_save=250,
        max_num_iterations=15000,
        save_only_latest_checkpoint=True,
        mixed_precision=True,
        pipeline=In2NPipelineConfig(
            datamanager=In2NDataManagerConfig(
                train_num_rays_per_batch=16384, eval_num_rays_per_batch=4096, patch_size=32
            ),
            model=In2NModelConfig(
                eval_num_rays_per_chunk=1 << 15,
                use_lpips=True,
                camera_optimizer=CameraOptimizerConfig(mode="SO3xR3"),
            ),
        ),
        optimizers=_optimizers(30000),
        viewer=ViewerConfig(num_rays_per_chunk=1 << 15),
        vis="viewer",
    )


def _replace_pipeline(
    config: TrainerConfig, method_name: str, *, datamanager=None, model=None, **pipeline
) -> TrainerConfig:
    new_pipeline = dataclasses.replace(
        config.pipeline,
        datamanager=datamanager or copy.deepcopy(config.pipeline.datamanager),
        model=model or copy.deepcopy(config.pipeline.model),
        **pipeline,
    )
    return dataclasses.replace(config, method_name=method_name, pipeline=new_pipeline)


def tier_config(tier: str) -> TrainerConfig:
    """A fresh (deep-copied) TrainerConfig of a tier."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
    base = _base_config()
    if tier == "in2n":
        return base
    if tier == "in2n-small":
        return _replace_pipeline(base, tier, ip2p_half_precision=True)
    no_lpips = dataclasses.replace(base.pipeline.model, use_lpips=False)
    if tier == "in2n-tiny":
        datamanager = dataclasses.replace(
            base.pipeline.datamanager, train_num_rays_per_batch=4096, patch_size=1
        )
        return _replace_pipeline(
            base, tier, datamanager=datamanager, model=no_lpips, ip2p_half_precision=True
        )
    # in2n-cpu: small enough that a step takes a fraction of a second on two CPU cores.
    datamanager = dataclasses.replace(
        base.pipeline.datamanager, train_num_rays_per_batch=512, eval_num_rays_per_batch=512, patch_size=1
    )
    model = dataclasses.replace(
        no_lpips,
        implementation="torch",
        eval_num_rays_per_chunk=4096,
        hidden_dim=32,
        hidden_dim_color=32,
        num_levels=8,
        max_res=256,
        log2_hashmap_size=14,
        num_nerf_samples_per_ray=24,
        num_proposal_samples_per_ray=(48, 24),
        proposal_net_args_list=[
            {"hidden_dim": 16, "log2_hashmap_size": 14, "num_levels": 5, "max_res": 64, "use_linear": False},
            {"hidden_dim": 16, "log2_hashmap_size": 14, "num_levels": 5, "max_res": 128, "use_linear": False},
        ],
    )
    config = _replace_pipeline(base, tier, datamanager=datamanager, model=model)
    return dataclasses.replace(
        config, mixed_precision=False, max_num_iterations=2000, optimizers=_optimizers(5000)
    )


def _method(tier: str, description: str) -> MethodSpecification:
    return MethodSpecification(config=tier_config(tier), description=description)


in2n_method = _method(
    "in2n", "Instruct-NeRF2NeRF: full-precision editor, patch LPIPS (about 24 GB of GPU memory)."
)
in2n_small_method = _method("in2n-small", "Instruct-NeRF2NeRF with an fp16 editor (about 12 GB).")
in2n_tiny_method = _method(
    "in2n-tiny", "Instruct-NeRF2NeRF: fp16 editor, no LPIPS, fewer rays (about 10 GB)."
)
in2n_cpu_method = _method("in2n-cpu", "Instruct-NeRF2NeRF preset small enough for CPU tests and demos.")
