"""A lower bound on the peak from the LP relaxation of bin packing, certified exactly.

The relaxation. Cut every block of ``w = r k`` cores carrying ``D`` per core into ``w`` single-core
*slices* of size ``D``, forget contiguity, pins and memory, and keep one rule: a core holds at most
one slice of each model. Slices of the same size are one *item type* ``t``: size ``s_t``, demand
``b_t`` (the slices of every model of that size) and at most ``u_t`` per core (the number of
such models). The shared cores (all of them less the fixed width of exclusive models, which
share nothing) are bins of capacity ``C``. If some layout has peak ``<= C``, its cores are ``N'``
bins, each filled by a *pattern* ``a`` (``a_t <= u_t``, ``sum_t a_t s_t <= C``), so the LP

    min sum_p x_p   s.t.   sum_p a_{t,p} x_p >= b_t (every t),   x >= 0

(Gilmore and Gomory's; the arc-flow model of the issue is the same LP written over a graph of
partial fills) has a value at most ``N'``. It is solved by column generation: GLOP solves the
LP over the patterns found so far, and a bounded knapsack over the duals ``y`` prices the best
new pattern.

The certificate (no tolerance test). Any ``y >= 0`` with ``sum_t a_t y_t <= V`` for every
pattern ``a`` gives the LP the lower bound ``sum_t b_t y_t / V`` (weak duality, after dividing
``y`` by ``V``). The duals are rounded down to integers ``Y_t = floor(2**30 y_t)`` and ``V`` is
the exact maximum of ``sum_t a_t Y_t`` over the patterns (an integer knapsack), so the test
``sum_t b_t Y_t > N' V`` is integer arithmetic and, when it holds, proves that no layout has peak
``<= C`` whatever the floating-point errors of the LP. The same knapsack prices the next
pattern, and ``sum_t b_t Y_t / V`` is also Farley's bound, valid before the column generation
converges: a capacity is often excluded after a few iterations.

:func:`lp_bound` finds the least capacity in a range that the test does not exclude, by
bisection (the LP value does not increase with ``C``, so the excluded capacities form a prefix;
the bound stays valid even if numerical trouble broke that). Patterns found at one capacity stay
patterns at every higher one and seed its column generation.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .problem import Problem

DUAL_SCALE = 1 << 30
"""Duals are rounded down to multiples of ``1 / DUAL_SCALE`` for the exact certificate."""

MAX_CAPACITY = 1 << 16
"""The largest capacity the knapsack tables cover (one int64 per unit of load); above it (loads
under the ``2**40`` fallback scale) :func:`lp_bound` works on loads rounded down to a coarser
scale (:func:`coarsen`)."""

MAX_ITERATIONS = 400
"""Column generation iterations per capacity; past them the capacity is not excluded."""

SOLVES_PER_SECOND = 500
"""LP solves (column generation iterations, each with its knapsack) per nominal second of
``time_limit``: measured 1.5-2 ms each on the benchmark's ``scale`` mixes of 20-40 models on 16
cores (CPython 3.11, 2 cores shared with another run), so the bound is charged about the time it
takes, by a count that is the same on every run."""

PRICE_TOLERANCE = 1e-9
"""A pattern enters the LP when its priced value exceeds ``1 + PRICE_TOLERANCE`` (only the speed
of convergence depends on it; exclusions are certified exactly)."""


@dataclass(frozen=True)
class Items:
    """Item types of the relaxation: ``sizes[t]`` (distinct, positive), ``demand[t]`` slices,
    at most ``per_core[t]`` per core, on ``cores`` shared cores."""

    sizes: tuple[int, ...]
    demand: tuple[int, ...]
    per_core: tuple[int, ...]
    cores: int


@dataclass(frozen=True)
class LpBound:
    """What :func:`lp_bound` proved: no layout has an integer peak below ``bound``. ``solves``
    counts the LPs solved (column generation iterations over every capacity tried) and
    ``capacities`` the capacities tested, each with whether it was excluded; ``wall_cut``: the
    wall-clock safety limit stopped the bisection (the bound may then vary between runs)."""

    bound: int
    solves: int
    capacities: tuple[tuple[int, bool], ...]
    wall_cut: bool = False


def items_of(problem: Problem) -> Items | None:
    """The relaxation's items, or None when a model may take several copy counts (its slices
    would not be fixed). Exclusive models take their cores out of the bins."""
    if any(len(m.replicas) != 1 for m in problem.models):
        return None
    demand: dict[int, int] = {}
    per_core: dict[int, int] = {}
    cores = problem.cores
    for m in problem.models:
        if m.exclusive:
            cores -= m.min_width
            continue
        d = m.demand[0]
        if d > 0:
            demand[d] = demand.get(d, 0) + m.min_width
            per_core[d] = per_core.get(d, 0) + 1
    sizes = tuple(sorted(demand, reverse=True))
    return Items(sizes, tuple(demand[d] for d in sizes), tuple(per_core[d] for d in sizes), cores)


def coarsen(items: Items, factor: int) -> Items:
    """The items with every size divided by ``factor`` and rounded down. A layout with peak
    ``<= C`` has coarse peak ``<= C // factor`` (a sum of rounded-down parts is at most the
    rounded-down sum), so a coarse capacity ``c`` excluded proves every fine ``C`` with
    ``C // factor <= c`` impossible, i.e. every ``C < (c + 1) * factor``."""
    merged: dict[int, tuple[int, int]] = {}
    for s, b, u in zip(items.sizes, items.demand, items.per_core, strict=True):
        c = s // factor
        if c > 0:
            old = merged.get(c, (0, 0))
            merged[c] = (old[0] + b, old[1] + u)
    sizes = tuple(sorted(merged, reverse=True))
    return Items(
        sizes,
        tuple(merged[c][0] for c in sizes),
        tuple(merged[c][1] for c in sizes),
        items.cores,
    )


