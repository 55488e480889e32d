"""The CP-SAT search of :func:`.solve.optimize`: the model, its hint, the first level's stages
(:mod:`.stages`) and the tie-break levels, each level on a share of what is left (see
:mod:`.solve` for the levels and the time).

Apart from :mod:`.solve` because of its imports: OR-Tools, and pandas with it, take about 0.3 s
to import, which is the whole of what a plan with no time left to search may take (10,000
models on 256 cores with ``time_limit=1``). :mod:`.solve` imports this module only when it
builds a model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ortools.sat.python import cp_model

from ..layout import Layout
from ..score import score
from . import cpsat
from .baselines import Baseline, better, rank
from .budget import Budget
from .cpsat import Built
from .explain import precheck
from .layouts import assignment_of
from .objectives import (
    Assignment,
    crossings_expr,
    high_end_expr,
    moves_expr,
    overlap_expr,
)
from .plan import Level, Status, universal_bound
from .problem import Problem
from .progress import Reporter, read_assignment
from .stages import (
    HINT_SHARE,
    OVERLAP_STAGES,
    PEAK_STAGES,
    FirstLevel,
    Incumbent,
    Search,
    run_stages,
)
from .sweep import int_peak
from .variables import bounds

if TYPE_CHECKING:
    from .solve import _Options

FIRST_LEVEL_WEIGHT = 9.0
LATER_LEVEL_WEIGHT = 0.5
"""Time shares: 9 for the first level, 1 for the second, 0.5 for each later one."""
TIE_BREAK_BUILD_SHARE = 0.5
"""On the wall clock, a tie-break level runs only when its share exceeds this part of the time
building the model took: its objective's variables and constraints cost about that much Python
time, which no solver limit counts."""
DIAGNOSIS_CHECK_S = 1.0
"""Explaining an infeasible mix: at most this many nominal seconds per check."""


@dataclass
class _LevelSpec:
    name: str
    make: Callable[[], cp_model.LinearExprT | None]
    scale: float = 1.0


@dataclass
class Found:
    """What the search reached: the layout's assignment (None: none beyond the baselines), the
    first level's status, bound (in the user's units) and what ended it, the levels' records
    and the progress reporter."""

    assignment: dict[int, Assignment] | None
    status: Status
    bound: float
    first: FirstLevel
    records: list[Level]
    reporter: Reporter

    def stop_reason(self, time_limit: float, interrupted: bool) -> str:
        stop = self.first.stop_reason(time_limit)
        if not interrupted:
            return stop
        return f"{stop}; interrupted" if self.status == Status.OPTIMAL else "interrupted"


def _current_assignment(current: Layout | None, problem: Problem) -> dict[int, Assignment | None]:
    if current is None:
        return {}
    out: dict[int, Assignment | None] = {}
    for m in problem.models:
        sub = assignment_of(_only(current, m.name), problem.reduced({m.index: set()}))
        out[m.index] = None if sub is None else sub.get(m.index)
    return out


def _only(layout: Layout, name: str) -> Layout:
    return Layout(layout.instance, layout.processes, layout.placements_of(name))


def search(
    problem: Problem,
    baselines: list[Baseline],
    top: Baseline | None,
    budget: Budget,
    options: _Options,
) -> Found:
    """Build the model, hint it with the best baseline (or ``current``), run the first level's
    stages and the tie-break levels. A ``KeyboardInterrupt`` before the first level propagates;
    one after it ends the search with what was found."""
    built_at = time.perf_counter()
    objective, current = options.objective, options.current
    current_of = _current_assignment(current, problem)
    built = cpsat.build(problem, skip_symmetry=set(current_of) if current is not None else None)
    hint = _pick_hint(problem, baselines, objective, current, current_of)
    if hint is not None:
        cpsat.hint(built, hint, symmetric=current is None)
    levels = _levels(built, problem, objective, current_of if current is not None else None)
    weights = [FIRST_LEVEL_WEIGHT, 1.0] + [LATER_LEVEL_WEIGHT] * (len(levels) - 2)
    if hint is None:
        # Without a starting layout, finding any layout is the hard part: the first level
        # gets 90 % of the time.
        weights[0] = 9.0 * sum(weights[1:])
    built_s = time.perf_counter() - built_at
    reporter = Reporter(
        options.progress,
        options.start,
        problem,
        objective,
        rank(top.score, objective)[0] if top is not None else math.inf,
        _trivial_bound(built, problem, objective) / levels[0].scale,
        universal_bound(problem.mix) if objective == "peak" else None,
    )
    reporter.begin()
    state = Search(
        problem=problem,
        built=built,
        objective=objective,
        expr=levels[0].make(),  # type: ignore[arg-type]
        seed=options.seed,
        workers=options.workers,
        reporter=reporter,
        symmetric=current is None,
        first_share=_share(budget, weights, 0, 0.0),
        weights=weights,
        scale=levels[0].scale,
    )
    first, record = _first_level(state, levels[0], hint, budget, options.time_limit)
    inc = first.incumbent
    found = Found(
        assignment=inc.assignment if inc.source is not None else None,
        status=_first_status(first),
        bound=_first_bound(first) / levels[0].scale,
        first=first,
        records=[] if record is None else [record],
        reporter=reporter,
    )
    try:
        if first.go_on and inc.value is not None and not budget.interrupted:
            built.model.add(state.expr <= inc.value)
            least = 0.0 if options.deterministic else TIE_BREAK_BUILD_SHARE * built_s
            found.assignment = _tie_breaks(
                built, levels, weights, budget, options, found.assignment, found.records, least
            )
    except KeyboardInterrupt:
        budget.interrupted = True
    return found


def _first_level(
    search: Search,
    spec: _LevelSpec,
    hint: dict[int, Assignment] | None,
    budget: Budget,
    time_limit: float,
) -> tuple[FirstLevel, Level | None]:
    """Run the first level's stages from ``hint``; what they reached and the level's record
    (None when CP-SAT did not run and no stage closed the gap)."""
    started = time.perf_counter()
    problem, objective = search.problem, search.objective
    value = int_peak(problem, hint) if hint is not None and objective == "peak" else None
    trivial = _trivial_bound(search.built, problem, objective)
    stages = PEAK_STAGES if objective == "peak" else OVERLAP_STAGES
    first = run_stages(search, stages, Incumbent(hint, value, trivial), budget)
    inc = first.incumbent
    if first.cpsat_status is None and first.closed_by is None:
        return first, None
    runtime = time.perf_counter() - started
    real = math.inf if inc.value is None else inc.value / spec.scale
    if first.closed_by is not None and not first.closed_after:
        return first, Level(spec.name, real, real, first.stop_reason(time_limit), runtime, 0.0)
    status = first.stop_reason(time_limit) if first.closed_by else str(first.cpsat_status)
    return first, Level(
        spec.name,
        real,
        _first_bound(first) / spec.scale,
        status,
        runtime,
        first.deterministic_time,
    )


def _first_status(first: FirstLevel) -> Status:
    if first.closed_by is not None:
        return Status.OPTIMAL
    if first.infeasible:
        return Status.INFEASIBLE
    if first.incumbent.source is not None:
        return Status.FEASIBLE
    return Status.UNKNOWN


def _first_bound(first: FirstLevel) -> float:
    """The first level's proven bound in its integer units: rounded up to an integer once a
    stage after CP-SAT has worked from it, and the layout's value when the gap is closed."""
    inc = first.incumbent
    bound = inc.bound
    if first.ran_after and math.isfinite(bound):
        bound = max(bound, float(inc.lower))
    if first.closed_by is not None and inc.value is not None:
        bound = max(bound, float(inc.value))
    return bound


