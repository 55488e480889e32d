"""A second exact method: the placement model as a mixed-integer program solved by HiGHS.

It exists to check and to time ``ncplace.optimize`` (CP-SAT) on the same instances: an
independent formulation by a different kind of solver (LP-based branch and cut) that must reach
the same optimum. Only contiguous mode with fixed replica counts is modelled; :func:`unsupported`
names what a mix asks for beyond that.

Data as in ``ncplace.optimize``: ``N`` cores, chips of ``P`` consecutive cores with ``M`` GiB each;
model ``m`` has ``k_m`` cores per copy, ``r_m`` copies, block width ``w_m = r_m k_m``, demand
``d_m``, memory ``mem_m`` per copy, and per-core load ``l_m = d_m / r_m``.

Variables
    ``x[m, s] in {0, 1}`` for ``s in S_m = {0 .. N - w_m}`` (or ``{start_m}`` when pinned): model
    ``m``'s block starts at core ``s``. ``peak >= 0`` continuous. The block covers core ``c`` by
    ``cov[m, c] = sum_{s in S_m, s <= c < s + w_m} x[m, s]`` (a linear expression, 0 or 1).

Constraints
    - assignment: ``sum_s x[m, s] = 1`` for every ``m``;
    - load: ``sum_m l_m cov[m, c] <= peak`` for every core ``c``;
    - exclusivity, as cliques through ``e[c] = sum_{m exclusive} cov[m, c]`` (a continuous
      variable defined by an equality row): ``e[c] <= 1`` and ``cov[m', c] + e[c] <= 1`` for every
      non-exclusive ``m'``. An exclusive block and any other block never share a core, and the
      rows are as tight as the pairwise ones with ``N (n + 1)`` rows of short support instead of
      ``N n_excl n``;
    - memory: ``sum_m (mem_m / k_m) |block(m) ∩ chip h| <= M`` for every chip ``h``: the
      coefficient of ``x[m, s]`` is ``mem_m / k_m`` times the cores of ``[s, s + w_m)`` on ``h``;
    - symmetry: models identical in every field but the name (and not pinned) are
      interchangeable, so their starts are ordered: ``sum_s s x[m_i, s] <= sum_s s x[m_j, s]``;
    - a valid bound on the peak (the column's lower bound), :func:`peak_floor`:
      ``max(max_m l_m, sum_m d_m k_m / N, sum_{m shared} d_m k_m / (N - E))`` with ``E`` the
      cores of the exclusive blocks, which no other block may use. The LP relaxation finds the
      first two by itself but not the third (it smears exclusive blocks fractionally), and without
      it HiGHS's bound stays at ``total work / N`` on mixes with exclusive models.

Objectives, solved lexicographically
    1. minimise ``peak`` (the optimizer's first priority);
    2. optionally, with ``peak <= peak* + 1e-7``, minimise the overlap ``sum_c o[c]`` with
       ``o[c] >= sum_m cov[m, c] - 1``, ``o[c] >= 0`` (each covered core holds one copy of each
       covering model, so ``sum_m cov[m, c]`` is the copy count of core ``c``), warm-started from
       the level-1 layout. The level-2 layout is kept only if its exact peak is within 1e-9 of
       level 1's (the slack lets float noise through, not a worse peak).

The reported ``objective`` is not the solver's float: the starts are rounded and the layout is
rescored exactly (:func:`layout_from_starts` + ``ncplace.score``). The relative and absolute MIP
gaps are set to ``1e-9`` so that "optimal" means optimal to the scorer's 1e-6, not HiGHS's default
0.01 %. ``bound`` is HiGHS's dual bound clipped to the objective; an "optimal" whose dual bound is
more than 1e-6 below the rescored peak is reported as ``feasible`` with that bound. ``feasible``
says whether the rescored layout keeps every hard rule (HiGHS accepts rows violated by its 1e-6
feasibility tolerance; the generated mixes never come that close).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import ncplace
from ncplace import Layout, Mix, Placement

BENCH_HINT = "pip install ncplace[bench]  (or: pip install highspy)"
MIP_GAP = 1e-9
PEAK_SLACK = 1e-7


def _highspy() -> Any:
    """Import highspy on first use: it is an optional dependency (the ``bench`` extra)."""
    try:
        import highspy
    except ImportError as exc:
        raise ImportError(f"the HiGHS benchmark model needs highspy: {BENCH_HINT}") from exc
    return highspy


@dataclass(frozen=True)
class HighsResult:
    """The outcome of :func:`solve_highs`.

    - ``status``: ``optimal`` (peak proven optimal), ``feasible`` (a layout, no proof),
      ``infeasible`` (proven), ``unknown`` (no layout, no proof), or ``unsupported`` (the mix
      asks for something this model does not express: see ``reason``).
    - ``objective``: exact peak load of the layout (``None`` without one); ``bound``: proven
      lower bound on the peak; ``gap = (objective - bound) / objective`` (0 when both are 0).
    - ``peak_runtime_s``: model building plus level 1 (time to the proven peak);
      ``build_s``: the building part; ``runtime_s``: everything, level 2 included.
    - ``overlap`` and ``overlap_status``: level 2's result (``None`` when it was not run).
    - ``starts``: model name -> first core of its block; ``feasible``: ``ncplace.score`` finds
      the layout keeps every hard rule.
    """

    status: str
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    runtime_s: float = 0.0
    peak_runtime_s: float = 0.0
    overlap: int | None = None
    overlap_status: str | None = None
    starts: Mapping[str, int] | None = None
    reason: str = ""
    columns: int = 0
    rows: int = 0
    build_s: float = 0.0
    feasible: bool | None = None

    def __post_init__(self) -> None:
        if self.starts is not None:
            object.__setattr__(self, "starts", MappingProxyType(dict(self.starts)))

    def layout(self, mix: Mix) -> Layout | None:
        """The layout of ``starts`` (``None`` when there is no solution)."""
        return None if self.starts is None else layout_from_starts(mix, self.starts)


def unsupported(mix: Mix) -> str:
    """Why the HiGHS model cannot take ``mix`` ("" when it can)."""
    loose = [m.name for m in mix.models if not m.fixed_replicas]
    if loose:
        return (
            f"replicas 'auto' or a range for {', '.join(loose)}: the HiGHS model takes fixed counts"
        )
    return ""


def layout_from_starts(mix: Mix, starts: Mapping[str, int]) -> Layout:
    """The layout the optimizer would return for these block starts.

    One process owning the span from the lowest to the highest used core, with
    ``NEURON_RT_VISIBLE_CORES`` set to that span, and one placement per model with its copies on
    consecutive blocks of ``cores`` cores from its start.
    """
    placements = []
    used: list[int] = []
    for m in mix.models:
        s = starts[m.name]
        copies = tuple(
            tuple(range(s + j * m.cores, s + (j + 1) * m.cores)) for j in range(m.min_replicas)
        )
        placements.append(Placement(m.name, copies, 0))
        used.extend((s, s + m.width - 1))
    lo, hi = min(used), max(used)
    visible = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return Layout.single_process(
        mix.instance, placements, range(lo, hi + 1), {"NEURON_RT_VISIBLE_CORES": visible}
    )


@dataclass
class _Rows:
    """Row-wise constraint matrix under construction (CSR), with row bounds."""

    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)

    def add(self, entries: Mapping[int, float], lower: float, upper: float) -> None:
        self.starts.append(len(self.index))
        for j, v in entries.items():
            if v != 0.0:
                self.index.append(j)
                self.value.append(v)
        self.lower.append(lower)
        self.upper.append(upper)


@dataclass
class _Model:
    """Column layout of the MIP: which column is which variable."""

    mix: Mix
    starts: list[list[int]]
    x: list[list[int]]
    peak: int
    excl: list[int]
    ncols: int
    col_lower: list[float]
    col_upper: list[float]
    integer: list[int]
    rows: _Rows


def peak_floor(mix: Mix) -> float:
    """A lower bound on the peak of every layout of ``mix`` with its copy counts.

    ``max(heaviest copy d_m / r_m, total work sum_m d_m k_m / N, shared work / (N - E))``: a copy
    loads each of its cores by ``d_m / r_m``; the loads of all cores sum to the total work; and the
    ``E`` cores of exclusive copies carry nothing else, so the other models' work lies on the
    remaining ``N - E`` cores. It holds for copies placed apart too.
    """
    n = mix.instance.cores
    heaviest = max(m.demand / m.min_replicas for m in mix.models)
    total = sum(m.demand * m.cores for m in mix.models) / n
    exclusive = sum(m.width for m in mix.models if m.exclusive)
    shared = sum(m.demand * m.cores for m in mix.models if not m.exclusive)
    rest = shared / (n - exclusive) if exclusive < n else 0.0
    return max(heaviest, total, rest)


def _start_domain(mix: Mix) -> list[list[int]]:
    n = mix.instance.cores
    return [[m.start] if m.start is not None else list(range(n - m.width + 1)) for m in mix.models]


def _build(mix: Mix) -> _Model:
    inst = mix.instance
    n = inst.cores
    models = mix.models
    domains = _start_domain(mix)
    x: list[list[int]] = []
    col = 0
    for dom in domains:
        x.append(list(range(col, col + len(dom))))
        col += len(dom)
    lower = [0.0] * col
    upper = [1.0] * col
    integer = list(range(col))
    load = [m.demand / m.min_replicas for m in models]
    peak = col
    lower.append(peak_floor(mix))
    upper.append(math.inf)
    col += 1
    # cover[c] lists (model, column) pairs whose block covers core c.
    cover: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i, m in enumerate(models):
        for s, j in zip(domains[i], x[i], strict=True):
            for c in range(s, s + m.width):
                cover[c].append((i, j))
    rows = _Rows()
    for i in range(len(models)):
        rows.add(dict.fromkeys(x[i], 1.0), 1.0, 1.0)
    for c in range(n):
        entries: dict[int, float] = defaultdict(float)
        for i, j in cover[c]:
            entries[j] += load[i]
        entries[peak] = -1.0
        rows.add(entries, -math.inf, 0.0)
    excl: list[int] = []
    if any(m.exclusive for m in models):
        for c in range(n):
            e = col
            excl.append(e)
            lower.append(0.0)
            upper.append(1.0)
            col += 1
            defining: dict[int, float] = defaultdict(float)
            others: dict[int, dict[int, float]] = defaultdict(dict)
            for i, j in cover[c]:
                if models[i].exclusive:
                    defining[j] += 1.0
                else:
                    others[i][j] = 1.0
            defining[e] = -1.0
            rows.add(defining, 0.0, 0.0)
            for entries_i in others.values():
                rows.add({**entries_i, e: 1.0}, -math.inf, 1.0)
    if any(m.memory_gib for m in models):
        assert inst.chip_memory_gib is not None
        for h in range(inst.chips):
            chip = inst.chip_cores(h)
            entries = defaultdict(float)
            for i, m in enumerate(models):
                per_core = (m.memory_gib or 0.0) / m.cores
                if not per_core:
                    continue
                first = max(0, chip.start - m.width + 1)
                last = min(n - m.width, chip.stop - 1)
                near = [domains[i][0]] if m.start is not None else range(first, last + 1)
                for s in near:
                    inside = max(0, min(s + m.width, chip.stop) - max(s, chip.start))
                    if inside:
                        entries[x[i][s - domains[i][0]]] += per_core * inside
            if entries:
                rows.add(entries, -math.inf, inst.chip_memory_gib)
    for group in _identical_groups(mix):
        for a, b in itertools.pairwise(group):
            entries = defaultdict(float)
            for s, j in zip(domains[a], x[a], strict=True):
                entries[j] += float(s)
            for s, j in zip(domains[b], x[b], strict=True):
                entries[j] -= float(s)
            rows.add(entries, -math.inf, 0.0)
    return _Model(mix, domains, x, peak, excl, col, lower, upper, integer, rows)


def _identical_groups(mix: Mix) -> list[list[int]]:
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, m in enumerate(mix.models):
        if m.start is None:
            key = (m.cores, m.replicas, m.demand, m.memory_gib or 0.0, m.exclusive)
            groups[key].append(i)
    return [g for g in groups.values() if len(g) > 1]


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence the C++ banner HiGHS prints on stdout when its first solver object is made."""
    try:
        fd = os.dup(1)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(fd, 1)
        os.close(fd)


