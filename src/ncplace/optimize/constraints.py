"""The hard rules, and the peak-load constraint, on the variables of :mod:`.variables`.

Notation: ``N`` cores, chips of ``P`` cores holding ``M`` (scaled) memory, ``D_{m,r}`` the scaled
per-core load of a copy of ``m`` when it has ``r`` copies, ``L`` the peak-load variable.

- Peak: ``Cumulative(intervals, D, L)``: at every core the loads of the intervals covering it sum
  to at most ``L``; ``L``'s lower bound includes the bin-packing bound of :mod:`.packing`.
  Redundant linear cuts help the LP relaxation and the bound:
  ``L >= sum_r D_{m,r} y_{m,r}`` for each model, and the energy cut
  ``N L >= sum_m sum_r r k_m D_{m,r} y_{m,r}`` (total load is spread over at most ``N`` cores;
  over ``N - W`` cores for the non-exclusive models when the exclusive ones take a fixed ``W``).
- Blocks inside the instance: by the domains ``0 <= s`` and ``e <= N``.
- Exclusive: ``Cumulative(intervals, q, T)`` with ``T`` the number of non-exclusive intervals,
  ``q = T`` for an exclusive interval and ``1`` otherwise: any number of non-exclusive intervals
  may share a core, but an exclusive one (``T``) plus anything else exceeds ``T``. One global
  constraint instead of a ``NoOverlap`` per pair; exclusive intervals also get a redundant
  ``NoOverlap`` among themselves.
- Memory: per-core memory variables ``a_c >= sum_{u covering c} mem_u`` (one cumulative with
  filler intervals, see :func:`per_core`) and, for each chip ``h`` whose rule can bind,
  ``sum_{c in h} a_c <= M``; ``mem_u`` is the scaled memory per core of a copy.
- Pinned start: by the domain ``s_m = start`` (see :mod:`.variables`).
- Identical models (same :attr:`~.problem.ModelData.key`): ``s_a <= s_b`` in mix order, since
  swapping their placements changes nothing.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

from ortools.sat.python import cp_model

from .packing import packing_bound
from .problem import ModelData
from .variables import Unit, Variables


def peak_bounds(v: Variables) -> tuple[int, int]:
    """Integer bounds on the peak valid for every layout: per-model loads, energy, and the
    bin-packing bound of :mod:`.packing`."""
    p = v.problem
    if not p.models:
        return 0, 0
    single = max(min(m.demand) for m in p.models)
    energy = sum(
        min(r * m.cores * d for r, d in zip(m.replicas, m.demand, strict=True)) for m in p.models
    )
    lo = max(single, math.ceil(energy / p.cores))
    hi = max(lo, sum(max(m.demand) for m in p.models))
    return packing_bound(p, lo, hi), hi


def add_peak(v: Variables) -> cp_model.IntVar:
    """The peak-load variable ``L``, tied to the intervals by a cumulative constraint."""
    model, p = v.model, v.problem
    lo, hi = peak_bounds(v)
    peak = model.new_int_var(lo, hi, "peak")
    intervals = [i for u in v.units for i in u.intervals]
    demands = [_demand(u, i) for u in v.units for i in range(len(u.intervals))]
    model.add_cumulative(intervals, demands, peak)
    for m in p.models:
        model.add(peak >= _model_load(v, m))
    energy = {m.index: _energy(v, m) for m in p.models}
    model.add(p.cores * peak >= sum(energy.values()))
    exclusive = [m for m in p.models if m.exclusive]
    if exclusive and all(len(m.replicas) == 1 for m in exclusive):
        free = p.cores - sum(m.min_width for m in exclusive)
        others = [energy[m.index] for m in p.models if not m.exclusive]
        if others and free > 0:
            model.add(free * peak >= sum(others))
    return peak


def _demand(unit: Unit, i: int) -> cp_model.LinearExprT:
    return unit.demands[i] if len(unit.demands) > i else unit.demands[0]


def _model_load(v: Variables, m: ModelData) -> cp_model.LinearExprT:
    return sum(_times(d, lit) for d, (_, lit) in zip(m.demand, v.counts[m.index], strict=True))


def _energy(v: Variables, m: ModelData) -> cp_model.LinearExprT:
    return sum(
        _times(r * m.cores * d, lit)
        for d, (r, lit) in zip(m.demand, v.counts[m.index], strict=True)
    )


def _times(coef: int, lit: object) -> cp_model.LinearExprT:
    if isinstance(lit, bool):
        return coef * int(lit)
    return coef * lit  # type: ignore[operator]


def add_exclusive(v: Variables) -> None:
    """No core of an exclusive model's block is covered by any other block (see module doc)."""
    exclusive = [i for u in v.units if u.model.exclusive for i in u.intervals]
    if not exclusive:
        return
    others = [i for u in v.units if not u.model.exclusive for i in u.intervals]
    model = v.model
    if len(exclusive) > 1:
        model.add_no_overlap(exclusive)
    if not others:
        return
    t = len(others)
    model.add_cumulative(exclusive + others, [t] * len(exclusive) + [1] * len(others), t)


