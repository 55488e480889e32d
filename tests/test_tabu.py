"""The tabu search (ncplace.optimize.tabu) from the worst layout of tiny mixes, vs brute force.

Every layout it returns must keep every hard rule (checked by the independent scorer), report
its true peak, lie strictly below the start and never below the brute-force optimum.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest

from ncplace import ConfigError, Instance, Mix, Model, Status, optimize, score
from ncplace.optimize import tabu
from ncplace.optimize.baselines import best, run_baselines
from ncplace.optimize.layouts import assignment_of, layout_from
from ncplace.optimize.objectives import Assignment
from ncplace.optimize.problem import Problem, build_problem
from ncplace.optimize.sweep import int_peak
from tests.test_optimize_bruteforce import block_options, evaluate, split_options, tiny_mix
from tests.test_sweep import check_layout, feasible_layouts


@dataclass(frozen=True)
class WorstStart:
    """A tiny mix's feasible layout with the highest peak (first in enumeration order), its
    peak, and the least peak over the layouts that keep its exclusive models where they are (the
    tabu search does not move them)."""

    problem: Problem
    assignment: dict[int, Assignment]
    peak: int
    optimum: int


def worst_start(seed: int) -> WorstStart | None:
    """The :class:`WorstStart` of ``tiny_mix(seed)`` (fixed copy counts, block mode), or None
    when no layout is feasible."""
    problem = build_problem(tiny_mix(seed, ranges=False), False)
    layouts = list(feasible_layouts(problem))
    if not layouts:
        return None
    starts, peak = max(layouts, key=lambda item: item[1])
    assignment = {
        m.index: (m.replicas[0], (s,)) for m, s in zip(problem.models, starts, strict=True)
    }
    fixed = [i for i, m in enumerate(problem.models) if m.exclusive]
    optimum = min(p for other, p in layouts if all(other[i] == starts[i] for i in fixed))
    return WorstStart(problem, assignment, peak, optimum)


def check_result(problem: Problem, result: tabu.TabuResult) -> None:
    """The search returned a layout that keeps every rule at the peak it reports."""
    assert result.assignment is not None and result.peak is not None
    assert result.peak == int_peak(problem, result.assignment)
    check_layout(problem, {i: a[1][0] for i, a in result.assignment.items()}, result.peak)


@pytest.mark.parametrize("seed", range(120))
def test_lowers_the_peak_to_the_optimum_and_keeps_every_rule(seed: int) -> None:
    start = worst_start(seed)
    if start is None:
        return
    result = tabu.improve(start.problem, start.assignment, start.optimum, 100_000, seed)
    if start.peak == start.optimum:
        assert result.assignment is None and result.peak is None
        return
    check_result(start.problem, result)
    assert result.peak == start.optimum


@pytest.mark.parametrize("seed", range(120, 160))
def test_stops_at_the_bound_it_is_given(seed: int) -> None:
    start = worst_start(seed)
    if start is None:
        return
    result = tabu.improve(start.problem, start.assignment, start.peak, 100_000, seed)
    assert result.assignment is None
    assert result.steps == 0
    between = (start.peak + start.optimum + 1) // 2
    if start.optimum < between < start.peak:
        result = tabu.improve(start.problem, start.assignment, between, 100_000, seed)
        assert result.peak is not None and start.optimum <= result.peak <= between


def pinned_exclusive_memory_mix() -> Mix:
    """Eight cores on two chips of 8 GiB: an exclusive model on cores 0-1, one pinned to core 7,
    and four movable models of 2.5 GiB per core, so that each chip holds three of their cores
    at most. The best layout within memory puts m2 and m3 on chip 0 and peaks at 1.0; moving m0
    to the empty core 6 would peak lower but breaks chip 1's memory."""
    inst = Instance(cores=8, cores_per_chip=4, chip_memory_gib=8)
    models = [
        Model("solo", cores=2, rate=500, throughput=1000, exclusive=True),
        Model("pinned", cores=1, rate=300, throughput=1000, start=7),
    ] + [
        Model(f"m{i}", cores=k, rate=rate, throughput=1000, memory_gib=2.5 * k)
        for i, (k, rate) in enumerate(((1, 900), (2, 400), (1, 700), (2, 300)))
    ]
    return Mix(tuple(models), inst)


