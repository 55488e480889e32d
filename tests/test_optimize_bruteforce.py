"""The optimizer against brute-force enumeration on seeded random tiny mixes.

The enumeration lists every placement the model allows (block mode: one start and copy count per
model; split mode: a copy count and a set of disjoint copy starts), keeps those meeting the hard
rules (exclusive, per-chip memory, pinned start), and takes the lexicographic minimum of
(peak, overlap). The feasible baseline policies join the candidates, since the optimizer promises
never to be worse than any of them. The optimizer must match that minimum exactly.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import pytest

import ncplace
from ncplace import ConfigError, Instance, Mix, Model, Status, optimize, score
from ncplace.optimize.baselines import run_baselines
from ncplace.optimize.problem import allowed_replicas

TOL = 1e-9


def tiny_mix(seed: int, ranges: bool = True) -> Mix:
    """A valid random mix of 1-5 models on 4 or 6 cores (exclusivity, memory, pins, and with
    ``ranges`` at most one model whose copy count is ``"auto"`` or a range)."""
    rng = random.Random(seed)
    while True:
        cores = rng.choice([4, 6])
        per_chip = rng.choice([2, 4] if cores == 4 else [2, 3])
        inst = Instance(cores=cores, cores_per_chip=per_chip, chip_memory_gib=rng.choice([2, 4, 8]))
        models = []
        variable = False
        for i in range(rng.randint(1, 5)):
            k = rng.choice([1, 1, 2] + ([3] if cores == 6 else []))
            replicas: int | str | tuple[int, int] = rng.choice([1, 1, 1, 2])
            if ranges and not variable and rng.random() < 0.2:
                replicas = rng.choice(["auto", (1, 2)])
                variable = True
            demand = rng.random() < 0.6
            rate = rng.choice([1, 2, 3, 5]) if demand else None
            throughput = rng.choice([2, 4, 3]) if demand else None
            memory = rng.choice([0.5, 1.0, 2.0, 3.0]) if rng.random() < 0.4 else None
            width = k * (replicas if isinstance(replicas, int) else 1)
            start = (
                rng.randrange(0, cores - width + 1)
                if rng.random() < 0.12 and width <= cores
                else None
            )
            models.append(
                Model(
                    f"m{i}",
                    cores=k,
                    replicas=replicas,
                    rate=rate,
                    throughput=throughput,
                    exclusive=rng.random() < 0.25,
                    memory_gib=memory,
                    start=start,
                )
            )
        try:
            return Mix(models, instance=inst)
        except ConfigError:
            continue


def block_options(mix: Mix, index: int) -> list[list[tuple[int, ...]]]:
    """Every block of model ``index``: a list of copies (tuples of cores)."""
    m = mix.models[index]
    n = mix.instance.cores
    out = []
    for r in allowed_replicas(mix, index):
        width = r * m.cores
        starts = [m.start] if m.start is not None else range(n - width + 1)
        for s in starts:
            if s + width <= n:
                out.append([tuple(range(s + j * m.cores, s + (j + 1) * m.cores)) for j in range(r)])
    return out


def split_options(mix: Mix, index: int) -> list[list[tuple[int, ...]]]:
    """Every set of disjoint copies of model ``index`` (the lowest at the pin when pinned)."""
    m = mix.models[index]
    n = mix.instance.cores
    out = []
    for r in allowed_replicas(mix, index):
        for starts in itertools.combinations(range(n - m.cores + 1), r):
            if any(b < a + m.cores for a, b in itertools.pairwise(starts)):
                continue
            if m.start is not None and starts[0] != m.start:
                continue
            out.append([tuple(range(s, s + m.cores)) for s in starts])
    return out


def evaluate(mix: Mix, choice: tuple[list[tuple[int, ...]], ...]) -> tuple[float, int] | None:
    """(peak, overlap) of a choice, or None when it breaks a hard rule."""
    inst = mix.instance
    n = inst.cores
    loads = [0.0] * n
    copies = [0] * n
    exclusive_cores: set[int] = set()
    memory = [0.0] * inst.chips
    for m, blocks in zip(mix.models, choice, strict=True):
        share = m.demand / len(blocks)
        for block in blocks:
            for c in block:
                loads[c] += share
                copies[c] += 1
                memory[inst.chip_of(c)] += (m.memory_gib or 0.0) / m.cores
                if m.exclusive:
                    exclusive_cores.add(c)
    if any(copies[c] > 1 for c in exclusive_cores):
        return None
    if any(used > inst.chip_memory_gib + 1e-9 for used in memory):  # type: ignore[operator]
        return None
    return max(loads), sum(max(0, k - 1) for k in copies)


def brute_force(mix: Mix, split: bool) -> tuple[float, int] | None:
    """The lexicographic minimum of (peak, overlap) over the model and the feasible baselines."""
    options = [(split_options if split else block_options)(mix, i) for i in range(len(mix.models))]
    best: tuple[float, int] | None = None
    for choice in itertools.product(*options):
        value = evaluate(mix, choice)
        if value is not None and (best is None or _less(value, best)):
            best = value
    for b in run_baselines(mix):
        value = (b.score.peak_load, b.score.overlap)
        if best is None or _less(value, best):
            best = value
    return best


def _full_key(mix: Mix, choice: tuple[list[tuple[int, ...]], ...]) -> tuple[float, ...] | None:
    """(peak, overlap, chip crossings, highest used core + 1), or None when infeasible."""
    value = evaluate(mix, choice)
    if value is None:
        return None
    inst = mix.instance
    copies = [copy for blocks in choice for copy in blocks]
    crossings = sum(1 for copy in copies if len({inst.chip_of(c) for c in copy}) > 1)
    high = max(c for copy in copies for c in copy) + 1
    return (round(value[0], 9), value[1], crossings, high)


def _less(a: tuple[float, int], b: tuple[float, int]) -> bool:
    if a[0] < b[0] - TOL:
        return True
    return abs(a[0] - b[0]) <= TOL and a[1] < b[1]


def _seeds() -> Iterator[int]:
    return iter(range(60))


def check_certificate(plan: ncplace.Plan, mix: Mix) -> None:
    assert plan.layout is not None
    s = score(plan.layout, mix)
    assert s.feasible
    assert s.peak_load == pytest.approx(plan.objective, abs=1e-6)
    assert plan.peak_load == pytest.approx(s.peak_load, abs=1e-12)
    assert plan.overlap == s.overlap
    assert plan.bound <= plan.objective + 1e-9
    for m in mix.models:
        if m.start is not None:
            assert min(c for p in plan.layout.placements_of(m.name) for c in p.cores) == m.start


@pytest.mark.parametrize("seed", list(_seeds()))
def test_block_mode_matches_brute_force(seed: int) -> None:
    mix = tiny_mix(seed)
    expected = brute_force(mix, split=False)
    plan = optimize(mix, time_limit=5.0)
    if expected is None:
        assert plan.status == Status.INFEASIBLE
        assert plan.layout is None
        assert plan.explanation
        assert any(repr(m.name) in plan.explanation for m in mix.models)
        return
    check_certificate(plan, mix)
    assert plan.status == Status.OPTIMAL
    assert plan.gap == 0.0
    assert plan.peak_load == pytest.approx(expected[0], abs=1e-9)
    assert plan.overlap == expected[1]


@pytest.mark.parametrize("seed", list(range(0, 60, 3)))
def test_split_mode_matches_brute_force(seed: int) -> None:
    mix = tiny_mix(seed)
    expected = brute_force(mix, split=True)
    plan = optimize(mix, time_limit=5.0, split_replicas=True)
    if expected is None:
        assert plan.status == Status.INFEASIBLE
        assert plan.explanation
        return
    check_certificate(plan, mix)
    assert plan.status == Status.OPTIMAL
    assert plan.peak_load == pytest.approx(expected[0], abs=1e-9)
    assert plan.overlap == expected[1]


@pytest.mark.parametrize("seed", list(range(1, 60, 4)))
def test_overlap_objective_matches_brute_force(seed: int) -> None:
    mix = tiny_mix(seed)
    options = [block_options(mix, i) for i in range(len(mix.models))]
    values = [v for c in itertools.product(*options) if (v := evaluate(mix, c)) is not None]
    values += [(b.score.peak_load, b.score.overlap) for b in run_baselines(mix)]
    plan = optimize(mix, time_limit=5.0, objective="overlap")
    if not values:
        assert plan.status == Status.INFEASIBLE
        return
    best = min(values, key=lambda v: (v[1], v[0]))
    check_certificate_overlap(plan, mix)
    assert plan.overlap == best[1]
    assert plan.objective == best[1]
    assert plan.peak_load == pytest.approx(min(p for p, o in values if o == best[1]), abs=1e-9)


def check_certificate_overlap(plan: ncplace.Plan, mix: Mix) -> None:
    assert plan.layout is not None
    s = score(plan.layout, mix)
    assert s.feasible
    assert s.overlap == plan.objective
    assert plan.bound <= plan.objective + 1e-9
    assert plan.objective_name == "overlap"


def test_tiny_generator_covers_the_rules() -> None:
    mixes = [tiny_mix(s) for s in _seeds()]
    assert any(m.exclusive for mix in mixes for m in mix.models)
    assert any(m.memory_gib for mix in mixes for m in mix.models)
    assert any(m.start is not None for mix in mixes for m in mix.models)
    assert any(not m.fixed_replicas for mix in mixes for m in mix.models)
    outcomes = [brute_force(mix, split=False) is None for mix in mixes]
    assert any(outcomes) and not all(outcomes)


@pytest.mark.parametrize("seed", list(range(2, 60, 3)))
def test_every_level_matches_brute_force(seed: int) -> None:
    """Block mode, all four levels (peak, overlap, crossings, high end) on the solver's layouts."""
    mix = tiny_mix(seed)
    plan = optimize(mix, time_limit=5.0)
    if plan.layout is None or plan.source != "cp-sat":
        return
    options = [block_options(mix, i) for i in range(len(mix.models))]
    keys = [k for c in itertools.product(*options) if (k := _full_key(mix, c)) is not None]
    expected = min(keys)
    s = score(plan.layout, mix)
    high = max(c for _, copy in plan.layout.copies() for c in copy) + 1
    assert (round(s.peak_load, 9), s.overlap, s.chip_crossings, high) == expected


@pytest.mark.parametrize("split", [False, True])
def test_packing_bound_never_exceeds_the_brute_force_optimum(split: bool) -> None:
    """The bin-packing bound holds for every layout of the model, block or split."""
    from ncplace.optimize.packing import packing_bound
    from ncplace.optimize.problem import build_problem

    raised = 0
    for seed in range(60):
        mix = tiny_mix(seed)
        options = [
            (split_options if split else block_options)(mix, i) for i in range(len(mix.models))
        ]
        peaks = [v[0] for c in itertools.product(*options) if (v := evaluate(mix, c))]
        if not peaks:
            continue
        problem = build_problem(mix, split)
        single = max(min(m.demand) for m in problem.models)
        energy = sum(
            min(r * m.cores * d for r, d in zip(m.replicas, m.demand, strict=True))
            for m in problem.models
        )
        lo = max(single, -(-energy // problem.cores))
        bound = packing_bound(problem, lo, sum(max(m.demand) for m in problem.models))
        assert bound / problem.load_scale <= min(peaks) + TOL, seed
        raised += bound > lo
    assert raised >= 5  # above the single-copy and energy bounds on several mixes
