"""What the core sweep adds for proofs: the divisibility bound, failed states remembered across
capacities, the descent from the best layout, and the memory rule ("unknown", never a false
"infeasible"). Every answer is checked against brute-force enumeration (tests.test_sweep)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncplace import Instance, Mix, Model, optimize, score
from ncplace.optimize import sweep as sweep_module
from ncplace.optimize.problem import build_problem
from ncplace.optimize.sweep import _Search, pick_moduli, sweep
from tests.test_optimize_bruteforce import tiny_mix
from tests.test_sweep import brute_force, check_layout


def integer_mix(loads: list[tuple[int, int]], cores: int) -> Mix:
    """1-core and 2-core models with integer loads (in hundredths: ``rate = load``,
    ``throughput = 100``), on ``cores`` cores of one chip."""
    inst = Instance(cores=cores, cores_per_chip=cores, chip_memory_gib=32)
    models = tuple(
        Model(f"m{i}", cores=k, rate=load, throughput=100) for i, (load, k) in enumerate(loads)
    )
    return Mix(models, inst)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([4, 6, 8, 12, 16, 20, 24, 3, 5, 7]), st.sampled_from([1, 1, 2])),
        min_size=3,
        max_size=6,
    ),
    st.sampled_from([3, 4]),
    st.sampled_from([(2,), (4,), (2, 4), (3, 8)]),
)
def test_the_divisibility_bound_never_cuts_the_optimum(
    loads: list[tuple[int, int]], cores: int, moduli: tuple[int, ...]
) -> None:
    """Loads mostly even, some odd: whatever moduli the bound uses, the decision at the brute-force
    optimum finds a layout and the one just below it proves there is none."""
    problem = build_problem(integer_mix(loads, cores), False)
    optimum = brute_force(problem)
    assert optimum is not None
    search = _Search(problem, 10**7, float("inf"))
    search.moduli = moduli
    found = search.run(optimum, 10**6)
    assert found.status == "feasible"
    assert found.starts is not None
    check_layout(problem, found.starts, optimum)
    assert search.run(optimum - 1, 10**6).status == "infeasible"


def test_the_divisibility_bound_cuts_rooms_only_even_loads_can_fill() -> None:
    """Six 1-core models of 0.04 and one of 0.03 on four cores at capacity 0.07: the slack is one
    unit and a core without the odd model fills only 0.04, wasting 0.03, with three such cores. The
    subset sums alone see 0.07 = 0.04 + 0.03 on every core; with moduli 4 and 2 the first state
    is cut."""
    problem = build_problem(integer_mix([(4, 1)] * 6 + [(3, 1)], 4), False)
    assert problem.load_scale == 100
    assert pick_moduli(problem) == (4, 2)
    plain = _Search(problem, 10**7, float("inf"))
    plain.moduli = ()
    divisible = _Search(problem, 10**7, float("inf"))
    assert plain.run(7, 10**6).status == divisible.run(7, 10**6).status == "infeasible"
    assert divisible.used == 1 < plain.used


def test_moduli_are_ranked_by_the_waste_they_force() -> None:
    """Loads 4, 8 (2 cores), 12 and 3 on four cores: 4 leaves 3 cores to loads it divides, each
    wasting about 1.5 (score 3 x 3); 8 leaves 1 (score 7); 2 leaves 3 (score 3); 3 leaves 1 (score
    2); 6, 12 and above leave none."""
    problem = build_problem(integer_mix([(4, 1), (8, 2), (12, 1), (3, 1)], 4), False)
    assert problem.load_scale == 100
    assert pick_moduli(problem) == (4, 8, 2)


@pytest.mark.parametrize("seed", range(300, 360))
def test_failed_states_carry_over_to_lower_capacities(seed: int) -> None:
    """One search tries capacities from above the optimum down to below it: every answer matches
    a fresh search and the brute force, though the states that failed at higher capacities are
    reused at the lower ones."""
    problem = build_problem(tiny_mix(seed, ranges=False), False)
    optimum = brute_force(problem)
    if optimum is None:
        return
    shared = _Search(problem, 10**8, float("inf"))
    for cap in range(optimum + 2, max(-1, optimum - 4), -1):
        out = shared.run(cap, 10**6)
        fresh = _Search(problem, 10**8, float("inf")).run(cap, 10**6)
        assert out.status == fresh.status, cap
        if out.status == "feasible":
            assert out.starts is not None
            check_layout(problem, out.starts, cap)
        elif out.status == "unknown":
            assert any(m.memory for m in problem.models)
        else:
            assert out.status == "infeasible" and cap < optimum


def test_a_state_failed_at_a_higher_capacity_is_cut_at_a_lower_one() -> None:
    """A 2-core model and five 1-core ones on four cores (optimum 0.74): proving 0.72 infeasible
    after 0.73's takes fewer steps than alone, and the memory records for each state the highest
    capacity at which it failed."""
    inst = Instance(cores=4, cores_per_chip=4, chip_memory_gib=32)
    sizes = [(1, 46), (1, 26), (1, 41), (1, 40), (2, 34), (1, 16)]
    models = tuple(
        Model(f"m{i}", cores=k, rate=rate, throughput=100) for i, (k, rate) in enumerate(sizes)
    )
    problem = build_problem(Mix(models, inst), False)
    alone = _Search(problem, 10**6, float("inf")).run(72, 10**6)
    shared = _Search(problem, 10**6, float("inf"))
    assert shared.run(73, 10**6).status == "infeasible"
    caps = set(shared.memo()[0])
    after = shared.run(72, 10**6)
    assert alone.status == after.status == "infeasible"
    assert after.steps < alone.steps
    assert caps == {73}
    assert set(shared.memo()[0]) <= {72, 73}


def test_the_descent_goes_one_unit_below_the_best_layout_until_a_proof() -> None:
    """The primal phase from 73 (not yet proven infeasible) with a caller's layout at 90: the
    probe at 74 finds the optimum, the descent proves 73 infeasible; from 70 with a caller's
    layout at the optimum, the probes prove 71 and 73 infeasible, which proves the caller's layout
    optimal with no layout of the sweep's own."""
    inst = Instance(cores=4, cores_per_chip=4, chip_memory_gib=32)
    sizes = [(1, 46), (1, 26), (1, 41), (1, 40), (2, 34), (1, 16)]
    models = tuple(
        Model(f"m{i}", cores=k, rate=rate, throughput=100) for i, (k, rate) in enumerate(sizes)
    )
    problem = build_problem(Mix(models, inst), False)
    tries: list[sweep_module.Outcome] = []
    best, lo = sweep_module._find(_Search(problem, 10**6, float("inf")), 73, 90, tries, None)
    assert best is not None and best.cap == 74 and lo == 74
    assert [(t.cap, t.status) for t in tries] == [(74, "feasible"), (73, "infeasible")]
    tries = []
    best, lo = sweep_module._find(_Search(problem, 10**6, float("inf")), 70, 74, tries, None)
    assert best is None and lo == 74
    assert [(t.cap, t.status) for t in tries] == [(71, "infeasible"), (73, "infeasible")]
    result = sweep(problem, 60, 74, 10**6)
    assert result.bound == 74 and result.peak is None


