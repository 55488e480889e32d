"""The core sweep (ncplace.optimize.sweep) against brute-force enumeration of the block model.

Every decision answer is checked: "feasible" must come with a layout meeting every rule at the
capacity asked, "infeasible" must mean that no block layout has a peak that low, and "unknown"
may only happen when chip memory rejected layouts. :func:`sweep` must return a bound no higher
than the true optimum and a layout no better than it (equal when it claims a proof).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from ncplace import Instance, Mix, Model, Status, optimize, score
from ncplace.optimize import sweep as sweep_module
from ncplace.optimize.layouts import layout_from
from ncplace.optimize.problem import Problem, build_problem
from ncplace.optimize.sweep import (
    MAX_MODELS,
    _Search,
    applicable,
    int_peak,
    mirror_rule,
    sweep,
)
from tests.test_optimize_bruteforce import tiny_mix


def feasible_layouts(problem: Problem) -> Iterator[tuple[tuple[int, ...], int]]:
    """Every block layout meeting the rules, as (each model's start, integer peak)."""
    n, per_chip = problem.cores, problem.cores_per_chip
    choices = []
    for m in problem.models:
        w = m.cores * m.replicas[0]
        choices.append([m.start] if m.start is not None else range(n - w + 1))
    for starts in itertools.product(*choices):
        load = [0] * n
        cover = [0] * n
        exclusive = [False] * n
        memory = [0] * problem.chips
        ok = True
        for m, s in zip(problem.models, starts, strict=True):
            w = m.cores * m.replicas[0]
            if s is None or s + w > n:
                ok = False
                break
            for c in range(s, s + w):
                load[c] += m.demand[0]
                cover[c] += 1
                exclusive[c] = exclusive[c] or m.exclusive
                memory[c // per_chip] += m.memory
        if not ok:
            continue
        if any(x and k > 1 for x, k in zip(exclusive, cover, strict=True)):
            continue
        if any(v > problem.chip_memory for v in memory):
            continue
        yield tuple(s for s in starts if s is not None), max(load)


def brute_force(problem: Problem) -> int | None:
    """The least integer peak over every block layout meeting the rules, or None."""
    return min((peak for _, peak in feasible_layouts(problem)), default=None)


def check_layout(problem: Problem, starts: dict[int, int], cap: int) -> None:
    assignment = {m.index: (m.replicas[0], (starts[m.index],)) for m in problem.models}
    layout = layout_from(problem, assignment)
    sc = score(layout, problem.mix)
    assert sc.feasible, sc
    assert int_peak(problem, assignment) <= cap
    assert abs(sc.peak_load * problem.load_scale - int_peak(problem, assignment)) < 1e-6
    for m in problem.models:
        if m.start is not None:
            assert starts[m.index] == m.start


@pytest.mark.parametrize("seed", range(150))
def test_decisions_match_brute_force(seed: int) -> None:
    assert_decisions_match_brute_force(seed, "python")


def assert_decisions_match_brute_force(seed: int, kind: str) -> None:
    """Every decision of the ``kind`` search near the optimum: a layout meeting every rule at
    the capacity asked, "infeasible" only below the optimum, "unknown" only under chip memory."""
    problem = build_problem(tiny_mix(seed, ranges=False), False)
    assert applicable(problem)
    optimum = brute_force(problem)
    top = sum(m.demand[0] for m in problem.models) + 1
    caps = range(0, top + 1) if optimum is None else range(max(0, optimum - 3), optimum + 2)
    search = _Search(problem, 10**7, float("inf"), kind)
    for cap in caps:
        out = search.run(cap, 10**6)
        if out.status == "feasible":
            assert optimum is not None and optimum <= out.cap <= cap
            assert out.starts is not None
            check_layout(problem, out.starts, cap)
        elif out.status == "infeasible":
            assert optimum is None or cap < optimum
        else:
            assert out.status == "unknown", out
            assert any(m.memory for m in problem.models)


@pytest.mark.parametrize("seed", range(150, 250))
def test_sweep_bound_and_layout_bracket_the_optimum(seed: int) -> None:
    problem = build_problem(tiny_mix(seed, ranges=False), False)
    optimum = brute_force(problem)
    upper = sum(m.demand[0] for m in problem.models) + 1
    result = sweep(problem, 0, upper, 200_000)
    if optimum is None:
        assert result.peak is None
        return
    assert result.bound <= optimum
    if result.peak is not None:
        assert result.assignment is not None
        assert result.peak == int_peak(problem, result.assignment) >= optimum
        check_layout(problem, {i: a[1][0] for i, a in result.assignment.items()}, result.peak)
    if result.proven:
        assert result.peak == optimum


def test_a_perfect_partition_is_found_and_proven() -> None:
    """Eight 1- and 2-core models whose loads fill four cores exactly: the sweep finds the
    layout at the energy floor, which proves it at once."""
    inst = Instance(cores=4, cores_per_chip=4, chip_memory_gib=32)
    sizes = [(2, 30), (2, 50), (1, 40), (1, 20), (1, 60), (1, 40), (1, 10), (1, 30)]
    models = tuple(
        Model(f"m{i}", cores=k, rate=rate, throughput=100) for i, (k, rate) in enumerate(sizes)
    )
    mix = Mix(models, inst)
    problem = build_problem(mix, False)
    result = sweep(problem, 0, 10**6, 100_000)
    assert result.proven
    assert result.peak == result.bound
    assert result.peak / problem.load_scale == pytest.approx(0.9)
    plan = optimize(mix, time_limit=5, deterministic=True)
    assert plan.status == Status.OPTIMAL
    assert plan.objective == pytest.approx(0.9)
    assert plan.stop_reason.startswith("optimal (core sweep)")
    assert plan.levels[0].name == "peak"
    assert plan.levels[0].status == "optimal (core sweep)"


def test_the_sweep_raises_the_bound_cp_sat_starts_from() -> None:
    """Three 1-core models of 0.6 on two cores: the energy floor is 0.9, but two of them share
    a core, so the peak is 1.2; the sweep proves every capacity below it infeasible."""
    inst = Instance(cores=2, cores_per_chip=2, chip_memory_gib=32)
    mix = Mix(tuple(Model(f"m{i}", rate=6, throughput=10) for i in range(3)), inst)
    problem = build_problem(mix, False)
    result = sweep(problem, 0, 10**6, 100_000)
    assert result.proven
    assert result.peak / problem.load_scale == pytest.approx(1.2)
    plan = optimize(mix, time_limit=5, deterministic=True)
    assert plan.status == Status.OPTIMAL
    assert plan.bound == pytest.approx(1.2)


def test_a_zero_budget_proves_nothing_and_finds_nothing() -> None:
    problem = build_problem(tiny_mix(3, ranges=False), False)
    result = sweep(problem, 0, 10**6, 0)
    assert result.steps == 0
    assert result.bound == 0
    assert result.peak is None


def test_the_sweep_is_deterministic() -> None:
    problem = build_problem(tiny_mix(11, ranges=False), False)
    first = sweep(problem, 0, 10**6, 5_000)
    second = sweep(problem, 0, 10**6, 5_000)
    assert first == second


def test_applicable_only_to_fixed_copy_counts_in_block_mode() -> None:
    inst = Instance(cores=4, cores_per_chip=4, chip_memory_gib=32)
    fixed = Mix((Model("a", replicas=2, rate=1, throughput=10),), inst)
    assert applicable(build_problem(fixed, False))
    assert not applicable(build_problem(fixed, True))
    ranged = Mix((Model("a", replicas=(1, 2), rate=1, throughput=10),), inst)
    assert not applicable(build_problem(ranged, False))
    big = Instance(cores=64, cores_per_chip=4, chip_memory_gib=32)
    many = Mix(tuple(Model(f"m{i}", rate=1, throughput=1000) for i in range(MAX_MODELS + 1)), big)
    assert not applicable(build_problem(many, False))


@pytest.mark.parametrize("seed", range(250, 290))
def test_proofs_only_return_a_layout_only_when_it_meets_the_bound(seed: int) -> None:
    problem = build_problem(tiny_mix(seed, ranges=False), False)
    optimum = brute_force(problem)
    upper = sum(m.demand[0] for m in problem.models) + 1
    result = sweep(problem, 0, upper, 50_000, find=False)
    assert optimum is None or result.bound <= optimum
    if result.peak is not None:
        assert result.proven and result.peak == optimum
    refuted = [out.cap for out in result.tries if out.status == "infeasible"]
    assert result.bound == (result.peak if result.proven else max(refuted, default=-1) + 1)
    doubling = [min(2 ** (i + 1) - 2, upper - 1) for i in range(len(result.tries))]
    for out, cap in zip(result.tries, doubling, strict=True):
        assert out.cap == cap or out.status == "feasible"
        if out.status != "infeasible":
            break
    best: int | None = None
    for out in result.tries:
        if best is not None:
            assert out.cap == best - 1 or (out.status == "feasible" and out.cap < best - 1)
        if out.status == "limit":
            break
        if out.status == "feasible":
            best = out.cap


def test_the_mirror_rule_takes_the_widest_unique_unit_and_no_pins() -> None:
    """Two identical 1-core models, a 2-core one and a 3-core one on eight cores: the 3-core
    model is the widest unit of its own type, so it starts by core (8 - 3) // 2 = 2; a pinned
    model turns the rule off (the mirror image of a pin is not a pin)."""
    inst = Instance(cores=8, cores_per_chip=4, chip_memory_gib=32)
    models = (
        Model("a", rate=2, throughput=10),
        Model("b", rate=2, throughput=10),
        Model("c", cores=2, rate=3, throughput=10),
        Model("d", cores=3, rate=1, throughput=10),
    )
    search = _Search(build_problem(Mix(models, inst), False), 10**6, float("inf"))
    assert search.types[search.mirror][0] == 3
    assert search.mirror_last == 2
    pinned = Mix((*models[:3], Model("d", cores=3, rate=1, throughput=10, start=5)), inst)
    assert mirror_rule(build_problem(pinned, False), search.types, search.count) == (-1, 0)
    twins = Mix(models[:2], inst)
    twin_search = _Search(build_problem(twins, False), 10**6, float("inf"))
    assert twin_search.mirror == -1


@pytest.mark.parametrize("seed", range(290, 330))
def test_layouts_found_start_the_mirror_unit_by_its_last_core(seed: int) -> None:
    """The search finds a layout at the optimum with the mirror unit in the left half."""
    problem = build_problem(tiny_mix(seed, ranges=False), False)
    optimum = brute_force(problem)
    search = _Search(problem, 10**7, float("inf"))
    if optimum is None or search.mirror < 0:
        return
    out = search.run(optimum, 10**6)
    assert out.status in ("feasible", "unknown")
    if out.starts is not None:
        unit = search.members[search.mirror][0]
        assert out.starts[unit] <= search.mirror_last


def test_room_no_unit_can_fill_is_waste_and_cut_at_once() -> None:
    """Three 1-core models of 0.3 on two cores at capacity 0.5: the energy leaves 0.1 of slack,
    but no subset of the loads fills a core beyond 0.3, so each core wastes 0.2 and the first
    state is cut without a branch."""
    inst = Instance(cores=2, cores_per_chip=2, chip_memory_gib=32)
    mix = Mix(tuple(Model(f"m{i}", rate=3, throughput=10) for i in range(3)), inst)
    problem = build_problem(mix, False)
    assert problem.load_scale == 10
    out = _Search(problem, 10**6, float("inf")).run(5, 10**6)
    assert out.status == "infeasible"
    assert out.steps == 1


def test_failed_states_are_remembered_across_orders(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2-core model and five 1-core ones on four cores, one unit below the optimum (0.74):
    the search reaches the same states in several orders and cuts the repeats, so it
    takes fewer steps than with nothing remembered, with the brute-force answer either way
    (without the mirror rule, which cuts most of the repeats here itself)."""
    monkeypatch.setattr(sweep_module, "mirror_rule", lambda *args: (-1, 0))
    inst = Instance(cores=4, cores_per_chip=4, chip_memory_gib=32)
    sizes = [(1, 46), (1, 26), (1, 41), (1, 40), (2, 34), (1, 16)]
    models = tuple(
        Model(f"m{i}", cores=k, rate=rate, throughput=100) for i, (k, rate) in enumerate(sizes)
    )
    problem = build_problem(Mix(models, inst), False)
    optimum = brute_force(problem)
    assert optimum == 74
    search = _Search(problem, 10**6, float("inf"))
    remembered = search.run(optimum - 1, 10**6)
    assert remembered.status == "infeasible"
    assert search.run(optimum, 10**6).status == "feasible"
    monkeypatch.setattr(sweep_module, "MEMO_BYTES", 0)
    forgotten = _Search(problem, 10**6, float("inf")).run(optimum - 1, 10**6)
    assert forgotten.status == "infeasible"
    assert remembered.steps < forgotten.steps


def test_int_peak_counts_each_copy_where_it_sits_in_split_mode() -> None:
    inst = Instance(cores=4, cores_per_chip=4, chip_memory_gib=32)
    mix = Mix(
        (Model("a", replicas=2, rate=6, throughput=10), Model("b", rate=1, throughput=10)), inst
    )
    split = build_problem(mix, True)
    assert split.load_scale == 10
    assert int_peak(split, {0: (2, (0, 2)), 1: (1, (2,))}) == 4
    block = build_problem(mix, False)
    assert int_peak(block, {0: (2, (1,)), 1: (1, (2,))}) == 4
    assert int_peak(block, {0: (2, (0,)), 1: (1, (3,))}) == 3