def test_exclusive_and_pinned_models_stay_and_memory_holds() -> None:
    mix = pinned_exclusive_memory_mix()
    problem = build_problem(mix, False)
    start = {0: (1, (0,)), 1: (1, (7,)), 2: (1, (2,)), 3: (1, (2,)), 4: (1, (4,)), 5: (1, (4,))}
    assert score(layout_from(problem, start), mix).peak_load == pytest.approx(1.3)
    result = tabu.improve(problem, start, 0, 50_000)
    check_result(problem, result)
    assert result.assignment is not None
    assert result.assignment[0] == start[0] and result.assignment[1] == start[1]
    assert score(layout_from(problem, result.assignment), mix).peak_load == pytest.approx(1.0)


def test_the_search_is_deterministic_and_counts_its_steps() -> None:
    start = worst_start(7)
    assert start is not None
    first = tabu.improve(start.problem, start.assignment, 0, 3_000, seed=4)
    assert first == tabu.improve(start.problem, start.assignment, 0, 3_000, seed=4)
    assert first.steps <= 3_000 + max(1, len(start.problem.models)) * start.problem.cores * 2


def test_a_zero_budget_changes_nothing() -> None:
    start = worst_start(3)
    assert start is not None
    result = tabu.improve(start.problem, start.assignment, 0, 0)
    assert result == tabu.TabuResult(None, None, 0, False)


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("seed", range(60))
def test_copy_ranges_and_split_copies_against_brute_force(seed: int, split: bool) -> None:
    """Mixes with copy-count ranges, in block and split mode: from the worst layout, the search
    keeps every copy count, rule and pin, never lets a model's copies share a core, and reaches
    the best layout with the same copy counts and the same places for exclusive and pinned
    models."""
    mix = tiny_mix(seed)
    problem = build_problem(mix, split)
    options = [(split_options if split else block_options)(mix, i) for i in range(len(mix.models))]
    feasible = []
    for choice in itertools.product(*options):
        value = evaluate(mix, choice)
        if value is not None:
            feasible.append((value[0], choice))
    if not feasible:
        return
    peak, worst = max(feasible, key=lambda item: item[0])
    fixed = [i for i, m in enumerate(mix.models) if m.exclusive or m.start is not None]

    def same_shape(choice: tuple[list[tuple[int, ...]], ...]) -> bool:
        return all(len(c) == len(w) for c, w in zip(choice, worst, strict=True)) and all(
            choice[i] == worst[i] for i in fixed
        )

    optimum = min(value for value, choice in feasible if same_shape(choice))
    start = {
        m.index: (len(blocks), tuple(b[0] for b in blocks) if split else (blocks[0][0],))
        for m, blocks in zip(problem.models, worst, strict=True)
    }
    result = tabu.improve(problem, start, 0, 50_000, seed)
    if peak <= optimum + 1e-9:
        assert result.assignment is None
        return
    assert result.assignment is not None and result.peak is not None
    sc = score(layout_from(problem, result.assignment), mix)
    assert sc.feasible
    assert sc.peak_load * problem.load_scale == pytest.approx(result.peak, abs=1e-6)
    assert sc.peak_load == pytest.approx(optimum, abs=1e-9)
    for m in problem.models:
        copies, starts = result.assignment[m.index]
        assert copies == start[m.index][0]
        if m.index in fixed:
            assert starts == start[m.index][1]
        if split:
            assert all(b >= a + m.cores for a, b in itertools.pairwise(starts))


def test_cp_sat_starts_from_the_tabu_search_layout() -> None:
    """Twenty-four 1-4-core models with unrelated loads on 16 cores: the tabu search lowers the
    best baseline's peak before CP-SAT, and the plan says CP-SAT started from its layout."""
    inst = Instance(cores=16, cores_per_chip=4, chip_memory_gib=32)
    models = tuple(
        Model(f"m{i}", cores=1 + (i * 7) % 4, rate=97 + (i * 389) % 811, throughput=1000)
        for i in range(24)
    )
    mix = Mix(models, inst)
    plan = optimize(mix, time_limit=2.0, deterministic=True)
    assert "CP-SAT started from the tabu search's layout" in plan.stop_reason
    assert score(plan.layout, mix).peak_load == pytest.approx(plan.objective, abs=1e-6)
    assert plan.bound <= plan.objective
    top = best(run_baselines(mix), "peak")
    assert top is not None and plan.objective < top.score.peak_load


