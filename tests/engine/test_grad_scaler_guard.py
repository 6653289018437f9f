"""The training step skips the schedulers when the grad scaler skipped the optimizers (nerfstudio's guard).

On the mixed-precision CUDA tiers an overflowing step is dropped by the GradScaler, which lowers its
scale; the learning-rate schedule must not advance for it. A real GradScaler (on the CPU, where it also
works) with real nerfstudio optimizers and schedulers drives `EditSession._train_iteration` here.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from nerfstudio.engine.optimizers import AdamOptimizerConfig, Optimizers
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig

from in2n_server.engine.session import EditSession, optimizer_stepped

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier


class OneParameterPipeline:
    """`loss = weight * factor`: a factor near float32's limit overflows once the scaler scales it."""

    def __init__(self) -> None:
        self.weight = torch.nn.Parameter(torch.ones(1))
        self.factor = 1.0

    def get_train_loss_dict(self, step: int) -> tuple[dict, dict, dict]:
        return {}, {"loss": (self.weight * self.factor).sum()}, {}


def stand_in_session() -> SimpleNamespace:
    pipeline = OneParameterPipeline()
    optimizers = Optimizers(
        {
            "fields": {
                "optimizer": AdamOptimizerConfig(lr=1e-2),
                "scheduler": ExponentialDecaySchedulerConfig(lr_final=1e-4, max_steps=100),
            }
        },
        {"fields": [pipeline.weight]},
    )
    return SimpleNamespace(
        callbacks=[],
        optimizers=optimizers,
        pipeline=pipeline,
        device=torch.device("cpu"),
        mixed_precision=False,  # no autocast on the CPU; the scaler alone is what is tested
        grad_scaler=torch.amp.GradScaler("cpu", init_scale=2.0**16, enabled=True),
        _step=0,
        _losses={},
    )


def test_an_overflowing_step_moves_neither_the_weights_nor_the_schedule() -> None:
    session = stand_in_session()
    scheduler = session.optimizers.schedulers["fields"]
    optimizer = session.optimizers.optimizers["fields"]

    EditSession._train_iteration(session, 0)  # a normal step: weights, schedule and scale move on
    assert scheduler.last_epoch == 1
    weight, lr = session.pipeline.weight.detach().clone(), optimizer.param_groups[0]["lr"]

    session.pipeline.factor = 1e36  # finite loss, but times the scale of 65536 it overflows
    EditSession._train_iteration(session, 1)
    assert session.grad_scaler.get_scale() == 2.0**15  # the scaler skipped the step and backed off
    assert torch.equal(session.pipeline.weight.detach(), weight)
    assert scheduler.last_epoch == 1 and optimizer.param_groups[0]["lr"] == lr

    session.pipeline.factor = 1.0
    EditSession._train_iteration(session, 2)
    assert scheduler.last_epoch == 2 and optimizer.param_groups[0]["lr"] < lr


@pytest.mark.parametrize(
    ("before", "after", "stepped"),
    [(65536.0, 65536.0, True), (65536.0, 131072.0, True), (65536.0, 32768.0, False), (1.0, 1.0, True)],
)
def test_the_decision(before: float, after: float, stepped: bool) -> None:
    assert optimizer_stepped(before, after) is stepped