def _tie_breaks(
    built: Built,
    levels: list[_LevelSpec],
    weights: list[float],
    budget: Budget,
    options: _Options,
    assignment: dict[int, Assignment] | None,
    records: list[Level],
    least: float = 0.0,
) -> dict[int, Assignment] | None:
    """Minimise the later levels in turn on CP-SAT, each bounded by the values kept before it;
    the last layout found. A level whose share is at most ``least`` seconds is skipped; an
    interrupt ends the levels with the layout of the last one solved."""
    first_used = budget.used()
    for i, spec in enumerate(levels[1:], start=1):
        now = time.perf_counter()
        share = _share(budget, weights, i, budget.used() - first_used)
        if budget.interrupted:
            break
        if share <= least:
            continue
        expr = spec.make()
        if expr is None:
            continue
        built.model.minimize(expr)
        before = budget.used()
        cpsat.complete_hint(built.model, budget, HINT_SHARE * share, options.seed)
        left = max(0.0, share - (budget.used() - before))
        solver = cpsat.new_solver(budget, left, options.seed, options.workers)
        status, _ = cpsat.solve(budget, solver, built.model, spec.name)
        found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        value = solver.objective_value if found else math.inf
        bound = solver.best_objective_bound if status != cp_model.INFEASIBLE else math.inf
        records.append(
            Level(
                spec.name,
                value / spec.scale,
                bound / spec.scale,
                cpsat.status_text(status),
                time.perf_counter() - now,
                solver.response_proto.deterministic_time,
            )
        )
        if not found:
            continue
        assignment = read_assignment(solver, built.vars)
        cpsat.hint_all(built.model, list(solver.response_proto.solution))
        built.model.add(expr <= round(value))
    return assignment


