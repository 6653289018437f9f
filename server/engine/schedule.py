"""When the Iterative Dataset Update edits which views, and from how much noise.

- `EditSchedule`: which views to edit at each step of the edit phase. The paper visits the views in random
  order; the original code walked them in dataset order. Here each cycle through the dataset is a fresh
  permutation drawn from a seeded generator, and the schedule's whole state is saved with checkpoints so a
  resumed job continues exactly. Several views of one step go to the editor as one batch.
- `NoiseAnneal`: the highest start noise of an edit over the edit phase. Early edits must move the scene
  far (high noise); once the scene agrees with the edit, low noise refines it without redrawing it, which
  is what DreamCatalyst's annealing exploits. Its shape (`ANNEAL_SHAPE`) and the default end point
  (`EditParams.anneal_to`) are the fusion benchmark's choice (docs/benchmarks.md).

How many denoising steps an edit takes for its start noise is the editor's arithmetic
(editor/edit_math.py `steps_for_start`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from in2n_protocol.wire import SCHEDULES

__all__ = ["ANNEAL_SHAPES", "SCHEDULES", "EditSchedule", "NoiseAnneal"]

ANNEAL_SHAPES = ("linear", "cosine")
ANNEAL_SHAPE = "linear"
"""How the highest start noise falls from its start to its end value (chosen by the fusion benchmark)."""


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


@dataclass(frozen=True)
class NoiseAnneal:
    """`upper_bound_at(edit_step)`: the highest start noise of an edit at step `edit_step` of the edit phase.

    Falls from `start` (the job's upper_bound) at the first edit step to `end` at the last one, and stays
    there; `end=None` keeps it constant (the original in2n). Never below `floor` (the job's lower_bound), so
    the start-noise range is never empty.
    """

    start: float
    end: float | None
    edit_steps: int
    floor: float = 0.0
    shape: str | None = None
    """linear or cosine; None: ANNEAL_SHAPE (read when used, so the benchmark can compare shapes)."""

    def __post_init__(self) -> None:
        if self.shape is not None and self.shape not in ANNEAL_SHAPES:
            raise ValueError(f"anneal shape must be one of {', '.join(ANNEAL_SHAPES)}, got {self.shape!r}")
        for name in ("start", "end", "floor"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a noise fraction in [0, 1], got {value}")

    def upper_bound_at(self, edit_step: int) -> float:
        if self.end is None or self.edit_steps <= 1:
            return max(self.start, self.floor)
        progress = min(1.0, max(0.0, edit_step / (self.edit_steps - 1)))
        if (self.shape or ANNEAL_SHAPE) == "cosine":
            progress = 0.5 * (1.0 - math.cos(math.pi * progress))
        return max(self.floor, self.start + (self.end - self.start) * progress)
