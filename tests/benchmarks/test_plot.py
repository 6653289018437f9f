"""The benchmark's plot: schedules stay apart at a glance."""

from __future__ import annotations

from benchmarks.fusion.plot import COLORS
from benchmarks.fusion.schedules import SCHEDULE_NAMES


def test_every_schedule_has_its_own_colour() -> None:
    assert set(COLORS) == set(SCHEDULE_NAMES)
    assert len(set(COLORS.values())) == len(SCHEDULE_NAMES)
