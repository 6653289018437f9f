"""Which training views to edit at which step of the edit phase.

The paper visits the views in random order; the original code walked them in dataset order. Here each
cycle through the dataset is a fresh permutation drawn from a seeded generator, and the schedule's whole
state (permutation, position, generator) is saved with checkpoints so a resumed job continues exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from blender_in2n.wire import SCHEDULES

__all__ = ["SCHEDULES", "EditSchedule"]


@dataclass
class EditSchedule:
    """`views_to_edit(edit_step)` lists the views to edit before the NeRF step `edit_step` of the edit phase.

    - rolling: `edit_count` views every `edit_rate` steps (the original in2n);
    - sweep: every view every `sweep_every` steps (Instruct-GS2GS);
    - once: every view at the first step, never again (the "edit the dataset, then train" baseline).
    """

    num_views: int
    kind: str = "rolling"
    edit_rate: int = 10
    edit_count: int = 1
    sweep_every: int = 2500
    seed: int = 0
    queue: list[int] = field(default_factory=list)
    cycles: int = 0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.kind!r}")
        if self.num_views < 1:
            raise ValueError("the dataset has no views")
        for name in ("edit_rate", "edit_count", "sweep_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def _permutation(self, cycle: int) -> list[int]:
        # Each cycle's order depends only on (seed, cycle): resuming never needs a saved RNG state.
        return [int(v) for v in np.random.default_rng([self.seed, cycle]).permutation(self.num_views)]

    def _next_view(self) -> int:
        if not self.queue:
            self.queue = self._permutation(self.cycles)
            self.cycles += 1
        return self.queue.pop(0)

    def views_to_edit(self, edit_step: int) -> list[int]:
        if self.kind == "rolling":
            if edit_step % self.edit_rate != 0:
                return []
            return [self._next_view() for _ in range(min(self.edit_count, self.num_views))]
        if self.kind == "sweep":
            return (
                self._permutation(edit_step // self.sweep_every) if edit_step % self.sweep_every == 0 else []
            )
        return self._permutation(0) if edit_step == 0 else []

    def state_dict(self) -> dict:
        return {"queue": list(self.queue), "cycles": self.cycles}

    def load_state_dict(self, state: dict) -> None:
        self.queue = [int(v) for v in state["queue"]]
        self.cycles = int(state["cycles"])
