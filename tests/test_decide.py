"""CP-SAT decision solves (ncplace.optimize.cpsat.decide) against brute-force enumeration, and
the mix they were added for."""

from __future__ import annotations

import itertools

import pytest
from ortools.sat.python import cp_model

import ncplace
from benchmarks.generator import generate
from ncplace import Status, score
from ncplace.optimize.budget import Budget, dtime_rate
from ncplace.optimize.cpsat import build, decide
from ncplace.optimize.layouts import layout_from
from ncplace.optimize.problem import build_problem
from ncplace.optimize.sweep import int_peak
from tests.test_optimize_bruteforce import block_options, evaluate, split_options, tiny_mix


def model_optimum(mix: ncplace.Mix, split: bool) -> float | None:
    """The least peak over every layout of the model (no baselines), or None."""
    options = [(split_options if split else block_options)(mix, i) for i in range(len(mix.models))]
    peaks = (evaluate(mix, choice) for choice in itertools.product(*options))
    return min((value[0] for value in peaks if value is not None), default=None)


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("seed", range(30))
def test_one_unit_below_the_optimum_is_refuted_and_the_optimum_found(
    seed: int, split: bool
) -> None:
    mix = tiny_mix(seed)
    problem = build_problem(mix, split)
    optimum = model_optimum(mix, split)
    if optimum is None or not problem.load_exact:
        pytest.skip("no layout, or loads not exact integers")
    cap = round(optimum * problem.load_scale)
    budget = Budget(10.0, deterministic=True, rate=dtime_rate(problem.cores))
    built = build(problem)
    status, found = decide(built, budget, 5.0, 0, 1, cap - 1)
    assert status == cp_model.INFEASIBLE
    assert found is None
    status, found = decide(built, budget, 5.0, 0, 1, cap)
    assert status in (cp_model.FEASIBLE, cp_model.OPTIMAL)
    assert found is not None
    assert int_peak(problem, found) == cap
    s = score(layout_from(problem, found), mix)
    assert s.feasible
    assert s.peak_load == pytest.approx(optimum, abs=1e-9)


def test_the_sixteen_model_mix_is_proven() -> None:
    """16 random models on inf1.6xlarge (the benchmark's ``scale`` seed 0), which the decision
    solves were added for: CP-SAT's minimisation, the tabu search and the core sweep ended at
    0.7428 with the bound at 0.7402, and the decision "a layout at 0.74275 or less?" proved
    0.7428 optimal. The certified LP bound (:mod:`ncplace.optimize.arcflow`) now meets that
    optimum at once and the core sweep's probe finds a layout there, before CP-SAT runs."""
    mix = generate("scale", "inf1.6xlarge", 16, 0)
    plan = ncplace.optimize(mix, time_limit=10.0, seed=0, deterministic=True)
    if "not reproducible" in plan.stop_reason:
        pytest.skip("machine too slow or loaded: the wall-clock safety limit stopped a solve")
    assert plan.status == Status.OPTIMAL
    assert plan.stop_reason.startswith("optimal (core sweep)")
    assert plan.objective == pytest.approx(0.74275)
    assert plan.bound == plan.objective
    assert score(plan.layout, mix).peak_load == plan.objective