def per_core(
    v: Variables, demands: dict[int, int], bound: int, name: str, low: int = 0
) -> list[cp_model.IntVar]:
    """Variables ``a_c >= sum_{u covering c} q_u`` for every core ``c``, ``low <= a_c <= bound``.

    One cumulative does it: the units' intervals with demand ``q_u`` (``demands`` by model index,
    models absent contribute nothing) plus, at each core, a fixed one-core filler interval of
    demand ``bound - a_c``, against capacity ``bound``: at core ``c`` this reads
    ``sum q_u + bound - a_c <= bound``. No literal per (unit, core) is needed.
    """
    model, n = v.model, v.problem.cores
    per = [model.new_int_var(low, bound, f"{name}_{c}") for c in range(n)]
    intervals = [i for u in v.units if demands.get(u.model.index) for i in u.intervals]
    amounts: list[cp_model.LinearExprT] = [
        demands[u.model.index] for u in v.units if demands.get(u.model.index) for _ in u.intervals
    ]
    for c in range(n):
        intervals.append(model.new_fixed_size_interval_var(c, 1, f"{name}_filler_{c}"))
        amounts.append(bound - per[c])
    model.add_cumulative(intervals, amounts, bound)
    return per


def add_memory(v: Variables) -> None:
    """Per-chip memory: ``sum_{c in h} a_c <= M`` with ``a_c`` the memory on core ``c``.

    ``a_c`` comes from :func:`per_core` with ``q_u`` the scaled memory per core of a copy. Chips
    where even the worst case fits get no constraint: a unit that may cover ``r`` cores of a chip
    puts at most ``q_u min(r, width)`` on it (units of the same reach and width are added up
    first, so this takes ``O(units + chips x reaches)``).
    """
    p = v.problem
    memory = {m.index: m.memory for m in p.models if m.memory}
    if not memory:
        return
    memory_of: dict[tuple[int, int, int], int] = {}
    for u in v.units:
        reach = u.possible(p.cores)
        if u.model.memory and len(reach):
            key = (reach.start, reach.stop, max(size for size, _ in u.size_options))
            memory_of[key] = memory_of.get(key, 0) + u.model.memory
    worst = [0] * p.chips
    for (lo, hi, widest), total in memory_of.items():
        for chip in range(lo // p.cores_per_chip, (hi - 1) // p.cores_per_chip + 1):
            first, last = chip * p.cores_per_chip, (chip + 1) * p.cores_per_chip
            worst[chip] += total * min(min(hi, last) - max(lo, first), widest)
    binding = [
        range(chip * p.cores_per_chip, (chip + 1) * p.cores_per_chip)
        for chip in range(p.chips)
        if worst[chip] > p.chip_memory
    ]
    if not binding:
        return
    per = per_core(v, memory, p.chip_memory, "mem")
    for cores in binding:
        v.model.add(sum(per[c] for c in cores) <= p.chip_memory)


def add_symmetry(v: Variables, skip: set[int] | None = None) -> None:
    """Order the starts of interchangeable models (``s_a <= s_b``), except those in ``skip``."""
    groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for m in v.problem.models:
        if m.key is not None and (skip is None or m.index not in skip):
            groups[m.key].append(m.index)
    for members in groups.values():
        for a, b in itertools.pairwise(members):
            first_a = v.units_of(a)[0].start
            first_b = v.units_of(b)[0].start
            v.model.add(first_a <= first_b)


def add_rules(v: Variables, skip_symmetry: set[int] | None = None) -> cp_model.IntVar:
    """Every hard rule plus the peak variable; returns the peak variable."""
    peak = add_peak(v)
    add_exclusive(v)
    add_memory(v)
    add_symmetry(v, skip_symmetry)
    return peak
