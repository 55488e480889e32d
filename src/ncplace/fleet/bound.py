"""A proven lower bound on the cost of any fleet: a bin-packing (volume) bound with whole
instances.

Each copy ``i`` needs three resources, each a valid relaxation of the placement rules:

- load: ``e_i = k_i w_i`` units; an instance of type ``t`` holds ``N_t x CAPACITY``;
- memory: ``k_i mem_i``; an instance holds ``chips_t x M_t``;
- dual feasible functions of the load, for ``k`` in :data:`DFF_ORDERS`: ``k_i f_k(w_i)``, where
  ``f_k`` maps the loads that fit one core to values that still sum to at most 1 on it (``f_1``
  counts a copy above half a core as a whole core: two such never share one); an instance holds
  ``N_t`` of each.

A copy runs only on the types it fits, so for every set ``T`` of types, the copies that fit only
types in ``T`` must find their resources in the instances of ``T`` (Hall's condition of the
fractional assignment):

    sum_{i: fits(i) ⊆ T} r_i  <=  sum_{t in T} cap_{t,r} y_t      for every resource r and T,

with ``y_t`` the whole number of instances of type ``t``. The least ``sum_t price_t y_t`` under
these rows (a small integer program CP-SAT solves in milliseconds; its proven bound when cut
short) is at most the cost of every fleet that places the copies of :mod:`.copies`: the
bound's scope is those copy counts at that target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .copies import CAPACITY, CopyItem, TypeSpec

MAX_TYPES_FOR_SUBSETS = 12
"""Above this many types, only single types and all types form the rows."""


DFF_ORDERS = (1, 2, 3, 4)
"""The ``k`` of the dual feasible functions ``f_k`` applied to per-core loads."""


def _dff(load: int, k: int) -> int:
    """``k CAPACITY f_k(load / CAPACITY)`` with ``f_k(x) = x`` when ``(k + 1) x`` is whole and
    ``floor((k + 1) x) / k`` otherwise (Fekete and Schepers): loads that fit one core
    (``sum x <= 1``) keep ``sum f_k(x) <= 1``."""
    scaled = (k + 1) * load
    if scaled % CAPACITY == 0:
        return k * load
    return (scaled // CAPACITY) * CAPACITY


def _resources(item: CopyItem) -> tuple[int, ...]:
    dff = tuple(item.cores * _dff(item.load, k) for k in DFF_ORDERS)
    return (item.energy, item.cores * item.memory, *dff)


def _capacities(spec: TypeSpec) -> tuple[int, ...]:
    dff = tuple(spec.cores * k * CAPACITY for k in DFF_ORDERS)
    return (spec.cores * CAPACITY, spec.instance.chips * spec.chip_memory, *dff)


def _type_sets(n: int) -> list[int]:
    if n <= MAX_TYPES_FOR_SUBSETS:
        return list(range(1, 1 << n))
    return [1 << t for t in range(n)] + [(1 << n) - 1]


def lower_bound(
    items: Sequence[CopyItem],
    specs: Sequence[TypeSpec],
    fit: Sequence[int],
    time_limit: float = 1.0,
    seed: int = 0,
) -> tuple[int, bool, bool]:
    """``(bound, proven_optimal, cut)`` in micro-dollars per hour: the optimum of the relaxation
    (``proven_optimal``) or CP-SAT's bound on it when cut short; ``cut``: the wall-clock safety
    limit stopped it (the bound may then differ between runs)."""
    from ortools.sat.python import cp_model

    from ..optimize.cpsat import run_watched

    need: dict[int, list[int]] = {}
    for item in items:
        totals = need.setdefault(fit[item.model], [0] * (2 + len(DFF_ORDERS)))
        for r, amount in enumerate(_resources(item)):
            totals[r] += amount
    model = cp_model.CpModel()
    counts = [model.new_int_var(0, len(items), f"y{t}") for t in range(len(specs))]
    caps = [_capacities(s) for s in specs]
    for subset in _type_sets(len(specs)):
        inside = [t for t in range(len(specs)) if subset >> t & 1]
        for r in range(2 + len(DFF_ORDERS)):
            demand = sum(v[r] for mask, v in need.items() if mask & ~subset == 0)
            if demand:
                model.add(sum(caps[t][r] * counts[t] for t in inside) >= demand)
    model.minimize(sum(spec.price * counts[t] for t, spec in enumerate(specs)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = max(0.1, time_limit)
    status, stopped = run_watched(solver, model, safety_s=3 * max(0.1, time_limit) + 0.5)
    if status == cp_model.OPTIMAL:
        return round(solver.objective_value), True, False
    return max(0, math.ceil(solver.best_objective_bound - 1e-6)), False, stopped
