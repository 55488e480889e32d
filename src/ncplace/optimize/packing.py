"""A lower bound on the peak from bin packing: dual feasible functions over the cores.

Think of every core as a bin of capacity ``L`` (the peak) and of a block of ``w = r k`` cores
carrying ``D`` per core as ``w`` items of size ``D``. A *dual feasible function* ``f`` maps item
sizes to weights so that items fitting in one bin have weights summing to at most the bin's
weight ``f(L)``; so if a layout has peak ``<= L``, summing over the cores,
``sum over items of f(D) <= N' f(L)``. When that fails for some ``f``, no layout has peak ``<= L``,
and ``L + 1`` is a lower bound: the bound is the smallest ``L`` every check lets through. Two
families, both with integer weights (so the check is exact):

- ``u_k`` (Fekete and Schepers), ``k = 1 .. K``: ``q_k(D) = ceil((k + 1) D / L) - 1`` against
  ``f(L) = k``. One bin holds items with ``sum D <= L``, and ``q_k(D) < (k + 1) D / L`` for every
  item, so their ``q_k`` sum to less than ``k + 1``. ``k = 1`` says that blocks carrying more
  than ``L / 2`` each need cores of their own; ``k = 2`` that two blocks above ``L / 3`` exclude
  a third, and so on.
- ``f_a``, ``0 <= a <= L / 2``: ``L`` for ``D > L - a`` (that item leaves less than ``a`` beside
  it, so every other item on its core counts 0), ``D`` for ``a <= D <= L - a``, ``0`` for
  ``D < a``, against ``f(L) = L``. ``a = 0`` is the energy bound ``N L >= sum w D``.

Which items and how many cores: a model whose copy count is chosen counts with the copy count
that gives it the smallest weight. When every exclusive model has a fixed copy count, its cores
hold nothing else: they leave the count (``N' = N - `` their width) with their items (their own
load is bounded by the single-copy bound). Pins and memory are ignored: a relaxation, so the
bound holds for every layout of the model (block or split). Loads are the scaled integers of
:mod:`.problem`; rounded-down loads keep the bound below the true optimum.

Measured (``benchmarks.generator`` ``scale`` mixes of 16 models on inf1.6xlarge, seeds 0-4):
the bound rises from the energy bound 0.70 to 0.740 / 0.758 / 0.786 / 0.723 / 0.723 (two of these
mixes end with gap 5.5 % and 2.0 % instead of 11.6 % and 7.7 % at the same search); on 20-40
models of the same family it adds nothing to the energy bound (items are small).
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

from .problem import Problem

U_FAMILY = 6
"""The ``u_k`` functions tried: ``k = 1 .. U_FAMILY``."""

SHIFTS = 48
"""At most this many thresholds ``a`` of the ``f_a`` family are tried at each ``L``."""


@dataclass(frozen=True)
class _Items:
    """Fixed-size items sorted by size, with suffix sums; plus the models with a choice."""

    sizes: list[int]
    width_after: list[int]
    energy_between: list[int]
    choices: list[list[tuple[int, int]]]
    cores: int

    def width_above(self, t: int) -> int:
        """Total width of the fixed items of size ``> t``."""
        return self.width_after[bisect.bisect_right(self.sizes, t)]

    def energy(self, lo: int, hi: int) -> int:
        """``sum w D`` over fixed items with ``lo <= D <= hi``."""
        i = bisect.bisect_left(self.sizes, lo)
        j = bisect.bisect_right(self.sizes, hi)
        return self.energy_between[j] - self.energy_between[i] if j > i else 0


def _items(problem: Problem) -> _Items:
    exclusive = [m for m in problem.models if m.exclusive]
    drop = bool(exclusive) and all(len(m.replicas) == 1 for m in exclusive)
    cores = problem.cores - (sum(m.min_width for m in exclusive) if drop else 0)
    fixed: list[tuple[int, int]] = []
    choices = []
    for m in problem.models:
        if drop and m.exclusive:
            continue
        options = [(r * m.cores, d) for r, d in zip(m.replicas, m.demand, strict=True)]
        if len(options) == 1:
            fixed.append((options[0][1], options[0][0]))
        else:
            choices.append(options)
    fixed.sort()
    sizes = [d for d, _ in fixed]
    widths = [w for _, w in fixed]
    width_after = list(itertools.accumulate(reversed(widths), initial=0))[::-1]
    energy_between = list(itertools.accumulate((w * d for d, w in fixed), initial=0))
    return _Items(sizes, width_after, energy_between, choices, cores)


def _u(items: _Items, peak: int, k: int) -> bool:
    """True when ``u_k`` proves that no layout has peak ``<= peak``."""
    total = sum(items.width_above((j * peak) // (k + 1)) for j in range(1, k + 1))
    for options in items.choices:
        total += min(w * max(0, math.ceil((k + 1) * d / peak) - 1) for w, d in options)
    return total > k * items.cores


def _f(items: _Items, peak: int, a: int) -> bool:
    """True when ``f_a`` proves that no layout has peak ``<= peak``."""
    total = peak * items.width_above(peak - a) + items.energy(a, peak - a)
    for options in items.choices:
        total += min(w * (peak if d > peak - a else (d if d >= a else 0)) for w, d in options)
    return total > items.cores * peak


def _shifts(items: _Items, peak: int) -> list[int]:
    sizes = sorted(
        {d for d in items.sizes if d <= peak // 2}
        | {d for o in items.choices for _, d in o if d <= peak // 2}
    )
    if len(sizes) > SHIFTS:
        step = len(sizes) / SHIFTS
        sizes = [sizes[int(i * step)] for i in range(SHIFTS)]
    return [0, *sizes]


def _excluded(items: _Items, peak: int) -> bool:
    if peak <= 0:
        return True
    if any(_u(items, peak, k) for k in range(1, U_FAMILY + 1)):
        return True
    return any(_f(items, peak, a) for a in _shifts(items, peak))


def packing_bound(problem: Problem, lo: int, hi: int) -> int:
    """The smallest integer peak in ``[lo, hi]`` not excluded by the checks (see module doc),
    found by bisection: any excluded ``L`` proves every peak ``<= L`` impossible, so the result is
    a valid bound whether or not the checks are monotone in ``L``."""
    if problem.cores <= 0 or not problem.models or hi <= lo:
        return lo
    items = _items(problem)
    if items.cores <= 0:
        return lo
    bound = lo
    a, b = lo, hi - 1
    while a <= b:
        mid = (a + b) // 2
        if _excluded(items, mid):
            bound = max(bound, mid + 1)
            a = mid + 1
        else:
            b = mid - 1
    return bound