def _solver(highspy: Any, time_limit: float, seed: int, threads: int | None) -> Any:
    with _quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(float(time_limit), 1e-3))
    h.setOptionValue("random_seed", int(seed))
    h.setOptionValue("mip_rel_gap", MIP_GAP)
    h.setOptionValue("mip_abs_gap", MIP_GAP)
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    return h


def _load(h: Any, highspy: Any, model: _Model) -> None:
    import numpy as np

    inf = highspy.kHighsInf
    lower = np.array(model.col_lower, dtype=np.float64)
    upper = np.array([inf if math.isinf(u) else u for u in model.col_upper], dtype=np.float64)
    h.addVars(model.ncols, lower, upper)
    cost = np.zeros(model.ncols)
    cost[model.peak] = 1.0
    h.changeColsCost(model.ncols, np.arange(model.ncols, dtype=np.int32), cost)
    integer = np.array(model.integer, dtype=np.int32)
    h.changeColsIntegrality(
        len(integer), integer, np.array([highspy.HighsVarType.kInteger] * len(integer))
    )
    rows = model.rows
    h.addRows(
        len(rows.lower),
        np.array([-inf if math.isinf(v) else v for v in rows.lower], dtype=np.float64),
        np.array([inf if math.isinf(v) else v for v in rows.upper], dtype=np.float64),
        len(rows.index),
        np.array(rows.starts, dtype=np.int32),
        np.array(rows.index, dtype=np.int32),
        np.array(rows.value, dtype=np.float64),
    )