def knapsack(
    sizes: tuple[int, ...], limits: tuple[int, ...], values: list[int], cap: int
) -> tuple[int, list[int]]:
    """The exact maximum of ``sum_t a_t values[t]`` over ``a_t <= limits[t]`` (non-negative
    integers) with ``sum_t a_t sizes[t] <= cap``, and one maximiser ``a``. Bounded items are
    split into 0-1 chunks of 1, 2, 4, ... copies; values are integers below ``2**62 / cap``
    in total, so the int64 table is exact."""
    best = np.zeros(cap + 1, dtype=np.int64)
    chunks: list[tuple[int, int, np.ndarray]] = []
    for t, (s, u, v) in enumerate(zip(sizes, limits, values, strict=True)):
        if v <= 0 or s > cap:
            continue
        left = min(u, cap // s)
        q = 1
        while left > 0:
            take = min(q, left)
            left -= take
            q *= 2
            w = take * s
            gain = best[: cap + 1 - w] + take * v
            took = np.zeros(cap + 1, dtype=bool)
            took[w:] = gain > best[w:]
            best[w:] = np.maximum(best[w:], gain)
            chunks.append((t, take, took))
    pattern = [0] * len(sizes)
    c = cap
    for t, take, took in reversed(chunks):
        if took[c]:
            pattern[t] += take
            c -= take * sizes[t]
    return int(best[cap]), pattern


@dataclass
class _ColumnGeneration:
    """The LP over a growing pool of patterns (kept across capacities)."""

    items: Items
    pool: list[tuple[int, ...]] = field(default_factory=list)
    solves: int = 0
    max_solves: int = 1 << 62

    def excluded(self, cap: int) -> bool:
        """True when the certificate proves that no packing into ``items.cores`` bins of
        capacity ``cap`` exists (module doc); False when the LP fits, or the iterations or
        ``max_solves`` ran out."""
        from ortools.linear_solver import pywraplp

        it = self.items
        if it.cores <= 0:
            return bool(it.sizes)
        if not it.sizes:
            return False
        if it.sizes[0] > cap:
            return True
        solver = pywraplp.Solver.CreateSolver("GLOP")
        assert solver is not None
        rows = [solver.Constraint(float(b), solver.infinity()) for b in it.demand]
        objective = solver.Objective()
        objective.SetMinimization()

        def add(pattern: tuple[int, ...]) -> None:
            x = solver.NumVar(0.0, solver.infinity(), "")
            objective.SetCoefficient(x, 1.0)
            for row, a in zip(rows, pattern, strict=True):
                if a:
                    row.SetCoefficient(x, float(a))

        columns = [p for p in self.pool if _weight(it, p) <= cap]
        for t, s in enumerate(it.sizes):
            single = [0] * len(it.sizes)
            single[t] = min(it.per_core[t], cap // s)
            columns.append(tuple(single))
        for p in dict.fromkeys(columns):
            add(p)
        for _ in range(MAX_ITERATIONS):
            if self.solves >= self.max_solves:
                return False
            status = solver.Solve()
            self.solves += 1
            if status != pywraplp.Solver.OPTIMAL:
                return False
            if objective.Value() <= it.cores:
                return False
            duals = [max(0, math.floor(row.dual_value() * DUAL_SCALE)) for row in rows]
            top, pattern = knapsack(it.sizes, it.per_core, duals, cap)
            gained = sum(b * y for b, y in zip(it.demand, duals, strict=True))
            if gained > it.cores * top:
                return True
            if top <= DUAL_SCALE * (1 + PRICE_TOLERANCE):
                return False
            self.pool.append(tuple(pattern))
            add(tuple(pattern))
        return False


def _weight(items: Items, pattern: tuple[int, ...]) -> int:
    return sum(a * s for a, s in zip(pattern, items.sizes, strict=True))


def lp_bound(
    problem: Problem,
    lo: int,
    hi: int,
    max_solves: int = 1 << 62,
    wall_limit_s: float = math.inf,
) -> LpBound:
    """The least integer peak in ``[lo, hi]`` that the certified LP test does not exclude (``lo``
    when the relaxation does not apply): no layout has a peak below it. Bisection; see the module
    doc. At most ``max_solves`` LPs are solved and the bisection stops after ``wall_limit_s``
    seconds (a safety limit); what was excluded by then stays proven."""
    items = items_of(problem)
    if items is None or hi <= lo:
        return LpBound(lo, 0, ())
    factor = max(1, math.ceil(hi / MAX_CAPACITY))
    if factor > 1:
        items = coarsen(items, factor)
    cg = _ColumnGeneration(items, max_solves=max_solves)
    deadline = time.perf_counter() + wall_limit_s
    tried: list[tuple[int, bool]] = []
    bound = lo
    a, b = lo, hi - 1
    while a <= b and cg.solves < max_solves:
        if time.perf_counter() > deadline:
            return LpBound(bound, cg.solves, tuple(tried), wall_cut=True)
        mid = (a + b) // 2
        coarse = mid // factor
        out = cg.excluded(coarse)
        tried.append((mid, out))
        if out:
            proved = (coarse + 1) * factor
            bound = max(bound, min(proved, hi))
            a = max(mid, proved - 1) + 1
        else:
            b = mid - 1
    return LpBound(bound, cg.solves, tuple(tried))
