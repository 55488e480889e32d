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
from ncplace.optimize.problem import Problem, build_problem
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


def four_core_problem() -> Problem:
    """A 2-core model and five 1-core ones on four cores (optimum 0.74 at load scale 100)."""
    inst = Instance(cores=4, cores_per_chip=4, chip_memory_gib=32)
    sizes = [(1, 46), (1, 26), (1, 41), (1, 40), (2, 34), (1, 16)]
    models = tuple(
        Model(f"m{i}", cores=k, rate=rate, throughput=100) for i, (k, rate) in enumerate(sizes)
    )
    return build_problem(Mix(models, inst), False)


def test_the_window_narrows_a_cores_choice_to_what_the_cores_after_it_leave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 0.73 on the four-core mix the cores left waste at least 4 units, 3 of them on the cores
    after core 0, so core 0 may leave at most the slack less 3 unused; with that window the proof
    of 0.73 takes 57 steps, with the whole slack 63."""
    problem = four_core_problem()
    search = _Search(problem, 10**6, float("inf"), "python")
    slack = 4 * 73 - search.shared_work
    assert sweep_module._Run(search, 73, 10**6)._forced_waste(0, slack) == (4, 3)
    narrow = _Search(problem, 10**6, float("inf"), "python").run(73, 10**6)
    whole = sweep_module._Run._forced_waste
    monkeypatch.setattr(
        sweep_module._Run, "_forced_waste", lambda run, c, slack: (whole(run, c, slack)[0], 0)
    )
    wide = _Search(problem, 10**6, float("inf"), "python").run(73, 10**6)
    assert narrow.status == wide.status == "infeasible"
    assert (narrow.steps, wide.steps) == (57, 63)


def test_no_state_past_the_mirror_units_last_core_lacks_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eleven models on eight cores, the 4-core one unique (so it starts by core 2): it starts at
    core 2 before the others are chosen there, so the search never reaches a core past 2 without
    it, where trying it last reached 81 such states (each cut at once) on the way to the optimum
    0.55; the answers are the same."""
    inst = Instance(cores=8, cores_per_chip=8, chip_memory_gib=32)
    sizes = [(4, 12), (2, 37), (2, 29), (1, 46), (1, 41), (1, 40), (1, 33), (1, 26), (1, 21)]
    sizes += [(1, 17), (1, 13)]
    models = tuple(
        Model(f"m{i}", cores=k, rate=rate, throughput=100) for i, (k, rate) in enumerate(sizes)
    )
    search = _Search(build_problem(Mix(models, inst), False), 10**7, float("inf"), "python")
    assert (search.types[search.mirror][0], search.mirror_last) == (4, 2)
    reached: list[tuple[int, int]] = []
    core = sweep_module._Run._core

    def watched(run: sweep_module._Run, c: int, slack: int) -> bool:
        reached.append((c, run.rem[search.mirror]))
        return core(run, c, slack)

    monkeypatch.setattr(sweep_module._Run, "_core", watched)
    answers = [search.run(cap, 10**6).status for cap in range(52, 56)]
    assert answers == ["infeasible", "infeasible", "infeasible", "feasible"]
    assert len(reached) > 500
    assert not [c for c, left in reached if 2 < c < search.n and left]


class Scripted:
    """A stand-in for the decision search: capacities below ``optimum`` are infeasible, proven in
    ``proof(cap)`` steps; at or above it a layout at ``optimum`` is found in ``find`` steps."""

    def __init__(self, optimum: int, proof: dict[int, int], find: int) -> None:
        self.optimum, self.proof, self.find = optimum, proof, find
        self.used = 0
        self.calls: list[tuple[int, int]] = []

    def run(self, cap: int, limit: int) -> sweep_module.Outcome:
        self.calls.append((cap, limit))
        cost = self.proof[cap] if cap < self.optimum else self.find
        self.used += min(cost, limit)
        if cost > limit:
            return sweep_module.Outcome(cap, "limit", limit)
        if cap < self.optimum:
            return sweep_module.Outcome(cap, "infeasible", cost)
        return sweep_module.Outcome(self.optimum, "feasible", cost, {})


def test_the_climb_looks_ahead_for_a_layout_before_each_proof_after_the_first() -> None:
    """Proofs growing 1.5-fold a unit up to an optimum of 116 from 106, finds costing 900: after
    proving 106, a look-ahead at 112 with twice its steps runs out; 108 is proven; the look-ahead
    at 120 finds the optimum, so the proof of 112 is never made and the descent proves 115."""
    proof = {cap: int(300 * 1.5 ** (cap - 106)) for cap in range(106, 116)}
    search = Scripted(116, proof, 900)
    tries: list[sweep_module.Outcome] = []
    lo, best = sweep_module._climb(search, 106, 200, 10**9, tries)  # type: ignore[arg-type]
    assert (lo, best is not None and best.cap) == (116, 116)
    assert search.calls == [
        (106, 10**9),
        (112, 2 * proof[106]),
        (108, (10**9 - 300 - 600) // 3),
        (120, 2 * proof[108]),
        (115, (10**9 - search.used + proof[115]) // 3),
    ]
    assert [t.status for t in tries] == [
        "infeasible",
        "limit",
        "infeasible",
        "feasible",
        "infeasible",
    ]


def test_what_the_tries_proved_and_found_survives_the_budget_running_out() -> None:
    """On the four-core mix from 60 with a caller's layout at 90, at every budget from 1 to 400
    steps: the sweep's bound is one above the highest capacity a try proved infeasible and its
    layout is the lowest a try found, even when the budget ran out in the middle of a phase
    (which ends it at once); at 197 steps, for one, the layout at 0.74 and the proof of 0.71."""
    problem = four_core_problem()
    for steps in range(1, 401, 3):
        result = sweep(problem, 60, 90, steps)
        proven = [t.cap + 1 for t in result.tries if t.status == "infeasible"]
        found = [t.cap for t in result.tries if t.status == "feasible"]
        assert result.peak == min(found, default=None)
        assert result.bound == min(max([60, *proven]), result.peak or 10**9)
    result = sweep(problem, 60, 90, 197)
    assert (result.bound, result.peak) == (72, 74)