def _status(highspy: Any, h: Any) -> tuple[str, bool]:
    """(status word, has a primal solution) from HiGHS's model status."""
    ms = h.getModelStatus()
    feasible = int(highspy.SolutionStatus.kSolutionStatusFeasible)
    has = int(h.getInfo().primal_solution_status) == feasible
    if ms == highspy.HighsModelStatus.kOptimal:
        return "optimal", has
    if ms == highspy.HighsModelStatus.kInfeasible:
        return "infeasible", False
    return ("feasible" if has else "unknown"), has


def _starts_of(model: _Model, values: Any) -> dict[str, int]:
    out = {}
    for m, dom, cols in zip(model.mix.models, model.starts, model.x, strict=True):
        best = max(range(len(cols)), key=lambda t: values[cols[t]])
        out[m.name] = dom[best]
    return out


def solve_highs(
    mix: Mix,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    overlap: bool = False,
    threads: int | None = None,
) -> HighsResult:
    """Minimise the peak load of ``mix`` (then, with ``overlap=True``, the overlap) with HiGHS.

    ``time_limit`` bounds the whole call (level 2 gets what level 1 left). Never raises for a
    mix it cannot model: it returns ``status="unsupported"`` with the reason.
    """
    reason = unsupported(mix)
    if reason:
        return HighsResult("unsupported", reason=reason)
    highspy = _highspy()
    began = time.perf_counter()
    model = _build(mix)
    h = _solver(highspy, time_limit, seed, threads)
    _load(h, highspy, model)
    build = time.perf_counter() - began
    h.run()
    status, has = _status(highspy, h)
    peak_time = time.perf_counter() - began
    info = h.getInfo()
    ncols, nrows = model.ncols, len(model.rows.lower)
    if not has:
        bound = info.mip_dual_bound if status != "infeasible" else None
        bound = bound if bound is not None and math.isfinite(bound) else None
        return HighsResult(
            status,
            None,
            bound,
            None,
            peak_time,
            peak_time,
            reason=_stop(h),
            columns=ncols,
            rows=nrows,
            build_s=build,
        )
    values = list(h.getSolution().col_value)
    starts = _starts_of(model, values)
    peak = ncplace.score(layout_from_starts(mix, starts), mix).peak_load
    bound = info.mip_dual_bound
    bound = peak if status == "optimal" else min(bound, peak) if math.isfinite(bound) else None
    if status == "optimal" and info.mip_dual_bound < peak - 1e-6:
        status = "feasible"
        bound = info.mip_dual_bound
    result: dict[str, Any] = {}
    if overlap:
        remaining = time_limit - (time.perf_counter() - began)
        result = _level2(h, highspy, model, values, peak, max(remaining, 1e-3))
        if result.get("peak", math.inf) <= peak + 1e-9:
            starts = result["starts"]
        else:
            first = ncplace.score(layout_from_starts(mix, starts), mix).overlap
            result = {"overlap": first, "status": "feasible"}
    total = time.perf_counter() - began
    final = ncplace.score(layout_from_starts(mix, starts), mix)
    final_peak = final.peak_load
    gap = _gap(final_peak, bound)
    return HighsResult(
        status,
        final_peak,
        bound,
        gap,
        total,
        peak_time,
        result.get("overlap"),
        result.get("status"),
        starts,
        _stop(h),
        ncols,
        nrows,
        build,
        final.feasible,
    )


