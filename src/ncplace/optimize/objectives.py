"""The objective levels, each an integer expression to minimise.

- ``peak``: the peak-load variable ``L`` of :func:`.constraints.add_peak` (scaled load).
- ``overlap``: ``sum_c (a_c - 1)`` with ``1 <= a_c <= K`` and ``a_c >= copies(c)``, from
  :func:`.constraints.per_core` with demand 1 per unit (every core of a block is in exactly one
  copy of its model, so units covering ``c`` = copies on ``c``), ``K`` the number of units.
  Minimisation makes ``a_c - 1 = max(0, copies(c) - 1)``, and fixing the sum ``<= v`` keeps the
  overlap ``<= v``.
- ``crossings``: copies whose ``k`` cores span two chips. For a block of ``r`` copies at start
  ``s`` it is the table ``T_r[s] = #{j < r : floor((s + jk) / P) != floor((s + jk + k - 1) / P)}``,
  read with an element constraint and selected by ``y_{m,r}``; in split mode one 0/1 table per copy.
- ``moves``: models whose block (start and copy count; in split mode every copy's start) differs
  from ``current``; ``stay_m`` implies equality, and ``moves = sum_m (1 - stay_m)``.
- ``high_end``: ``H = max_u e_u``, the highest used core plus one; minimising it keeps the free
  cores together at the high end of the instance, where a later process can take them with one
  contiguous ``NEURON_RT_VISIBLE_CORES`` range.
"""

from __future__ import annotations

from collections.abc import Mapping

from ortools.sat.python import cp_model

from .constraints import per_core
from .variables import Variables, bounds

Assignment = tuple[int, tuple[int, ...]]
"""A model's placement: ``(copies, starts)``; one start in block mode, one per copy in split."""


def overlap_expr(v: Variables) -> cp_model.LinearExprT:
    """``sum_c (a_c - 1)`` with ``1 <= a_c``, ``a_c >= copies(c)`` (see module doc)."""
    k = len(v.units)
    if k <= 1:
        return 0
    covers = per_core(v, {m.index: 1 for m in v.problem.models}, k, "cover", low=1)
    return sum(covers) - v.problem.cores


def _crossing_table(n: int, chip: int, k: int, r: int) -> list[int]:
    out = []
    for s in range(n):
        count = 0
        for j in range(r):
            first = s + j * k
            if first // chip != (first + k - 1) // chip:
                count += 1
        out.append(count)
    return out


def crossings_expr(v: Variables) -> cp_model.LinearExprT | None:
    """Copies spanning two chips, or None when no copy can ever cross."""
    model, p = v.model, v.problem
    terms = []
    for u in v.units:
        m = u.model
        if m.cores < 2:
            continue
        options = [(m.cores, u.present)] if u.copy is not None else list(v.counts[m.index])
        for r_or_k, lit in options:
            r = 1 if u.copy is not None else r_or_k
            table = _crossing_table(p.cores, p.cores_per_chip, m.cores, r)
            lo, hi = bounds(u.start)
            reach = table[lo : hi + 1]
            if max(reach) == 0:
                continue
            value = model.new_int_var(min(reach), max(reach), f"cross_{m.index}_{u.copy}_{r}")
            model.add_element(u.start, table, value)
            if lit is True:
                terms.append(value)
                continue
            chosen = model.new_int_var(0, max(reach), f"crossed_{m.index}_{u.copy}_{r}")
            model.add(chosen == value).only_enforce_if(lit)  # type: ignore[arg-type]
            model.add(chosen == 0).only_enforce_if(~lit)  # type: ignore[operator]
            terms.append(chosen)
    if not terms:
        return None
    return sum(terms)


def moves_expr(v: Variables, current: Mapping[int, Assignment | None]) -> cp_model.LinearExprT:
    """Models placed differently from ``current`` (model index -> its assignment there)."""
    model = v.model
    moved: list[cp_model.LinearExprT] = []
    for m in v.problem.models:
        where = current.get(m.index)
        if where is None or where[0] not in m.replicas:
            moved.append(1)
            continue
        copies, starts = where
        stay = model.new_bool_var(f"stay_{m.index}")
        for r, lit in v.counts[m.index]:
            if r == copies and lit is not True:
                model.add_implication(stay, lit)  # type: ignore[arg-type]
        units = v.units_of(m.index)
        for u, s in zip(units, starts, strict=False):
            model.add(u.start == s).only_enforce_if(stay)
        moved.append(1 - stay)
    return sum(moved)


def high_end_expr(v: Variables) -> cp_model.IntVar:
    """``H = max_u e_u``."""
    model = v.model
    high = model.new_int_var(0, v.problem.cores, "high_end")
    model.add_max_equality(high, [u.end for u in v.units])
    return high