def _share(budget: Budget, weights: list[float], i: int, later_used: float) -> float:
    """Level ``i``'s share: ``weights[i]`` of what is left over the weights of the levels still
    to come; a later level (``i > 0``) is also held to the allowance of the later levels so far,
    ``time_limit * sum(weights[1 : i + 1]) / sum(weights)`` minus ``later_used``, their spending
    (so a first level proven early returns early instead of handing its time to tie-breaks)."""
    share = budget.share(weights[i:])
    if i == 0:
        return share
    allowance = budget.total * sum(weights[1 : i + 1]) / sum(weights)
    return max(0.0, min(share, allowance - later_used))


def infeasible(problem: Problem, seed: int, budget: Budget) -> bool:
    if precheck(problem) is not None:
        return True
    if budget.exhausted():
        return False
    built = cpsat.build(problem)
    solver = cpsat.new_solver(budget, min(DIAGNOSIS_CHECK_S, budget.left()), seed, 1)
    status, _ = cpsat.solve(budget, solver, built.model, "diagnosis")
    return status == cp_model.INFEASIBLE


def _trivial_bound(built: Built, problem: Problem, objective: str) -> float:
    """A bound on the first objective before any search, in the level's integer units."""
    if objective == "overlap":
        return float(max(0, sum(m.min_width for m in problem.models) - problem.cores))
    lo, _ = bounds(built.peak)
    return float(lo)


def _levels(
    built: Built,
    problem: Problem,
    objective: str,
    current_of: dict[int, Assignment | None] | None,
) -> list[_LevelSpec]:
    v = built.vars
    peak = _LevelSpec("peak", lambda: built.peak, float(problem.load_scale))
    overlap = _LevelSpec("overlap", lambda: overlap_expr(v))
    first_two = [overlap, peak] if objective == "overlap" else [peak, overlap]
    rest = [_LevelSpec("chip crossings", lambda: crossings_expr(v))]
    if current_of is not None:
        current = current_of
        rest.append(_LevelSpec("moves", lambda: moves_expr(v, current)))
    rest.append(_LevelSpec("high end", lambda: high_end_expr(v)))
    return first_two + rest


def _pick_hint(
    problem: Problem,
    baselines: list[Baseline],
    objective: str,
    current: Layout | None,
    current_of: dict[int, Assignment | None],
) -> dict[int, Assignment] | None:
    candidates = []
    for b in baselines:
        a = assignment_of(b.layout, problem)
        if a is not None:
            candidates.append((b.score, a))
    if current is not None and all(current_of.get(m.index) for m in problem.models):
        try:
            s = score(current, problem.mix)
        except ValueError:
            s = None
        if s is not None and s.feasible:
            candidates.append((s, {i: a for i, a in current_of.items() if a is not None}))
    top = None
    for s, a in candidates:
        if top is None or better(s, top[0], objective):
            top = (s, a)
    return None if top is None else top[1]
