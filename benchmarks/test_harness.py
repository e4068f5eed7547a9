"""Tests of the benchmark harness and of the folder-vs-dirq workload (no timing goals:
these check what the numbers mean, not how large they are).

Run ``.venv/bin/pytest benchmarks/test_harness.py -q`` (the suite's ``testpaths`` is
``tests/``; the workload test needs the ``bench`` extra).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Goal, Result, calibrate, measure, percentile


def test_percentile_is_nearest_rank_and_sorts_its_input() -> None:
    samples = [float(v) for v in range(25, 0, -1)]  # 25.0 .. 1.0, unsorted
    assert percentile(samples, 0.5) == 13.0
    # 0.9 * 25 = 22.5: the 23rd smallest (a rounding formula gives the 22nd)
    assert percentile(samples, 0.9) == 23.0
    assert percentile(samples, 0.99) == 25.0
    assert percentile(samples, 1.0) == 25.0
    assert percentile([7.0], 0.01) == 7.0


def test_ratio_is_the_median_of_the_ratios_within_rounds() -> None:
    # round 2 ran under load for both: its rates are low, its ratio is the same
    ours = Result(n=100, seconds=(1.0, 4.0, 1.0), loads=(0.5, 3.0, 0.5))
    theirs = Result(n=100, seconds=(2.0, 8.0, 2.0), loads=(0.5, 3.0, 0.5))
    assert ours.ratio_to(theirs) == pytest.approx(2.0)
    assert ours.rate == pytest.approx(100.0)


def test_calibrate_sizes_a_trial_for_the_target_time(tmp_path: Path) -> None:
    calls: list[int] = []

    def trial(directory: str, n: int) -> float:
        calls.append(n)
        return n * 1e-4  # 10,000 msgs/s, without sleeping

    n = calibrate(trial, str(tmp_path), 2.0)
    assert 1.6 <= n * 1e-4 <= 2.6
    assert n % 8 == 0
    assert calls[0] == 200  # grown from a small probe


def test_same_n_gives_both_trials_of_a_row_the_larger_size(tmp_path: Path) -> None:
    def fast(directory: str, n: int) -> float:
        return n * 1e-5

    def slow(directory: str, n: int) -> float:
        return n * 1e-4

    results = measure({"fast": fast, "slow": slow}, str(tmp_path), 1.0, 3, same_n=True)
    assert results["fast"].n == results["slow"].n
    assert results["fast"].n * 1e-5 >= 0.8  # the faster trial still lasts the target
    assert results["fast"].ratio_to(results["slow"]) == pytest.approx(10.0)
    assert len(results["slow"].loads) == 3


def test_goal_cells_say_pass_or_miss_with_the_exact_ratio() -> None:
    goal = Goal(0.8, "bare")
    assert goal.cell(0.8) == "PASS: 0.800 ≥ 0.8x bare"
    assert goal.cell(0.79) == "**MISS**: 0.790 < 0.8x bare"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("layout", range(3))
def test_both_queues_consume_every_message_of_each_layout(tmp_path: Path, layout: int) -> None:
    pytest.importorskip("dirq")
    from folder_trials import (  # noqa: PLC0415 (bench extra)
        LAYOUTS,
        dirq_trial,
        floor_trial,
        folder_trial,
    )

    trials = {"folder": folder_trial, "dirq": dirq_trial}
    if not LAYOUTS[layout].producer:
        trials["floor"] = floor_trial
    for name, trial in trials.items():
        directory = tmp_path / name
        directory.mkdir()
        assert trial(LAYOUTS[layout])(str(directory), 60) > 0  # raises unless 60 consumed
