"""Which views the IDU edits, and that a resumed schedule continues exactly."""

from __future__ import annotations

import pytest

from in2n_server.engine.schedule import EditSchedule, NoiseAnneal


def _edits(schedule: EditSchedule, steps: range) -> list[list[int]]:
    return [schedule.views_to_edit(step) for step in steps]


def test_rolling_edits_one_view_every_rate_steps_in_fresh_shuffled_cycles() -> None:
    schedule = EditSchedule(num_views=8, kind="rolling", edit_rate=10, edit_count=1, seed=3)
    edits = _edits(schedule, range(0, 160))
    assert all(edits[step] == [] for step in range(160) if step % 10)
    order = [views[0] for views in edits if views]
    first, second = order[:8], order[8:16]
    assert sorted(first) == list(range(8)) and sorted(second) == list(range(8))  # every view once per cycle
    assert first != list(range(8))  # not dataset order
    assert first != second  # reshuffled each cycle


def test_rolling_edit_count_takes_several_views_per_edit_step() -> None:
    schedule = EditSchedule(num_views=6, kind="rolling", edit_rate=5, edit_count=3, seed=0)
    first = schedule.views_to_edit(0)
    assert len(first) == 3
    assert schedule.views_to_edit(1) == []
    assert sorted(first + schedule.views_to_edit(5)) == list(range(6))  # one cycle = every view once


def test_schedule_state_round_trip_continues_identically() -> None:
    uninterrupted = EditSchedule(num_views=7, seed=11)
    reference = [uninterrupted.views_to_edit(step) for step in range(0, 200, 10)]

    first = EditSchedule(num_views=7, seed=11)
    head = [first.views_to_edit(step) for step in range(0, 90, 10)]
    resumed = EditSchedule(num_views=7, seed=11)
    resumed.load_state_dict(first.state_dict())
    tail = [resumed.views_to_edit(step) for step in range(90, 200, 10)]
    assert head + tail == reference


def test_sweep_edits_every_view_at_the_interval() -> None:
    schedule = EditSchedule(num_views=5, kind="sweep", sweep_every=100)
    assert sorted(schedule.views_to_edit(0)) == list(range(5))
    assert schedule.views_to_edit(50) == []
    assert sorted(schedule.views_to_edit(200)) == list(range(5))


def test_once_edits_everything_at_the_start_only() -> None:
    schedule = EditSchedule(num_views=4, kind="once")
    assert sorted(schedule.views_to_edit(0)) == [0, 1, 2, 3]
    assert all(schedule.views_to_edit(step) == [] for step in range(1, 50))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"kind": "random"}, "schedule"), ({"edit_rate": 0}, "edit_rate"), ({"num_views": 0}, "no views")],
)
def test_bad_schedules_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EditSchedule(**{"num_views": 3, **kwargs})


def test_annealed_bound_falls_from_start_to_end_and_stays() -> None:
    anneal = NoiseAnneal(start=0.98, end=0.3, edit_steps=101, floor=0.02, shape="linear")
    bounds = [anneal.upper_bound_at(step) for step in range(0, 150)]
    assert bounds[0] == pytest.approx(0.98) and bounds[100] == pytest.approx(0.3)
    assert bounds[50] == pytest.approx(0.64)  # linear: halfway at half the phase
    assert all(a >= b for a, b in zip(bounds, bounds[1:], strict=False))  # never rises
    assert bounds[149] == pytest.approx(0.3)  # past the phase it stays at the end point


def test_cosine_annealing_keeps_high_noise_longer_and_floor_holds() -> None:
    linear = NoiseAnneal(start=0.9, end=0.1, edit_steps=11, shape="linear")
    cosine = NoiseAnneal(start=0.9, end=0.1, edit_steps=11, shape="cosine")
    assert cosine.upper_bound_at(2) > linear.upper_bound_at(2)
    assert cosine.upper_bound_at(5) == pytest.approx(linear.upper_bound_at(5))
    assert NoiseAnneal(start=0.9, end=0.0, edit_steps=11, floor=0.2).upper_bound_at(10) == 0.2


def test_no_end_point_keeps_the_bound_constant() -> None:
    anneal = NoiseAnneal(start=0.98, end=None, edit_steps=100)
    assert {anneal.upper_bound_at(step) for step in range(100)} == {0.98}


@pytest.mark.parametrize(("kwargs", "message"), [({"shape": "cubic"}, "shape"), ({"end": 1.5}, "end")])
def test_bad_anneals_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NoiseAnneal(**{"start": 0.9, "end": 0.2, "edit_steps": 10, **kwargs})