def _level2(
    h: Any, highspy: Any, model: _Model, values: list[float], peak: float, time_limit: float
) -> dict[str, Any]:
    """Minimise overlap with the peak held at its optimum, hinted with the level-1 layout."""
    import numpy as np

    n = model.mix.instance.cores
    h.changeColCost(model.peak, 0.0)
    h.changeColBounds(model.peak, model.col_lower[model.peak], peak + PEAK_SLACK)
    first = h.getNumCol()
    h.addVars(n, np.zeros(n), np.full(n, highspy.kHighsInf))
    h.changeColsCost(n, np.arange(first, first + n, dtype=np.int32), np.ones(n))
    cover: list[list[int]] = [[] for _ in range(n)]
    for m, dom, cols in zip(model.mix.models, model.starts, model.x, strict=True):
        for s, j in zip(dom, cols, strict=True):
            for c in range(s, s + m.width):
                cover[c].append(j)
    rows = _Rows()
    for c in range(n):
        entries: dict[int, float] = defaultdict(float)
        for j in cover[c]:
            entries[j] += 1.0
        entries[first + c] = -1.0
        rows.add(entries, -math.inf, 1.0)
    h.addRows(
        n,
        np.full(n, -highspy.kHighsInf),
        np.array(rows.upper),
        len(rows.index),
        np.array(rows.starts, dtype=np.int32),
        np.array(rows.index, dtype=np.int32),
        np.array(rows.value),
    )
    counts = [sum(round(values[j]) for j in cover[c]) for c in range(n)]
    hint = np.array([*values, *(max(0, k - 1) for k in counts)], dtype=np.float64)
    sol = highspy.HighsSolution()
    sol.col_value = hint
    h.setSolution(sol)
    h.setOptionValue("time_limit", time_limit)
    h.run()
    status, has = _status(highspy, h)
    if not has:
        return {"status": status}
    new = list(h.getSolution().col_value)
    starts = _starts_of(model, new)
    scored = ncplace.score(layout_from_starts(model.mix, starts), model.mix)
    return {"status": status, "starts": starts, "overlap": scored.overlap, "peak": scored.peak_load}


def _gap(objective: float, bound: float | None) -> float | None:
    if bound is None:
        return None
    if objective <= 0:
        return 0.0
    return max(0.0, (objective - bound) / objective)


def _stop(h: Any) -> str:
    return str(h.modelStatusToString(h.getModelStatus()))
