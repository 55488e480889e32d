"""The objective levels, each an integer expression to minimise.

- ``peak``: the peak-load variable ``L`` of :func:`.constraints.add_peak` (scaled load).
- ``overlap``: ``sum_c (a_c - 1)`` with ``1 <= a_c <= K`` and ``a_c >= copies(c)``, from
  :func:`.constraints.per_core` with demand 1 per unit (every core of a block is in exactly one
  copy of its model, so units covering ``c`` = copies on ``c``), ``K`` the number of units.
  Minimisation makes ``a_c - 1 = max(0, copies(c) - 1)``, and fixing the sum ``<= v`` keeps the
  overlap ``<= v``.
- ``crossings``: copies whose ``k`` cores span two chips. For a block of ``r`` copies at start
  ``s = P h + q`` it is ``T_r[q] = #{j < r : floor((q + jk) / P) != floor((q + jk + k - 1) / P)}``
  (periodic in ``P``), read with an element constraint and selected by ``y_{m,r}``; in split mode
  the table of one copy.
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
from .problem import Assignment
from .variables import Variables, bounds


def overlap_expr(v: Variables) -> cp_model.LinearExprT:
    """``sum_c (a_c - 1)`` with ``1 <= a_c``, ``a_c >= copies(c)`` (see module doc)."""
    k = len(v.units)
    if k <= 1:
        return 0
    covers = per_core(v, {m.index: 1 for m in v.problem.models}, k, "cover", low=1)
    return sum(covers) - v.problem.cores


def _crossing_table(chip: int, k: int, r: int) -> list[int]:
    """``T_r[q]``: copies crossing a chip boundary in a block of ``r`` copies of ``k`` cores that
    starts at offset ``q`` in its chip (the pattern repeats every chip, so ``q`` suffices)."""
    return [
        sum(1 for j in range(r) if (q + j * k) // chip != (q + j * k + k - 1) // chip)
        for q in range(chip)
    ]


def crossings_expr(v: Variables) -> cp_model.LinearExprT | None:
    """Copies spanning two chips, or None when no copy can ever cross.

    The start is split as ``s = P h + q`` (``0 <= q < P``) and the count read from the small
    table ``T_r[q]`` with an element constraint: ``P`` entries instead of ``N``.
    """
    model, p = v.model, v.problem
    chip = p.cores_per_chip
    terms = []
    for u in v.units:
        m = u.model
        if m.cores < 2:
            continue
        options = [(1, u.present)] if u.copy is not None else list(v.counts[m.index])
        tables = [(_crossing_table(chip, m.cores, r), lit) for r, lit in options]
        if all(max(t) == 0 for t, _ in tables):
            continue
        name = f"{m.index}_{u.copy}"
        lo, hi = bounds(u.start)
        offset: cp_model.IntVar | None = None
        if any(min(t) != max(t) for t, _ in tables):
            offset = model.new_int_var(0, chip - 1, f"q_{name}")
            chip_index = model.new_int_var(lo // chip, hi // chip, f"h_{name}")
            model.add(u.start == chip * chip_index + offset)
        for (table, lit), (r, _) in zip(tables, options, strict=True):
            if max(table) == 0:
                continue
            value: cp_model.LinearExprT
            if min(table) == max(table):
                value = table[0]
            else:
                assert offset is not None
                value = model.new_int_var(min(table), max(table), f"cross_{name}_{r}")
                model.add_element(offset, table, value)
            if lit is True:
                terms.append(value)
                continue
            chosen = model.new_int_var(0, max(table), f"crossed_{name}_{r}")
            model.add(chosen == value).only_enforce_if(lit)
            model.add(chosen == 0).only_enforce_if(~lit)
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
                model.add_implication(stay, lit)
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