def perfect_partition_mix(seed: int) -> Mix:
    """104 one-core models (too many for the core sweep) whose rates split 900 requests/s per
    core exactly over 8 cores: the optimum is the floor, 0.9."""
    rng = random.Random(seed)
    rates: list[int] = []
    for _ in range(8):
        cuts = sorted(rng.sample(range(1, 900), 12))
        rates += [b - a for a, b in zip([0, *cuts], [*cuts, 900], strict=True)]
    rng.shuffle(rates)
    inst = Instance(cores=8, cores_per_chip=4, chip_memory_gib=32)
    return Mix(tuple(Model(f"m{i}", rate=r, throughput=1000) for i, r in enumerate(rates)), inst)


@pytest.mark.parametrize("seed", [0, 1, 2, 4])
def test_a_tabu_layout_at_the_bound_settles_the_peak_without_cp_sat(seed: int) -> None:
    mix = perfect_partition_mix(seed)
    plan = optimize(mix, time_limit=2.0, deterministic=True)
    assert plan.status == Status.OPTIMAL
    assert plan.stop_reason == "optimal (tabu search)"
    assert plan.levels[0].status == "optimal (tabu search)"
    assert plan.levels[0].deterministic_time == 0.0
    assert plan.objective == pytest.approx(0.9, abs=1e-9) == plan.bound
    assert score(plan.layout, mix).peak_load == pytest.approx(plan.objective, abs=1e-6)


def test_the_search_gives_up_after_its_patience_without_a_lower_peak() -> None:
    """Six equal 1-core models on four cores: two cores must carry two, so the search finds the
    best layout at once, then keeps moving models between cores (there is always a move) and
    stops a quarter of its budget later, short of the bound 0 it is given."""
    inst = Instance(cores=4, cores_per_chip=4, chip_memory_gib=32)
    mix = Mix(tuple(Model(f"m{i}", rate=300, throughput=1000) for i in range(6)), inst)
    problem = build_problem(mix, False)
    start = {i: (1, (0,)) for i in range(6)}
    result = tabu.improve(problem, start, 0, 100_000, patience=0.25)
    assert result.peak == 2 * problem.models[0].demand[0]
    assert 25_000 < result.steps <= 25_100
    assert tabu.improve(problem, start, 0, 100_000).steps > 25_100


def mid_mix(seed: int) -> Mix:
    """A valid random mix of 6-30 models on 8 or 16 cores: 1-4-core models, some with two copies,
    a few exclusive or pinned, most with memory sizes that a chip can run short of."""
    rng = random.Random(seed)
    while True:
        cores = rng.choice([8, 16])
        inst = Instance(cores=cores, cores_per_chip=4, chip_memory_gib=rng.choice([4, 8, 16]))
        models = []
        for i in range(rng.randint(6, 30)):
            k = rng.choice([1, 1, 2, 2, 3, 4])
            replicas = rng.choice([1, 1, 1, 2])
            start = rng.randrange(0, cores - k * replicas + 1) if rng.random() < 0.05 else None
            models.append(
                Model(
                    f"m{i}",
                    cores=k,
                    replicas=replicas,
                    rate=rng.randint(20, 900),
                    throughput=rng.choice([250, 500, 1000, 2000]),
                    exclusive=rng.random() < 0.05,
                    memory_gib=round(rng.uniform(0.1, 1.0) * k, 2) if rng.random() < 0.7 else None,
                    start=start,
                )
            )
        try:
            return Mix(tuple(models), instance=inst)
        except ConfigError:
            continue


@pytest.mark.parametrize("seed", range(40))
def test_from_the_best_baseline_every_layout_keeps_every_rule(seed: int) -> None:
    mix = mid_mix(seed)
    problem = build_problem(mix, False)
    top = best(run_baselines(mix), "peak")
    if top is None or not top.score.feasible:
        return
    start = assignment_of(top.layout, problem)
    if start is None:
        return
    result = tabu.improve(problem, start, 0, 20_000, seed)
    if result.assignment is None:
        assert result.peak is None
        return
    check_result(problem, result)
    assert result.peak is not None and result.peak < int_peak(problem, start)
    for m in problem.models:
        if m.exclusive or m.start is not None:
            assert result.assignment[m.index] == start[m.index]
