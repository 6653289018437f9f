"""Fit a training phase's step count to its share of the time budget, and log its progress.

The CPU here is shared, so a fixed step count may take 2x or 8x longer than planned. A phase first times a
few steps, then fixes its total (never above the requested maximum) so that it ends within its share;
the learning-rate schedule is then set for that total. If the machine gets busier later, the phase
re-checks its pace every tenth of its steps and shrinks its total (never grows it) to stay in budget.
The chosen totals are recorded, so a run can be repeated exactly by passing them as the maximums with a
budget large enough that neither check cuts them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class Phase:
    """Step bookkeeping for one phase: `total` is final once `calibrated` is True."""

    name: str
    max_steps: int
    budget_s: float
    calibration_steps: int = 8
    total: int = 0
    calibrated: bool = False
    started: float = field(default_factory=time.monotonic)
    _calibration_start: float = 0.0
    _last_print: float = 0.0
    _window_start: tuple[int, float] = (0, 0.0)

    def __post_init__(self) -> None:
        self.total = self.max_steps

    def after_step(self, step: int, loss: float) -> None:
        """Call after each finished step (0-based); fixes `total` once the calibration steps have run."""
        now = time.monotonic()
        if step == 0:
            self._calibration_start = now
        elif not self.calibrated and step == self.calibration_steps:
            per_step = (now - self._calibration_start) / self.calibration_steps
            remaining = self.budget_s - (now - self.started)
            affordable = step + 1 + max(0, math.floor(remaining / per_step))
            self.total = max(step + 2, min(self.max_steps, affordable))
            self.calibrated = True
            self._window_start = (step, now)
            print(f"[{self.name}] {per_step:.3f} s/step: {self.total} steps", flush=True)
        elif self.calibrated and step - self._window_start[0] >= max(10, self.total // 10):
            self._shrink_if_late(step, now)
        if now - self._last_print > 30 or step == self.total - 1:
            self._last_print = now
            elapsed = now - self.started
            print(f"[{self.name}] step {step + 1}/{self.total} loss {loss:.4f} {elapsed:.0f} s", flush=True)

    def _shrink_if_late(self, step: int, now: float) -> None:
        """Cut the total if the recent pace would overrun the budget by more than 5%."""
        first_step, first_time = self._window_start
        per_step = (now - first_time) / (step - first_step)
        self._window_start = (step, now)
        projected = (now - self.started) + (self.total - step - 1) * per_step
        if projected > 1.05 * self.budget_s:
            remaining = self.budget_s - (now - self.started)
            self.total = max(step + 2, step + 1 + math.floor(max(0.0, remaining) / per_step))
            print(f"[{self.name}] slower now ({per_step:.3f} s/step): cut to {self.total} steps", flush=True)

    def lr_factor(self, step: int, warmup: int) -> float:
        """Linear warm-up then cosine decay to 5% over the (calibrated) total."""
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, self.total - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    def summary(self) -> dict[str, float]:
        return {"steps": self.total, "seconds": round(time.monotonic() - self.started, 1)}
