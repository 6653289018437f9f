"""Several seeds of one schedule merge into one result: mean curve, per-seed finals, spread, difference."""

from __future__ import annotations

import pytest

from benchmarks.fusion.report import add_targets, markdown_table
from benchmarks.fusion.seeds import difference_vs, merge_seeds


def run(finals: list[float], passes: list[int]) -> dict:
    curve = [
        {"step": step, "editor_calls": calls, "views_edited": calls, "unet_passes": unet, "psnr": psnr}
        for step, calls, unet, psnr in zip((0, 50), (0, 5), passes, finals, strict=True)
    ]
    curve = [{**point, "wall_s": 1.0, "ssim": 0.5} for point in curve]
    return {
        "curve": curve,
        "final": curve[-1],
        "wall_s": 2.0,
        "editor_index_mismatches": 0,
        "renders": ["first"],
        "steps": 50,
    }


def test_merge_takes_the_mean_curve_and_keeps_each_seed() -> None:
    merged = merge_seeds([run([20.0, 24.0], [0, 40]), run([20.0, 26.0], [0, 45])], [0, 1])
    assert [point["psnr"] for point in merged["curve"]] == [20.0, 25.0]
    assert merged["final"]["unet_passes"] == 42.5 and merged["unet_passes"] == 42.5
    assert merged["final"]["editor_calls"] == 5 and isinstance(merged["final"]["editor_calls"], int)
    assert merged["seeds"]["final_psnr"] == [24.0, 26.0]
    assert merged["seeds"]["final_psnr_std"] == pytest.approx(2**0.5)  # sample std of 24 and 26
    assert merged["renders"] == ["first"]


def test_one_seed_is_the_run_itself() -> None:
    merged = merge_seeds([run([20.0, 24.0], [0, 40])], [7])
    assert merged["final"]["psnr"] == 24.0 and merged["seeds"]["final_psnr_std"] == 0.0


def test_runs_measured_at_other_steps_are_refused() -> None:
    other = run([20.0, 24.0], [0, 40])
    other["curve"][1]["step"] = 60
    with pytest.raises(ValueError, match="same steps"):
        merge_seeds([run([20.0, 24.0], [0, 40]), other], [0, 1])
    with pytest.raises(ValueError, match="one run per seed"):
        merge_seeds([run([20.0, 24.0], [0, 40])], [0, 1])


def test_difference_and_table_carry_the_spread() -> None:
    rolling = merge_seeds([run([20.0, 24.0], [0, 100]), run([20.0, 26.0], [0, 100])], [0, 1])
    fast = merge_seeds([run([20.0, 25.0], [0, 10]), run([20.0, 27.0], [0, 10])], [0, 1])
    delta, error = difference_vs(fast, rolling)
    assert delta == pytest.approx(1.0) and error == pytest.approx((2 / 2 + 2 / 2) ** 0.5)
    results = {"scenes": {"s": {"base": {"vs_edited": {"psnr": 20.0}}, "schedules": {}}}}
    results["scenes"]["s"]["schedules"] = {"rolling": rolling, "fast": fast}
    add_targets(results)
    assert results["scenes"]["s"]["target_psnr"] == 25.0
    table = markdown_table(results)
    assert "| s | fast | 26.00 ± 1.41 | +1.00 ± 1.41 |" in table
    assert "| 5 / 5 / 10 | 0.10 |" in table  # reached the target at step 50 with a tenth of the passes
