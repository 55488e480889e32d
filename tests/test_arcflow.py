"""The certified LP bound of ncplace.optimize.arcflow against brute force.

The bound must never exceed the optimum of the block model (brute-force enumeration of every
layout) nor the optimum of the relaxation itself (every assignment of slices to cores); it must
see what the energy floor cannot (a core holds one slice of a model, items that do not pair);
and its knapsack, which both prices patterns and certifies exclusions, must be exact.
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncplace import Instance, Mix, Model
from ncplace.optimize import arcflow
from ncplace.optimize.arcflow import Items, coarsen, items_of, knapsack, lp_bound
from ncplace.optimize.problem import build_problem
from tests.test_optimize_bruteforce import tiny_mix
from tests.test_sweep import brute_force


def relaxation_optimum(items: Items) -> int | None:
    """The least capacity at which the slices fit the cores with at most ``per_core[t]`` of
    type ``t`` on a core, by trying every assignment of slices to cores."""
    slices = [t for t, b in enumerate(items.demand) for _ in range(b)]
    if not slices:
        return 0
    if items.cores <= 0:
        return None
    best: int | None = None
    for cores in itertools.product(range(items.cores), repeat=len(slices)):
        load = [0] * items.cores
        count = [[0] * len(items.sizes) for _ in range(items.cores)]
        for t, c in zip(slices, cores, strict=True):
            load[c] += items.sizes[t]
            count[c][t] += 1
        if any(
            count[c][t] > items.per_core[t]
            for c in range(items.cores)
            for t in range(len(items.sizes))
        ):
            continue
        peak = max(load)
        best = peak if best is None else min(best, peak)
    return best


def two_level(*models: Model, cores: int = 2) -> Mix:
    return Mix(models, Instance(cores=cores, cores_per_chip=cores, chip_memory_gib=32))


@pytest.mark.parametrize("seed", range(120))
def test_the_lp_bound_is_never_above_the_brute_force_optimum(seed: int) -> None:
    problem = build_problem(tiny_mix(seed, ranges=False), False)
    optimum = brute_force(problem)
    top = sum(m.demand[0] * m.min_width for m in problem.models) + 1
    result = lp_bound(problem, 0, top)
    assert 0 <= result.bound <= top
    if optimum is not None:
        assert result.bound <= optimum


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 12), st.integers(1, 3), st.integers(1, 2)),
        min_size=1,
        max_size=4,
    ),
    st.integers(2, 3),
)
def test_the_lp_bound_is_never_above_the_relaxation_optimum(
    spec: list[tuple[int, int, int]], cores: int
) -> None:
    """Random item types (size, slices, per core) on 2-3 cores, at most 7 slices: the bound is at
    most the least capacity that fits, and every capacity it does not exclude from that one up
    is not excluded either (the test is monotone on these)."""
    merged: dict[int, tuple[int, int]] = {}
    for size, slices, per_core in spec:
        old = merged.get(size, (0, 0))
        merged[size] = (old[0] + slices, old[1] + per_core)
    sizes = tuple(sorted(merged, reverse=True))
    items = Items(
        sizes, tuple(merged[s][0] for s in sizes), tuple(merged[s][1] for s in sizes), cores
    )
    if sum(items.demand) > 7:
        return
    optimum = relaxation_optimum(items)
    cg = arcflow._ColumnGeneration(items)
    top = sum(s * b for s, b in zip(items.sizes, items.demand, strict=True)) + 1
    excluded = [cap for cap in range(top + 1) if cg.excluded(cap)]
    if optimum is None:
        return
    assert all(cap < optimum for cap in excluded)
    floor = math.ceil(sum(s * b for s, b in zip(sizes, items.demand, strict=True)) / cores)
    assert all(cap in excluded for cap in range(floor))


def test_pairs_that_do_not_fit_lift_the_bound_above_the_energy_floor() -> None:
    """Three 1-core models of 0.7 on two cores: the energy floor is 1.05, but below 1.4 no two
    share a core, so three cores would be needed: the bound is the optimum, 1.4."""
    mix = two_level(*(Model(f"m{i}", rate=7, throughput=10) for i in range(3)))
    problem = build_problem(mix, False)
    assert problem.load_scale == 10
    result = lp_bound(problem, 11, 100)
    assert result.bound == 14
    assert (13, True) in result.capacities
    assert brute_force(problem) == 14


def test_a_core_holds_one_slice_of_a_model() -> None:
    """A 2-core model of 0.1 and a 1-core model of 0.3 on two cores: the energy floor is 0.25,
    but the two slices of the first model cannot share a core, so one core carries 0.1 + 0.3."""
    mix = two_level(Model("a", cores=2, rate=1, throughput=10), Model("b", rate=3, throughput=10))
    problem = build_problem(mix, False)
    assert items_of(problem) == Items((3, 1), (1, 2), (1, 1), 2)
    assert lp_bound(problem, 3, 100).bound == 4 == brute_force(problem)


def test_exclusive_models_take_their_cores_out_of_the_bins() -> None:
    mix = two_level(
        Model("x", rate=1, throughput=10, exclusive=True),
        Model("a", rate=3, throughput=10),
        Model("b", rate=3, throughput=10),
        cores=3,
    )
    problem = build_problem(mix, False)
    assert items_of(problem) == Items((3,), (2,), (2,), 2)
    assert lp_bound(problem, 0, 100).bound == 3


def test_models_with_a_choice_of_copy_counts_are_left_to_other_bounds() -> None:
    mix = two_level(Model("a", replicas=(1, 2), rate=3, throughput=10))
    problem = build_problem(mix, False)
    assert items_of(problem) is None
    assert lp_bound(problem, 2, 100) == arcflow.LpBound(2, 0, ())


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 9), st.integers(1, 3), st.integers(0, 50)), max_size=4),
    st.integers(0, 20),
)
def test_the_knapsack_is_exact(spec: list[tuple[int, int, int]], cap: int) -> None:
    sizes = tuple(s for s, _, _ in spec)
    limits = tuple(u for _, u, _ in spec)
    values = [v for _, _, v in spec]
    value, pattern = knapsack(sizes, limits, values, cap)
    best = 0
    for counts in itertools.product(*(range(u + 1) for u in limits)):
        if sum(a * s for a, s in zip(counts, sizes, strict=True)) <= cap:
            best = max(best, sum(a * v for a, v in zip(counts, values, strict=True)))
    assert value == best
    assert all(0 <= a <= u for a, u in zip(pattern, limits, strict=True))
    assert sum(a * s for a, s in zip(pattern, sizes, strict=True)) <= cap
    assert sum(a * v for a, v in zip(pattern, values, strict=True)) == best


def test_coarse_loads_give_a_bound_valid_for_the_fine_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the knapsack tables limited to 16 units of load, capacities up to 30 are divided by 2
    and loads of 7 rounded down to 3: coarse capacity 5 is excluded (no pair fits), which proves
    fine capacities below 12, a weaker bound than the fine 14 and still below the optimum."""
    mix = two_level(*(Model(f"m{i}", rate=7, throughput=10) for i in range(3)))
    problem = build_problem(mix, False)
    monkeypatch.setattr(arcflow, "MAX_CAPACITY", 16)
    result = lp_bound(problem, 11, 30)
    assert result.bound == 12
    assert coarsen(Items((6, 5), (2, 1), (2, 1), 2), 2) == Items((3, 2), (2, 1), (2, 1), 2)
    assert coarsen(Items((3, 2), (2, 1), (1, 1), 2), 3) == Items((1,), (2,), (1,), 2)


@pytest.mark.parametrize("seed", range(120, 160))
def test_coarse_bounds_are_never_above_the_optimum(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = build_problem(tiny_mix(seed, ranges=False), False)
    optimum = brute_force(problem)
    top = sum(m.demand[0] * m.min_width for m in problem.models) + 1
    monkeypatch.setattr(arcflow, "MAX_CAPACITY", max(1, top // 5))
    result = lp_bound(problem, 0, top)
    if optimum is not None:
        assert result.bound <= optimum


def test_the_bound_is_deterministic() -> None:
    problem = build_problem(tiny_mix(7, ranges=False), False)
    assert lp_bound(problem, 0, 500) == lp_bound(problem, 0, 500)
