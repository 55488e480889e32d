"""The assignment of copies to instances and cores, as one CP-SAT model, and the large
neighbourhood search that uses it on big fleets.

Model (:func:`solve_exact`), over copies ``i`` (load ``w_i`` units on each of ``k_i`` cores,
``mem_i`` per core) and instance slots ``j`` of type ``t(j)``, with ``U_t`` slots of type ``t``:

- ``x_{i,j,s}`` = copy ``i`` on slot ``j`` at cores ``[s, s + k_i)``, for the types ``i`` fits;
  ``u_j`` = slot ``j`` is bought.
- every copy placed once: ``sum_{j,s} x_{i,j,s} = 1``;
- core load: ``sum_{i,s: s <= c < s + k_i} w_i x_{i,j,s} <= CAPACITY u_j`` for every core ``c``
  (an exclusive copy weighs ``CAPACITY``, so it shares no core);
- chip memory: ``sum_{i,s} mem_i |[s, s + k_i) ∩ chip| x_{i,j,s} <= M_{t(j)}`` for every chip;
- symmetry: ``u_j >= u_{j+1}`` within a type, and copies of one model in slot order;
- minimise ``sum_j price_{t(j)} u_j`` (micro-dollars per hour).

``U_t = min(copies fitting t, floor(C / price_t))`` with ``C`` the cost of a known fleet (the hint):
every fleet no dearer than it has that many instances of ``t`` at most, so the model's optimum
and bound are those of every fleet, not only of fleets of ``U_t`` slots.

The model has ``sum_i sum_j (cores - k_i + 1)`` literals: exact on tiny and small fleets. Big
fleets are improved by :func:`improve`: a few instances at a time (the emptiest first) are
re-solved with this model, and replaced when it finds them a cheaper set of instances.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .copies import CAPACITY, CopyItem, TypeSpec
from .packing import Assignment, Fill, cost_of, fits_type

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

Key = tuple[int, int, int]

MAX_LITERALS = 20_000
"""The largest exact model :func:`solve_exact` builds."""

DTIME_PER_SECOND = 0.3
"""CP-SAT deterministic time units per second of a time limit (reproducible stops)."""

WALL_FACTOR = 10.0
WALL_SLACK_S = 2.0
"""A wall-clock safety limit of ``WALL_FACTOR x time_limit + WALL_SLACK_S`` seconds per solve, so
that an overloaded machine still stops; only a solve it cuts can differ between runs, and such a
solve is known (``cut``: the waiting thread stopped it, :func:`ncplace.optimize.cpsat.run_watched`)
and named in the plan's method."""

SOLVE_COST = 0.005
"""Deterministic time charged per neighbourhood solve on top of CP-SAT's own count."""


@dataclass(frozen=True)
class ExactResult:
    """The exact model's answer: its fills (None when it found none), whether they are proven
    cheapest, its proven lower bound in micro-dollars per hour, and whether the wall-clock safety
    limit cut it (``cut``: the answer may differ between runs)."""

    fills: tuple[Fill, ...] | None
    optimal: bool
    bound: int
    deterministic_time: float = 0.0
    cut: bool = False


