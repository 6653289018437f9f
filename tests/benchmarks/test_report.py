"""Time-to-target: a schedule reaches the target only once it stays there."""

from __future__ import annotations

from benchmarks.fusion.report import first_reaching


def _curve(*psnrs: float) -> list[dict[str, float]]:
    return [
        {"psnr": value, "step": 10 * i, "wall_s": float(i), "editor_calls": i}
        for i, value in enumerate(psnrs)
    ]


def test_a_curve_that_touches_the_target_and_falls_back_has_not_reached_it_yet() -> None:
    point = first_reaching(_curve(15.0, 18.2, 16.0, 18.1, 18.5), target=18.0)
    assert point is not None and point["step"] == 30


def test_a_curve_that_ends_below_the_target_never_reached_it() -> None:
    assert first_reaching(_curve(15.0, 18.5, 17.9), target=18.0) is None
    assert first_reaching([], target=18.0) is None


def test_a_curve_above_the_target_throughout_reaches_it_at_the_start() -> None:
    point = first_reaching(_curve(18.0, 19.0), target=18.0)
    assert point is not None and point["step"] == 0
