"""CP-SAT variables: where each model's block (or each copy, in split mode) starts, and how many
copies it has.

Block mode (default), model ``m`` with pipeline size ``k`` and allowed copy counts ``R_m``:

- ``s_m``: start core, ``0 <= s_m <= N - k min(R_m)`` (fixed when pinned);
- ``y_{m,r}`` for ``r`` in ``R_m``: "``m`` has ``r`` copies", exactly one true (a constant when
  the count is fixed);
- ``e_m = s_m + sum_r r k y_{m,r} <= N``: end of the block (exclusive);
- one optional interval ``[s_m, s_m + r k)`` per ``r``, present iff ``y_{m,r}``, carrying the
  constant load ``D_{m,r}``: so the load ``d_m / r`` stays linear although ``r`` is a decision.

Split mode: copy ``j < max(R_m)`` of ``m`` has its own start ``s_{m,j}`` and a ``k``-core interval
present iff ``p_{m,j} = sum_{r > j} y_{m,r}`` (copies are a prefix 0..r-1); its load is the
variable ``dem_m = sum_r D_{m,r} y_{m,r}``. Copies of one model are ordered and disjoint
(``s_{m,j+1} >= s_{m,j} + k``) and an absent copy starts at 0, which removes their symmetry.

Every block or copy is a :class:`Unit`. No variable says which unit covers which core: the
per-core rules (load, exclusivity, memory, overlap) are cumulative constraints over the units'
intervals (see :mod:`.constraints`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from .problem import ModelData, Problem

Literal = cp_model.IntVar | bool
"""A CP-SAT Boolean variable (or its negation), or a Python constant."""


@dataclass
class Unit:
    """A block of consecutive cores placed as one piece: a model's block, or one split copy."""

    model: ModelData
    copy: int | None
    start: cp_model.IntVar
    end: cp_model.LinearExprT
    present: Literal
    intervals: list[cp_model.IntervalVar]
    demands: list[cp_model.LinearExprT]
    size_options: list[tuple[int, Literal]]

    def possible(self, cores: int) -> range:
        """Cores this unit could ever cover."""
        lo, hi = bounds(self.start)
        return range(lo, min(cores, hi + max(size for size, _ in self.size_options)))


@dataclass
class Variables:
    """All decision and auxiliary variables of one CP-SAT model."""

    model: cp_model.CpModel
    problem: Problem
    counts: dict[int, list[tuple[int, Literal]]] = field(default_factory=dict)
    units: list[Unit] = field(default_factory=list)
    _by_model: dict[int, list[Unit]] = field(default_factory=dict, repr=False)
    _indexed: int = field(default=0, repr=False)

    def units_of(self, index: int) -> list[Unit]:
        """The units of model ``index`` (an index kept by model, so that reading a solution of
        ``n`` models takes ``O(n)``, not ``O(n^2)``)."""
        if self._indexed != len(self.units):
            self._by_model = {}
            for u in self.units:
                self._by_model.setdefault(u.model.index, []).append(u)
            self._indexed = len(self.units)
        return self._by_model.get(index, [])


def bounds(var: cp_model.IntVar) -> tuple[int, int]:
    """The smallest and largest value in the domain of ``var``."""
    domain = list(var.proto.domain)
    return int(domain[0]), int(domain[-1])


def build_variables(model: cp_model.CpModel, problem: Problem) -> Variables:
    """Create the start, copy-count and interval variables of every model."""
    v = Variables(model, problem)
    for m in problem.models:
        v.counts[m.index] = _count_literals(model, m)
        if problem.split:
            _split_units(v, m)
        else:
            _block_unit(v, m)
    return v


def _count_literals(model: cp_model.CpModel, m: ModelData) -> list[tuple[int, Literal]]:
    if len(m.replicas) == 1:
        return [(m.replicas[0], True)]
    lits: list[tuple[int, Literal]] = [
        (r, model.new_bool_var(f"y_{m.index}_{r}")) for r in m.replicas
    ]
    model.add_exactly_one([lit for _, lit in lits])
    return lits


def _start_var(
    model: cp_model.CpModel, m: ModelData, n: int, size: int, name: str
) -> cp_model.IntVar:
    if m.start is not None:
        return model.new_int_var(m.start, m.start, name)
    return model.new_int_var(0, max(0, n - size), name)


def _block_unit(v: Variables, m: ModelData) -> None:
    model, n = v.model, v.problem.cores
    s = _start_var(model, m, n, m.min_width, f"s_{m.index}")
    options = [(r * m.cores, lit) for r, lit in v.counts[m.index]]
    intervals = []
    if len(options) == 1:
        end: cp_model.LinearExprT = s + options[0][0]
        model.add(s + options[0][0] <= n)
        intervals.append(model.new_fixed_size_interval_var(s, options[0][0], f"b_{m.index}"))
    else:
        end = model.new_int_var(m.min_width, n, f"e_{m.index}")
        model.add(end == s + sum(size * lit for size, lit in options))
        for size, lit in options:
            intervals.append(
                model.new_optional_fixed_size_interval_var(s, size, lit, f"b_{m.index}_{size}")
            )
    v.units.append(
        Unit(
            model=m,
            copy=None,
            start=s,
            end=end,
            present=True,
            intervals=intervals,
            demands=list(m.demand),
            size_options=options,
        )
    )


def _split_units(v: Variables, m: ModelData) -> None:
    model, n, k = v.model, v.problem.cores, m.cores
    counts = v.counts[m.index]
    if len(counts) == 1:
        demand: cp_model.LinearExprT = m.demand[0]
    else:
        demand = model.new_int_var(min(m.demand), max(m.demand), f"dem_{m.index}")
        model.add(demand == sum(d * lit for d, (_, lit) in zip(m.demand, counts, strict=True)))
    previous: Unit | None = None
    for j in range(m.replicas[-1]):
        present: Literal
        if j < m.replicas[0]:
            present = True
        else:
            present = model.new_bool_var(f"p_{m.index}_{j}")
            model.add(present == sum(lit for r, lit in counts if r > j))
        if j == 0:
            s = _start_var(model, m, n, k, f"s_{m.index}_{j}")
        else:
            s = model.new_int_var(0, max(0, n - k), f"s_{m.index}_{j}")
        if present is True:
            interval = model.new_fixed_size_interval_var(s, k, f"c_{m.index}_{j}")
        else:
            interval = model.new_optional_fixed_size_interval_var(s, k, present, f"c_{m.index}_{j}")
            model.add(s == 0).only_enforce_if(~present)
        if previous is not None:
            gap = model.add(s >= previous.start + k)
            if present is not True:
                gap.only_enforce_if(present)
        unit = Unit(
            model=m,
            copy=j,
            start=s,
            end=s + k,
            present=present,
            intervals=[interval],
            demands=[demand],
            size_options=[(k, present)],
        )
        v.units.append(unit)
        previous = unit
