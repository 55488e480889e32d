"""Time budgets (ncplace.optimize.budget): wall-clock limits and work charged outside CP-SAT."""

from __future__ import annotations

import math
import random

import pytest
from ortools.sat.python import cp_model

from ncplace import Instance, Mix, Model, Status, instance, optimize
from ncplace.optimize import budget, cpsat
from ncplace.optimize.budget import WALL_FACTOR, WALL_SLACK_S, Budget
from ncplace.optimize.problem import build_problem


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


def _hard_peak_model() -> cpsat.Built:
    """The peak level of 60 models on 64 cores: CP-SAT needs seconds to prove it."""
    rng = random.Random(0)
    mix = Mix(
        [
            Model(
                f"m{i}",
                cores=rng.choice([1, 1, 2, 2, 3, 4]),
                rate=rng.randrange(100, 500, 10),
                throughput=1000,
            )
            for i in range(60)
        ],
        instance=instance("inf1.24xlarge"),
    )
    built = cpsat.build(build_problem(mix, False))
    built.model.minimize(built.peak)
    return built


def test_a_solve_the_safety_limit_stops_is_recorded_whatever_wall_time_cp_sat_reports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CP-SAT ends a solve on its own wall limit early, by the longest recent gap between its
    checks (on this model, idle, up to a third of a 0.05 s limit early; more under load), so a
    test on the wall time it reports missed such cuts: the waiting thread keeps the safety limit
    instead and records every solve it stops."""
    monkeypatch.setattr(budget, "WALL_FACTOR", 0.0)
    monkeypatch.setattr(budget, "WALL_SLACK_S", 0.05)
    deterministic = Budget(1000.0, deterministic=True, rate=0.2)
    built = _hard_peak_model()
    solver = cpsat.new_solver(deterministic, 1000.0, seed=5, workers=1)
    assert solver.parameters.max_deterministic_time == pytest.approx(200.0)
    assert solver.parameters.max_time_in_seconds == math.inf
    assert deterministic.safety_limit(solver) == pytest.approx(0.05)
    status, cut = cpsat.solve(deterministic, solver, built.model, "peak")
    assert status in (cp_model.FEASIBLE, cp_model.UNKNOWN)
    assert cut
    assert deterministic.wall_cuts == ["peak"]
    assert deterministic.spent == pytest.approx(solver.response_proto.deterministic_time / 0.2)


def test_a_solve_that_ends_on_its_own_or_on_the_wall_clock_is_no_safety_cut() -> None:
    deterministic = Budget(10.0, deterministic=True, rate=0.4)
    model = cp_model.CpModel()
    x = model.new_int_var(0, 10, "x")
    model.minimize(x)
    solver = cpsat.new_solver(deterministic, 1.0, seed=0, workers=1)
    assert cpsat.solve(deterministic, solver, model, "tiny") == (cp_model.OPTIMAL, False)
    assert deterministic.wall_cuts == []
    wall = Budget(10.0, deterministic=False, rate=0.4)
    solver = cpsat.new_solver(wall, 0.05, seed=0, workers=1)
    assert solver.parameters.max_time_in_seconds == pytest.approx(0.05)
    assert wall.safety_limit(solver) is None
    status, cut = cpsat.solve(wall, solver, _hard_peak_model().model, "peak")
    assert status in (cp_model.FEASIBLE, cp_model.UNKNOWN)
    assert not cut and wall.wall_cuts == [] and wall.spent == 0.0


def test_a_safety_cut_while_explaining_an_infeasible_mix_is_in_the_stop_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The diagnosis runs on a budget of its own; its safety cuts reach the plan's."""
    monkeypatch.setattr(budget, "WALL_FACTOR", 0.0)
    monkeypatch.setattr(budget, "WALL_SLACK_S", 0.0)
    mix = Mix(
        [Model("mid", cores=2, start=1, exclusive=True), Model("wide", cores=2), Model("free")],
        instance=Instance(cores=4, cores_per_chip=2),
    )
    plan = optimize(mix, time_limit=1, deterministic=True)
    assert plan.status is Status.INFEASIBLE
    assert plan.explanation is not None and "'wide' needs 2 consecutive cores" in plan.explanation
    head, cuts = plan.stop_reason.split("; not reproducible: the wall-clock safety limit stopped ")
    assert head == "infeasible"
    assert "budget" in cuts.split(", ")