def _slots(
    items: Sequence[CopyItem],
    subset: Sequence[int],
    specs: Sequence[TypeSpec],
    fit: Sequence[int],
    ceiling: int,
) -> list[int]:
    slots = []
    for t, spec in enumerate(specs):
        fitting = sum(1 for i in subset if fits_type(fit, items, i, t))
        slots.extend([t] * min(fitting, ceiling // spec.price))
    return slots


def literal_count(
    items: Sequence[CopyItem],
    subset: Sequence[int],
    specs: Sequence[TypeSpec],
    fit: Sequence[int],
    ceiling: int,
) -> int:
    """How many placement literals :func:`solve_exact` would create."""
    slots = _slots(items, subset, specs, fit, ceiling)
    return sum(
        specs[t].cores - items[i].cores + 1
        for t in slots
        for i in subset
        if fits_type(fit, items, i, t)
    )


def solve_exact(
    items: Sequence[CopyItem],
    subset: Sequence[int],
    specs: Sequence[TypeSpec],
    fit: Sequence[int],
    hint: Sequence[Fill],
    time_limit: float,
    seed: int,
) -> ExactResult:
    """The cheapest instances for the copies ``subset``, starting from ``hint`` (fills holding
    exactly those copies); see the module docstring for the model."""
    from ortools.sat.python import cp_model

    from ..optimize.cpsat import run_watched

    slots = _slots(items, subset, specs, fit, cost_of(hint, specs))
    model = cp_model.CpModel()
    used = [model.new_bool_var(f"u{j}") for j in range(len(slots))]
    x: dict[Key, cp_model.IntVar] = {}
    for i in subset:
        for j, t in enumerate(slots):
            if fits_type(fit, items, i, t):
                for s in range(specs[t].cores - items[i].cores + 1):
                    x[i, j, s] = model.new_bool_var(f"x{i}_{j}_{s}")
    by_item: dict[int, list[tuple[int, int]]] = {i: [] for i in subset}
    by_slot: dict[int, list[tuple[int, int]]] = {j: [] for j in range(len(slots))}
    for i, j, s in x:
        by_item[i].append((j, s))
        by_slot[j].append((i, s))
    for i in subset:
        model.add_exactly_one(x[i, j, s] for j, s in by_item[i])
    for j, t in enumerate(slots):
        _slot_constraints(model, x, items, specs[t], j, by_slot[j], used[j])
        if j + 1 < len(slots) and slots[j + 1] == t:
            model.add_implication(used[j + 1], used[j])
    for a, b in itertools.pairwise(sorted(subset)):
        if items[a] == items[b]:  # interchangeable copies: the later one on a slot no earlier
            model.add(
                sum(j * x[a, j, s] for j, s in by_item[a])
                <= sum(j * x[b, j, s] for j, s in by_item[b])
            )
    model.minimize(sum(specs[t].price * used[j] for j, t in enumerate(slots)))
    _add_hint(model, x, used, slots, hint)

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = max(0.0, time_limit) * DTIME_PER_SECOND
    safety = WALL_FACTOR * max(0.0, time_limit) + WALL_SLACK_S
    status, stopped = run_watched(solver, model, safety_s=safety)
    cut = stopped and status in (cp_model.FEASIBLE, cp_model.UNKNOWN)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ExactResult(None, False, 0, solver.deterministic_time, cut)
    fills = []
    for j, t in enumerate(slots):
        copies = tuple(sorted((i, s) for i, s in by_slot[j] if solver.value(x[i, j, s])))
        if copies:
            fills.append(Fill(t, copies))
    optimal = status == cp_model.OPTIMAL
    bound = cost_of(fills, specs) if optimal else math.ceil(solver.best_objective_bound - 1e-6)
    return ExactResult(tuple(fills), optimal, bound, solver.deterministic_time, cut)


def _slot_constraints(
    model: cp_model.CpModel,
    x: dict[Key, cp_model.IntVar],
    items: Sequence[CopyItem],
    spec: TypeSpec,
    j: int,
    placed: Sequence[tuple[int, int]],
    used: cp_model.IntVar,
) -> None:
    """Core load within ``CAPACITY`` when bought (0 otherwise) and chip memory within the chip's."""
    cpc = spec.instance.cores_per_chip
    for c in range(spec.cores):
        terms = [items[i].load * x[i, j, s] for i, s in placed if s <= c < s + items[i].cores]
        if terms:
            model.add(sum(terms) <= CAPACITY * used)
    for h in range(spec.instance.chips):
        lo, hi = h * cpc, (h + 1) * cpc
        terms = []
        for i, s in placed:
            share = max(0, min(s + items[i].cores, hi) - max(s, lo))
            if share and items[i].memory:
                terms.append(items[i].memory * share * x[i, j, s])
        if terms:
            model.add(sum(terms) <= spec.chip_memory)


def _add_hint(
    model: cp_model.CpModel,
    x: dict[Key, cp_model.IntVar],
    used: Sequence[cp_model.IntVar],
    slots: Sequence[int],
    hint: Sequence[Fill],
) -> None:
    free = {t: [j for j, s in enumerate(slots) if s == t] for t in set(slots)}
    chosen: set[Key] = set()
    taken: set[int] = set()
    for f in sorted(hint, key=lambda f: f.type):
        j = free[f.type].pop(0)
        taken.add(j)
        chosen.update((i, j, s) for i, s in f.copies)
    for key, var in x.items():
        model.add_hint(var, key in chosen)
    for j, var in enumerate(used):
        model.add_hint(var, j in taken)


def improve(
    current: Assignment,
    items: Sequence[CopyItem],
    specs: Sequence[TypeSpec],
    fit: Sequence[int],
    time_limit: float,
    seed: int,
    step_s: float = 1.0,
    max_copies: int = 64,
) -> tuple[Assignment, bool]:
    """Large neighbourhood search: re-solve a few instances at a time with :func:`solve_exact`
    and keep any cheaper answer. Neighbourhoods are windows of 2, then 3, then 4 instances, first
    in price order (the dearest together), then the emptiest first (:func:`_windows`), at most
    ``max_copies`` copies each; each solve gets at most ``step_s``. The budget, ``time_limit``,
    is counted in CP-SAT's deterministic time (plus :data:`SOLVE_COST` per solve), so the search
    stops at the same point on every run, unless the wall-clock safety limit cut a solve (the
    second value)."""
    fills = list(current.fills)
    cut = False
    budget = max(0.0, time_limit) * DTIME_PER_SECOND
    width = 2
    while budget > 0 and width <= 4 and len(fills) >= 2:
        improved = False
        for window in _windows(fills, items, specs, width):
            if budget <= 0:
                break
            subset = [i for f in window for i, _ in fills[f].copies]
            hint = [fills[f] for f in window]
            ceiling = cost_of(hint, specs)
            if (
                len(subset) > max_copies
                or literal_count(items, subset, specs, fit, ceiling) > MAX_LITERALS
            ):
                continue
            result = solve_exact(items, subset, specs, fit, hint, step_s, seed)
            budget -= result.deterministic_time + SOLVE_COST
            cut = cut or result.cut
            if result.fills is not None and cost_of(result.fills, specs) < ceiling:
                fills = [f for k, f in enumerate(fills) if k not in window] + list(result.fills)
                improved = True
                break
        if not improved:
            width += 1
    return Assignment(tuple(fills), cost_of(fills, specs)), cut


def _windows(
    fills: Sequence[Fill], items: Sequence[CopyItem], specs: Sequence[TypeSpec], width: int
) -> list[list[int]]:
    """Consecutive ``width`` instances in price order (dearest first, then emptiest), then in
    order of utilisation (emptiest first); each window once."""
    by_price = sorted(
        range(len(fills)),
        key=lambda f: (-specs[fills[f].type].price, _utilisation(fills[f], items, specs), f),
    )
    by_use = sorted(range(len(fills)), key=lambda f: (_utilisation(fills[f], items, specs), f))
    seen: set[tuple[int, ...]] = set()
    windows = []
    for order in (by_price, by_use):
        for start in range(len(order) - width + 1):
            window = order[start : start + width]
            key = tuple(sorted(window))
            if key not in seen:
                seen.add(key)
                windows.append(window)
    return windows


def _utilisation(fill: Fill, items: Sequence[CopyItem], specs: Sequence[TypeSpec]) -> float:
    energy = sum(items[i].energy for i, _ in fill.copies)
    return energy / (specs[fill.type].cores * CAPACITY)
