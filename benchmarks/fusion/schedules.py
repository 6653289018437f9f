"""The edit schedules the benchmark compares, as the engine's EditParams.

All schedules get the same NeRF steps; "sweep" is given the same editor-call rate as "rolling" (a sweep of
all N views every `edit_rate * N / edit_count` steps) so that the two differ only in *when* the edits come,
not in how many. Instruct-GS2GS sweeps every 2,500 steps of a 15k-step edit; scaled to a short CPU run this
keeps its character (all views at once, then plain training) at the original's budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from in2n_server.engine.types import EditParams

SCHEDULE_NAMES = ("rolling", "sweep", "once")
"""In report order; "rolling" (the original in2n's) is the default until the figures say otherwise."""

DESCRIPTIONS = {
    "rolling": "one view every 10 steps, views in a fresh shuffled order each cycle (in2n)",
    "sweep": "every view at once, every 10·N steps (Instruct-GS2GS, at in2n's edit budget)",
    "once": "every view edited once at the start, then plain training (the baseline in2n beats)",
}


@dataclass(frozen=True)
class FusionConfig:
    """The training side of the benchmark: tier, step counts and how often quality is measured."""

    tier: str = "in2n-cpu"
    """The engine's preset tier (the CPU one by default)."""
    base_steps: int = 200
    """Steps of the base reconstruction on the original images (shared by all schedules of a scene)."""
    edit_steps: int = 300
    """Steps of the edit phase, the same for every schedule."""
    eval_every: int = 50
    """Held-out quality is measured every this many edit steps (and at step 0)."""
    edit_rate: int = 10
    """in2n's edit rate: one editor call every this many steps (rolling)."""
    seed: int = 0
    device: str = "cpu"
    instruction: str = "apply the reference edit"
    """Passed to the editor (the reference editor ignores it)."""


def schedule_params(name: str, num_views: int, config: FusionConfig) -> EditParams:
    """EditParams for schedule `name` on a scene with `num_views` training views."""
    if name not in SCHEDULE_NAMES:
        raise ValueError(f"schedule: expected one of {SCHEDULE_NAMES}, got {name!r}")
    return EditParams(
        instruction=config.instruction,
        tier=config.tier,
        seed=config.seed,
        base_iterations=config.base_steps,
        edit_iterations=config.edit_steps,
        edit_rate=config.edit_rate,
        edit_count=1,
        schedule=name,
        sweep_every=config.edit_rate * num_views,
        optimize_cameras=False,  # exact Blender cameras, as the extension sends them
    )