def test_a_layout_only_memory_allows_is_unknown_never_infeasible() -> None:
    """Two 1-core models of 2 GiB on two chips of 2 GiB (two cores each): the left-justified
    layouts put both on chip 0, which memory rejects, so the search ends "unknown"; the sweep's
    bound stays below the optimum (one model per chip, peak 0.5) and the optimizer finds it."""
    inst = Instance(cores=4, cores_per_chip=2, chip_memory_gib=2)
    mix = Mix(
        (
            Model("a", rate=1, throughput=2, memory_gib=2),
            Model("b", rate=1, throughput=2, memory_gib=2),
        ),
        inst,
    )
    problem = build_problem(mix, False)
    assert brute_force(problem) == problem.load_scale // 2
    out = _Search(problem, 10**6, float("inf")).run(problem.load_scale // 2, 10**6)
    assert out.status == "unknown"
    result = sweep(problem, 0, problem.load_scale, 10**5)
    assert result.bound <= problem.load_scale // 2
    assert all(t.status != "infeasible" or t.cap < problem.load_scale // 2 for t in result.tries)
    plan = optimize(mix, time_limit=2)
    assert score(plan.layout, mix).peak_load == pytest.approx(0.5)
    assert plan.bound <= 0.5 + 1e-9


def test_failed_states_are_kept_within_their_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for few states, a search keeps what fits, drops those that failed only below
    its capacity when over half full, and still answers as the brute force does."""
    problem = build_problem(tiny_mix(5, ranges=False), False)
    optimum = brute_force(problem)
    assert optimum is not None
    monkeypatch.setattr(sweep_module, "MEMO_BYTES", 2_000)
    search = _Search(problem, 10**7, float("inf"))
    for cap in (optimum - 2, optimum - 1, optimum):
        out = search.run(cap, 10**6)
        assert (out.status == "infeasible") == (cap < optimum)
        assert search.memo()[1] <= 2_000


def test_proofs_under_the_fallback_scale_run_on_coarser_loads() -> None:
    """Three 1-core models of 0.7000001234 on two cores: no small fraction gives that float, so
    loads are scaled by about 2**40 / 2.1 and rounded down. The proof runs on loads rounded down
    to about 4096 units a core and still proves that two of them must share a core: the bound is
    within a coarse unit below the optimum, never above it."""
    inst = Instance(cores=2, cores_per_chip=2, chip_memory_gib=32)
    mix = Mix(tuple(Model(f"m{i}", rate=7.000001234, throughput=10) for i in range(3)), inst)
    problem = build_problem(mix, False)
    assert not problem.load_exact
    optimum = 2 * problem.models[0].demand[0]
    result = sweep_module.prove(problem, 0, optimum, 10**5)
    factor = -(-optimum // sweep_module.PROOF_CAPACITY)
    assert optimum - factor * 3 <= result.bound <= optimum
    assert result.peak is None and result.assignment is None


@pytest.mark.parametrize("seed", range(360, 400))
def test_coarse_proofs_are_never_above_the_optimum(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = build_problem(tiny_mix(seed, ranges=False), False)
    optimum = brute_force(problem)
    upper = sum(m.demand[0] for m in problem.models) + 1
    monkeypatch.setattr(sweep_module, "PROOF_CAPACITY", max(1, upper // 4))
    coarse = sweep_module.prove(replace(problem, load_exact=False), 0, upper, 50_000)
    if optimum is not None:
        assert coarse.bound <= optimum
