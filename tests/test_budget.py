"""Time budgets (ncplace.optimize.budget): wall-clock limits and work charged outside CP-SAT."""

from __future__ import annotations

import pytest

from ncplace.optimize.budget import WALL_FACTOR, WALL_SLACK_S, Budget


def test_the_wall_limit_is_a_safety_margin_when_deterministic_and_the_share_otherwise() -> None:
    deterministic = Budget(10.0, deterministic=True, rate=0.4)
    assert deterministic.wall_limit(2.0) == pytest.approx(WALL_FACTOR * 2.0 + WALL_SLACK_S)
    assert deterministic.wall_limit(-1.0) == pytest.approx(WALL_SLACK_S)
    parallel = Budget(10.0, deterministic=False, rate=0.4)
    assert parallel.wall_limit(2.0) == 2.0
    assert parallel.wall_limit(-1.0) == 0.0


def test_spent_steps_count_and_safety_cuts_are_recorded_only_on_the_deterministic_clock() -> None:
    deterministic = Budget(10.0, deterministic=True, rate=0.4)
    deterministic.spend(1.5, "sweep")
    deterministic.spend(0.5, "tabu search", wall_cut=True)
    assert deterministic.used() == pytest.approx(2.0)
    assert deterministic.left() == pytest.approx(8.0)
    assert deterministic.wall_cuts == ["tabu search"]
    parallel = Budget(10.0, deterministic=False, rate=0.4)
    parallel.spend(1.5, "tabu search", wall_cut=True)
    assert parallel.wall_cuts == []
