"""The edit schedules the benchmark compares, as the engine's EditParams.

All schedules get the same NeRF steps. "sweep" is given the same editor-call rate as "rolling" (a sweep of
all N views every `edit_rate * N / edit_count` steps) so that the two differ only in *when* the edits come,
not in how many. Instruct-GS2GS sweeps every 2,500 steps of a 15k-step edit; scaled to a short CPU run this
keeps its character (all views at once, then plain training) at the original's budget.

"once" (every view edited once, then plain training) is the floor; "ceiling" trains on the edited scene's
own training views (the reference editor's exact targets, no degradation), which no editor can beat.
The others change one thing of "rolling" each, and "combined" joins the ones that work.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from in2n_protocol.edit_params import batched_edit_rate
from in2n_server.engine.types import EditParams


@dataclass(frozen=True)
class Variant:
    """One schedule of the benchmark: which views when, and how each edit is made."""

    description: str
    schedule: str = "rolling"
    """The engine's view schedule: rolling, sweep or once."""
    views_per_call: int = 1
    """Views per edit step (one batched editor call); the edit rate grows by the same factor, so the
    number of view edits stays rolling's."""
    anneal: bool = False
    scale_steps: bool = False
    warp_start: bool = False
    exact_edits: bool = False
    """The editor returns the edited scene's views exactly (the ceiling)."""


VARIANTS = {
    "rolling": Variant("one view every 10 steps, views in a fresh shuffled order each cycle (in2n)"),
    "sweep": Variant("every view at once, every 10·N steps (Instruct-GS2GS, at in2n's edit budget)", "sweep"),
    "once": Variant("every view edited once at the start, then plain training (the floor)", "once"),
    "ceiling": Variant(
        "the edited scene's training views, exact, once (the ceiling)", "once", exact_edits=True
    ),
    "annealed": Variant("rolling; the highest start noise falls linearly from 0.98 to 0.5", anneal=True),
    "fewer-steps": Variant("rolling; DDIM steps in proportion to the start noise", scale_steps=True),
    "batched": Variant("rolling; 4 views in one batched call every 40 steps", views_per_call=4),
    "batched-5": Variant("rolling; 5 views in one batched call every 50 steps", views_per_call=5),
    "batched-6": Variant("rolling; 6 views in one batched call every 60 steps", views_per_call=6),
    "warp": Variant(
        "rolling; each edit starts from the nearest edited view, warped by depth", warp_start=True
    ),
    "combined": Variant(
        "6 views per batched call every 60 steps + annealed + fewer steps",
        views_per_call=6,
        anneal=True,
        scale_steps=True,
    ),
    "combined+warp": Variant(
        "combined, each edit starting from the nearest edited view",
        views_per_call=6,
        anneal=True,
        scale_steps=True,
        warp_start=True,
    ),
}
SCHEDULE_NAMES = tuple(VARIANTS)
"""In report order; "rolling" (the original in2n's) is every other schedule's reference."""
DESCRIPTIONS = {name: variant.description for name, variant in VARIANTS.items()}


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
    anneal_to: float | None = None
    """End point of the annealed schedules (None: EditParams' default)."""
    seed: int = 0
    device: str = "cpu"
    instruction: str = "apply the reference edit"
    """Passed to the editor (the reference editor ignores it)."""


def schedule_params(name: str, num_views: int, config: FusionConfig) -> EditParams:
    """EditParams for schedule `name` on a scene with `num_views` training views."""
    if name not in VARIANTS:
        raise ValueError(f"schedule: expected one of {SCHEDULE_NAMES}, got {name!r}")
    variant = VARIANTS[name]
    params = EditParams(
        instruction=config.instruction,
        tier=config.tier,
        seed=config.seed,
        base_iterations=config.base_steps,
        edit_iterations=config.edit_steps,
        edit_rate=batched_edit_rate(config.edit_rate, variant.views_per_call),
        edit_count=variant.views_per_call,
        schedule=variant.schedule,
        sweep_every=config.edit_rate * num_views,
        anneal=variant.anneal,
        scale_steps=variant.scale_steps,
        warp_start=variant.warp_start,
        optimize_cameras=False,  # exact Blender cameras, as the extension sends them
    )
    if config.anneal_to is not None:
        params = dataclasses.replace(params, anneal_to=config.anneal_to)
    return params
