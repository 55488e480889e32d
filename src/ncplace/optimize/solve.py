"""The lexicographic solve: :func:`optimize`.

Levels are solved one after another on the same CP-SAT model: minimise level ``i``, add
``expr_i <= value_i`` (its best value found, proven optimal or not, so a later level can never
undo an earlier one), hint the solution found and minimise level ``i + 1``. This rather than one
weighted sum because weights that make a sum lexicographic (``w_i > max(rest)``) multiply loads
scaled up to ``2**40`` by core and copy counts, past what CP-SAT's LP relaxation handles well, and
because a weighted objective blurs the bound of the first level, which is the one the plan
reports.

Hints: the best baseline that fits the model (or ``current``) gives the starts and copy counts;
before every level the hint is completed to every variable by a solve with the hinted variables
fixed (:func:`_complete_hint`), so CP-SAT starts from a full feasible solution instead of a
cold search.

The peak level (``objective="peak"``) runs four searches in turn: the core sweep's probe for proofs
above the floor (:mod:`.sweep`, ``PROBE_SHARE``; block mode with fixed copy counts only); the tabu
search from the best baseline (:mod:`.tabu`, ``TABU_SHARE``, giving up early without progress),
whose layout replaces the baseline as CP-SAT's hint; CP-SAT; then, unless CP-SAT proved its layout,
the tabu search from CP-SAT's layout, the sweep's search below the result (``SWEEP_SHARE``, block
mode with fixed copy counts only) and, on mixes of at most one model per core on up to 16 cores,
CP-SAT decision solves one unit below the best peak (``DECISION_SHARE``). A layout that meets a
proven bound ends the level at once, with CP-SAT skipped when that happens before it. All of them
count work in steps or deterministic time.

Time (:mod:`.budget`): ``time_limit`` is a budget of nominal seconds. Each level gets a share of
what is left, in the ratio 9 : 1 : 0.5 : 0.5 ... (the first level is the one the plan reports; it
gets 90 % when there is no hint, since then finding any layout is the hard part), and what a
level leaves unused rolls forward; the later levels together never take more than their own
weights' part of ``time_limit`` (:func:`_share`), so a plan whose first level is proven at once
does not then spend the whole limit on tie-breaks (a 16-model mix proven in 0.03 s took 8 s
before this cap, its chip-crossings level running out the clock, and 1.0 s with it). With
``workers=1`` a share is CP-SAT deterministic time (``max_deterministic_time``,
:func:`.budget.dtime_rate` units per nominal second) and a level is charged the deterministic
time it used, so every share is the same on every run; each solve also has a wall-clock safety
limit of :data:`.budget.WALL_FACTOR` times its share plus :data:`.budget.WALL_SLACK_S` seconds.
With ``workers > 1`` shares are wall-clock seconds.

Determinism: ``workers=1`` (the default) runs CP-SAT's portfolio interleaved on one thread
(``interleave_search``), which is deterministic, and stops it on the deterministic clock: the same
mix, seed, ``time_limit``, ``current``, options and OR-Tools version give the same layout, bound
and status on every run, whether the solves end on their own or on the time limit; only
``runtime_s``, the levels' ``runtime_s`` and the progress callback's ``elapsed_s`` vary.
The one exception is a solve stopped by its wall-clock safety limit (a machine several times
slower than expected, or heavily loaded): ``plan.stop_reason`` then ends with ``"; not
reproducible: the wall-clock safety limit stopped <levels>"``. The explanation of an infeasible
mix is reproducible on the same terms. ``workers > 1`` runs the parallel portfolio against the
wall clock: faster on many cores, not reproducible.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib.metadata import version

from ortools.sat.python import cp_model

from ..errors import ConfigError, check_type
from ..layout import Layout
from ..mix import Mix
from ..score import score
from . import tabu
from .baselines import Baseline, best, better, rank, run_baselines
from .budget import SMALL_CORES, Budget, dtime_rate
from .constraints import add_rules
from .explain import describe, diagnose, precheck
from .layouts import assignment_of, explicit, layout_from, sort_symmetric
from .objectives import (
    Assignment,
    crossings_expr,
    high_end_expr,
    moves_expr,
    overlap_expr,
)
from .plan import OBJECTIVES, Level, Plan, Status, universal_bound
from .problem import Problem, build_problem
from .progress import ProgressCallback, Reporter, read_assignment, real_peak
from .sweep import STEPS_PER_SECOND, SweepResult, applicable, int_peak, sweep
from .variables import Variables, bounds, build_variables

ORTOOLS_VERSION = version("ortools")
FIRST_LEVEL_WEIGHT = 9.0
LATER_LEVEL_WEIGHT = 0.5
"""Time shares: 9 for the first level, 1 for the second, 0.5 for each later one."""
HINT_SHARE = 0.2
PROBE_SHARE = 0.02
SWEEP_SHARE = 0.1
"""The core sweep's parts of the first level's share (:mod:`.sweep`): a probe before CP-SAT
(``PROBE_SHARE``: proofs only, from the floor; they often settle small mixes at once, and it is
kept short because mixes that CP-SAT proves in milliseconds would otherwise wait for it) and a
sweep after CP-SAT and the tabu search (``SWEEP_SHARE``: from CP-SAT's bound, for layouts below
the best so far). CP-SAT does not start from the sweep's layout, which measured worse than the
baseline (40 models on 16 cores: 0.743 vs 0.740, 0.774 vs 0.773, ...); it starts from the tabu
search's."""
TABU_SHARE = 0.1
"""The part of the first level's share of each of the two tabu searches (:mod:`.tabu`): one from
the best baseline before CP-SAT, whose layout CP-SAT then starts from, and one from CP-SAT's
layout when CP-SAT has not proven it optimal. Measured against one search of 0.2 after CP-SAT
only, or before it only, on the benchmark's 20-40-model mixes on 16 cores (10 s): lower peaks
on 9 and 8 of 15, higher on 4 and 1; on 300 models / 64 cores all three end within 0.11 % of the
bound, where CP-SAT alone ends 0.7-0.9 % above it."""
TABU_PATIENCE = 0.25
"""The search before CP-SAT gives up after this share of its steps without a lower peak: CP-SAT
may prove at once what the search cannot reach (40 equal-load models on 16 cores: 0.5 s instead
of 1.6 s). The search after CP-SAT uses all its steps (with the same rule, its peaks on the
20-40-model mixes were higher on 6 of 15, lower on 1)."""
DECISION_SHARE = 0.3
"""The part of the first level's share for CP-SAT decision solves after the searches that follow
CP-SAT (:func:`_decide`): "is there a layout one unit below the best peak?", repeated while the
answer is a layout; taken from CP-SAT's minimisation, whose bound stalls where few heavy models
share the cores. Only on mixes of at most one model per core on at most
:data:`.budget.SMALL_CORES` cores, where it was measured to pay: it proves the 16-model mix of 16
cores (``scale`` seed 0) optimal at 10 s. On 20-40 models on 16 cores the sweep and the tabu
search do better with that time (peaks equal or higher with it, no bound raised), and on 32 and
64 models on 32 and 64 cores it raised no bound and doubled the wall time (26.8 s instead of
13.0 for a 30 s limit: the default search's deterministic clock runs slow there)."""
DIAGNOSIS_CHECK_S = 1.0
DIAGNOSIS_SHARE = 0.25
"""Explaining an infeasible mix: at most ``DIAGNOSIS_CHECK_S`` nominal seconds per check, and in
all what the solve left unused or ``DIAGNOSIS_SHARE * time_limit``, whichever is more."""


@dataclass
class _Built:
    model: cp_model.CpModel
    vars: Variables
    peak: cp_model.IntVar


def _build(problem: Problem, skip_symmetry: set[int] | None = None) -> _Built:
    model = cp_model.CpModel()
    v = build_variables(model, problem)
    peak = add_rules(v, skip_symmetry)
    return _Built(model, v, peak)


def _solver(budget: Budget, share: float, seed: int, workers: int) -> cp_model.CpSolver:
    """A solver limited to ``share`` nominal seconds of ``budget`` (see :mod:`.budget`)."""
    solver = cp_model.CpSolver()
    budget.set_limits(solver, share)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    if workers == 1:
        # One thread running CP-SAT's portfolio (LNS included) in turns: deterministic, and far
        # better at improving a hinted solution than the lone default search.
        solver.parameters.interleave_search = True
    return solver


def _hint(built: _Built, assignment: dict[int, Assignment], symmetric: bool) -> None:
    """Hint ``assignment``; ``symmetric``: the model orders interchangeable models' starts, so
    the hint is permuted into that order first (:func:`.layouts.sort_symmetric`)."""
    if symmetric:
        assignment = sort_symmetric(built.vars.problem, assignment)
    model, v = built.model, built.vars
    model.clear_hints()
    for m in v.problem.models:
        copies, starts = assignment[m.index]
        for r, lit in v.counts[m.index]:
            if lit is not True:
                model.add_hint(lit, r == copies)  # type: ignore[arg-type]
        for j, u in enumerate(v.units_of(m.index)):
            model.add_hint(u.start, starts[j] if j < len(starts) else 0)


def _hint_all(model: cp_model.CpModel, values: list[int]) -> None:
    """Hint every variable that existed at the last solve with its value there; the variables
    of the next level are functions of these, which CP-SAT completes by propagation."""
    model.clear_hints()
    hint = model.proto.solution_hint
    for index, value in enumerate(values):
        hint.vars.append(index)
        hint.values.append(int(value))


def _complete_hint(model: cp_model.CpModel, budget: Budget, share: float, seed: int) -> bool:
    """Extend a partial hint to every variable: solve with the hinted variables fixed (pure
    propagation, milliseconds) and hint the whole solution. Without it CP-SAT's hint search may
    stall on the auxiliary per-core variables and fall back to a cold search. Returns False
    (leaving the hint as it was) when the hint cannot be completed."""
    if not len(model.proto.solution_hint.vars):
        return False
    solver = _solver(budget, share, seed, 1)
    solver.parameters.fix_variables_to_their_hinted_value = True
    status = solver.solve(model)
    budget.charge(solver, status, "hint")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return False
    _hint_all(model, list(solver.response_proto.solution))
    return True


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


def _validate(
    mix: Mix,
    time_limit: float,
    seed: int,
    workers: int | None,
    current: Layout | None,
    objective: str,
    split_replicas: bool,
) -> None:
    check_type(mix, Mix, "optimize: mix")
    if (
        isinstance(time_limit, bool)
        or not isinstance(time_limit, (int, float))
        or not math.isfinite(time_limit)
        or time_limit < 0
    ):
        raise ConfigError(
            f"optimize: time_limit must be a number of seconds >= 0, got {time_limit!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise ConfigError(f"optimize: seed must be an integer in 0..2**31-1, got {seed!r}")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ConfigError(f"optimize: workers must be an integer >= 1 or None, got {workers!r}")
    if current is not None:
        check_type(current, Layout, "optimize: current")
        if current.instance.cores != mix.instance.cores:
            raise ConfigError(
                f"optimize: current layout has {current.instance.cores} cores, the mix's "
                f"instance {mix.instance.cores}"
            )
    if objective not in OBJECTIVES:
        raise ConfigError(
            f"optimize: objective {objective!r} is not one of {', '.join(OBJECTIVES)}"
        )
    if not isinstance(split_replicas, bool):
        raise ConfigError(f"optimize: split_replicas must be True or False, got {split_replicas!r}")


@dataclass
class _LevelSpec:
    name: str
    make: Callable[[], cp_model.LinearExprT | None]
    scale: float = 1.0


def _status_text(status: object) -> str:
    texts: dict[object, str] = {
        cp_model.OPTIMAL: "optimal",
        cp_model.FEASIBLE: "time limit",
        cp_model.INFEASIBLE: "infeasible",
        cp_model.UNKNOWN: "time limit (no solution)",
        cp_model.MODEL_INVALID: "model invalid",
    }
    return texts.get(status, "unknown")


def optimize(
    mix: Mix,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    workers: int | None = None,
    current: Layout | None = None,
    objective: str = "peak",
    split_replicas: bool = False,
    progress: ProgressCallback | None = None,
) -> Plan:
    """Find explicit placements for ``mix`` that minimise the peak core load (then overlap, chip
    crossings, moves from ``current``, and the highest used core), with a proven bound.

    ``objective="overlap"`` puts overlap first and peak load second. ``split_replicas=True`` lets
    each copy sit apart (one handle per copy). ``workers`` defaults to 1, which with ``seed`` makes
    the result reproducible even when the time limit cuts the search: ``time_limit`` is then spent
    on CP-SAT's deterministic clock (about ``time_limit`` wall seconds on large mixes, less on
    small ones, at most ``3 time_limit`` plus about a second per level before a wall-clock safety
    limit stops it; see :mod:`.solve` and :mod:`.budget` for exactly what is reproducible).
    ``workers > 1`` runs a parallel search on the wall clock, not reproducible.
    ``progress(elapsed_s, incumbent, bound)`` is called with the first objective's incumbent and
    bound during the first level and once at the end with the plan's (:mod:`.progress`). The plan
    is never worse, on the first two objectives, than the best feasible baseline policy. See
    :mod:`ncplace.optimize` for the model.
    """
    _validate(mix, time_limit, seed, workers, current, objective, split_replicas)
    if progress is not None and not callable(progress):
        raise ConfigError(
            f"optimize: progress must be a callable (elapsed_s, incumbent, bound) or None, got "
            f"{type(progress).__name__}"
        )
    start = time.perf_counter()
    n_workers = workers or 1
    rate = dtime_rate(mix.instance.cores)
    budget = Budget(float(time_limit), deterministic=n_workers == 1, start=start, rate=rate)
    problem = build_problem(mix, split_replicas)
    baselines = run_baselines(mix)
    top = best(baselines, objective)
    common = {
        "mix": mix,
        "objective_name": objective,
        "ortools_version": ORTOOLS_VERSION,
        "seed": seed,
        "split_replicas": split_replicas,
        "load_scale": problem.load_scale,
        "load_exact": problem.load_exact,
    }

    reason = precheck(problem)
    if reason is not None:
        plan = _finish(
            problem, None, top, Status.INFEASIBLE, math.inf, "infeasible", reason, (), start, common
        )
        if progress is not None:
            Reporter(progress, start, problem, objective, math.inf, math.inf, None).end(
                plan.objective, plan.bound
            )
        return plan

    current_of = _current_assignment(current, problem)
    built = _build(problem, skip_symmetry=set(current_of) if current is not None else None)
    hint = _pick_hint(problem, baselines, objective, current, current_of)
    if hint is not None:
        _hint(built, hint, symmetric=current is None)
    levels = _levels(built, problem, objective, current_of if current is not None else None)
    weights = [FIRST_LEVEL_WEIGHT, 1.0] + [LATER_LEVEL_WEIGHT] * (len(levels) - 2)
    if hint is None:
        # Without a starting layout, finding any layout is the hard part: the first level
        # gets 90 % of the time.
        weights[0] = 9.0 * sum(weights[1:])

    records: list[Level] = []
    assignment: dict[int, Assignment] | None = None
    first_status = Status.UNKNOWN
    first_bound = _trivial_bound(built, problem, objective)
    reporter = Reporter(
        progress,
        start,
        problem,
        objective,
        rank(top.score, objective)[0] if top is not None else math.inf,
        first_bound,
        universal_bound(mix) if objective == "peak" else None,
    )
    reporter.begin()
    stop = "time limit 0" if time_limit == 0 else "time limit (no solution)"
    first_used = 0.0
    sweeping = objective == "peak" and applicable(problem)
    polishing = objective == "peak"
    deciding = polishing and len(problem.models) <= problem.cores <= SMALL_CORES
    decision_share = DECISION_SHARE if deciding else 0.0
    first_share = _share(budget, weights, 0, 0.0)
    swept: SweepResult | None = None
    settled: tuple[dict[int, Assignment], int, str] | None = None
    started_from_tabu = False
    first_start = time.perf_counter()
    if sweeping and first_share > 0:
        upper = int_peak(problem, hint) if hint is not None else bounds(built.peak)[1] + 1
        swept = _run_sweep(built, problem, upper, budget, PROBE_SHARE * first_share, find=False)
        first_bound = max(first_bound, swept.bound / problem.load_scale)
        reporter.proved(first_bound)
        if swept.proven and swept.assignment is not None:
            settled = (swept.assignment, swept.bound, "core sweep")
    if settled is None and polishing and hint is not None and first_share > 0:
        lower = max(bounds(built.peak)[0], swept.bound if swept else 0)
        if score(layout_from(problem, hint), mix).feasible:
            pre = _run_tabu(problem, budget, first_share, hint, lower, seed, TABU_PATIENCE)
            if pre.assignment is not None and pre.peak is not None:
                hint = pre.assignment
                started_from_tabu = True
                _hint(built, hint, symmetric=current is None)
                reporter.found(real_peak(problem, hint))
                if pre.peak <= lower:
                    settled = (hint, pre.peak, "tabu search")
    for i, spec in enumerate(levels):
        now = first_start if i == 0 else time.perf_counter()
        if i == 0 and settled is not None:
            assignment, peak, prover = settled
            value = float(peak)
            real = value / problem.load_scale
            stop = f"optimal ({prover})"
            records.append(Level(spec.name, real, real, stop, time.perf_counter() - now, 0.0))
            first_status = Status.OPTIMAL
            first_bound = max(first_bound, real)
            first_used = budget.used()
            built.model.add(built.peak <= peak)
            _hint(built, assignment, symmetric=current is None)
            reporter.found(real_peak(problem, assignment))
            continue
        share = _share(budget, weights, i, budget.used() - first_used)
        if share <= 0:
            if i == 0:
                break
            continue
        expr = spec.make()
        if expr is None:
            continue
        built.model.minimize(expr)
        if i == 0 and polishing:
            share *= 1 - TABU_SHARE - decision_share - (SWEEP_SHARE if sweeping else 0.0)
        before = budget.used()
        _complete_hint(built.model, budget, HINT_SHARE * share, seed)
        solver = _solver(budget, max(0.0, share - (budget.used() - before)), seed, n_workers)
        watch = reporter.attach(solver, built.vars, spec.scale) if i == 0 else None
        status = solver.solve(built.model, watch)
        if i == 0:
            reporter.detach()
        cut = budget.charge(solver, status, spec.name)
        if i == 0:
            first_used = budget.used()
        found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        value = solver.objective_value if found else math.inf
        bound = solver.best_objective_bound if status != cp_model.INFEASIBLE else math.inf
        records.append(
            Level(
                spec.name,
                value / spec.scale,
                bound / spec.scale,
                _status_text(status),
                time.perf_counter() - now,
                solver.response_proto.deterministic_time,
            )
        )
        if i == 0:
            stop = _stop_text(status, budget, cut)
            if status == cp_model.MODEL_INVALID:
                stop += ": " + built.model.validate()
            if started_from_tabu:
                stop += "; CP-SAT started from the tabu search's layout"
            if status == cp_model.OPTIMAL:
                first_status = Status.OPTIMAL
            elif status == cp_model.FEASIBLE:
                first_status = Status.FEASIBLE
            elif status == cp_model.INFEASIBLE:
                first_status = Status.INFEASIBLE
            if math.isfinite(bound):
                first_bound = max(first_bound, _to_real(bound, spec))
            else:
                first_bound = math.inf
            if not found:
                break
        if not found:
            continue
        assignment = read_assignment(solver, built.vars)
        _hint_all(built.model, list(solver.response_proto.solution))
        if i == 0 and polishing and first_status != Status.OPTIMAL:
            lower = max(swept.bound if swept else 0, math.ceil(bound - 1e-6))
            polished = _polish(
                built,
                problem,
                budget,
                first_share,
                decision_share * first_share,
                assignment,
                round(value),
                lower,
                seed,
                n_workers,
            )
            first_used = budget.used()
            first_bound = max(first_bound, polished.bound / problem.load_scale)
            if polished.peak < round(value):
                value = float(polished.peak)
                assignment = polished.assignment
                _hint(built, assignment, symmetric=current is None)
                reporter.found(real_peak(problem, assignment))
            stop += "".join(f"; the {what} lowered the peak" for what in polished.lowered_by)
            if polished.bound >= round(value):
                first_status = Status.OPTIMAL
                stop = f"optimal ({polished.prover} after CP-SAT)"
            records[-1] = replace(
                records[-1],
                value=value / spec.scale,
                bound=max(records[-1].bound, polished.bound / spec.scale),
                status=stop if first_status == Status.OPTIMAL else records[-1].status,
                runtime_s=time.perf_counter() - now,
            )
        built.model.add(expr <= round(value))

    explanation = None
    if first_status == Status.INFEASIBLE:
        diag = Budget(
            max(budget.left(), DIAGNOSIS_SHARE * time_limit), budget.deterministic, rate=rate
        )
        keep = diagnose(problem, lambda p: _infeasible(p, seed, diag), diag.exhausted)
        explanation = describe(problem, keep)
        if not problem.split and any(m.max_replicas(mix.instance.cores) > 1 for m in mix.models):
            explanation += (
                "; copies placed apart may fit: try split_replicas=True (--split-replicas)"
            )
    stop += _not_reproducible(budget)
    layout = None if assignment is None else layout_from(problem, assignment)
    plan = _finish(
        problem, layout, top, first_status, first_bound, stop, explanation, records, start, common
    )
    reporter.end(plan.objective, plan.bound)
    return plan


@dataclass(frozen=True)
class _Polished:
    """What the searches after CP-SAT reached: the best layout and its integer peak, the proven
    integer bound, which searches lowered the peak, and which one settled the level."""

    assignment: dict[int, Assignment]
    peak: int
    bound: int
    lowered_by: tuple[str, ...]
    prover: str


def _polish(
    built: _Built,
    problem: Problem,
    budget: Budget,
    first_share: float,
    decision_share: float,
    assignment: dict[int, Assignment],
    peak: int,
    lower: int,
    seed: int,
    workers: int,
) -> _Polished:
    """Lower the peak of CP-SAT's layout (whose integer peak is ``peak``): tabu search from it
    (:mod:`.tabu`), then the core sweep for layouts below the result and a higher bound
    (:mod:`.sweep`), when it applies, then CP-SAT decision solves one unit below the best peak
    (:func:`_decide`) on ``decision_share`` nominal seconds."""
    lowered_by: list[str] = []
    prover = "CP-SAT"
    found = _run_tabu(problem, budget, first_share, assignment, lower, seed)
    if found.assignment is not None and found.peak is not None:
        assignment, peak = found.assignment, found.peak
        lowered_by.append("tabu search")
        prover = "tabu search"
    if peak > lower and applicable(problem):
        after = _run_sweep(built, problem, peak, budget, SWEEP_SHARE * first_share, lower)
        lower = max(lower, after.bound)
        prover = "core sweep"
        if after.assignment is not None and after.peak is not None:
            assignment, peak = after.assignment, after.peak
            lowered_by.append("core sweep")
    share = decision_share
    while peak > lower and share > 0:
        before = budget.used()
        status, lower_layout = _decide(built, budget, share, seed, workers, peak - 1)
        share -= budget.used() - before
        if status == cp_model.INFEASIBLE:
            lower, prover = peak, "CP-SAT decision"
        elif lower_layout is not None:
            assignment, peak = lower_layout, int_peak(problem, lower_layout)
            if "CP-SAT decision" not in lowered_by:
                lowered_by.append("CP-SAT decision")
        else:
            break
    return _Polished(assignment, peak, lower, tuple(lowered_by), prover)


def _decide(
    built: _Built, budget: Budget, share: float, seed: int, workers: int, cap: int
) -> tuple[object, dict[int, Assignment] | None]:
    """Ask CP-SAT for any layout of the model with integer peak at most ``cap``, on ``share``
    nominal seconds: its status, and the layout when one is found. With the capacity a constant
    the cumulative constraint propagates what the minimisation cannot (two copies whose loads add
    up to more than ``cap`` cannot share a core), so this proves lower peaks impossible where the
    minimisation's bound stalls. With one worker it runs CP-SAT's default one-thread search, not
    the interleaved portfolio (slower here: 10.7 deterministic seconds instead of 3.2 on a
    16-model mix), which is just as reproducible."""
    model = built.model.clone()
    model.clear_objective()
    model.clear_hints()
    model.add(built.peak <= cap)
    solver = _solver(budget, share, seed, workers)
    solver.parameters.interleave_search = False
    status = solver.solve(model)
    budget.charge(solver, status, "decision")
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return status, read_assignment(solver, built.vars)
    return status, None


def _run_tabu(
    problem: Problem,
    budget: Budget,
    first_share: float,
    assignment: dict[int, Assignment],
    lower: int,
    seed: int,
    patience: float = 1.0,
) -> tabu.TabuResult:
    """Run the tabu search from ``assignment`` down to ``lower`` on ``TABU_SHARE`` of the first
    level's share, and charge it to ``budget``."""
    share = TABU_SHARE * first_share
    steps = int(tabu.STEPS_PER_SECOND * share)
    found = tabu.improve(
        problem, assignment, lower, steps, seed, budget.wall_limit(share), patience
    )
    budget.spend(found.steps / tabu.STEPS_PER_SECOND, "tabu search", found.wall_cut)
    return found


def _run_sweep(
    built: _Built,
    problem: Problem,
    upper: int,
    budget: Budget,
    share: float,
    lower: int | None = None,
    find: bool = True,
) -> SweepResult:
    """Run the core sweep (bound from ``lower``, default the peak's domain; layouts below
    ``upper``) on ``share`` nominal seconds, charge it to ``budget``, and pass what it proved to
    the model: ``peak >= bound`` (valid for every layout of the block model, and it lets CP-SAT
    report that bound from the start)."""
    floor = bounds(built.peak)[0]
    lower = floor if lower is None else max(lower, floor)
    result = sweep(
        problem, lower, upper, int(STEPS_PER_SECOND * share), budget.wall_limit(share), find
    )
    budget.spend(result.steps / STEPS_PER_SECOND, "sweep", result.wall_cut)
    if result.bound > floor:
        built.model.add(built.peak >= result.bound)
    return result


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


def _infeasible(problem: Problem, seed: int, budget: Budget) -> bool:
    if precheck(problem) is not None:
        return True
    if budget.exhausted():
        return False
    built = _build(problem)
    solver = _solver(budget, min(DIAGNOSIS_CHECK_S, budget.left()), seed, 1)
    status = solver.solve(built.model)
    budget.charge(solver, status, "diagnosis")
    return status == cp_model.INFEASIBLE


def _stop_text(status: object, budget: Budget, cut: bool) -> str:
    """What ended the first level (see :attr:`.plan.Plan.stop_reason`)."""
    text = _status_text(status)
    if status == cp_model.FEASIBLE:
        if cut:
            text += " (wall-clock safety limit)"
        else:
            text += " (deterministic)" if budget.deterministic else " (wall clock)"
    return text


def _not_reproducible(budget: Budget) -> str:
    if not budget.wall_cuts:
        return ""
    return "; not reproducible: the wall-clock safety limit stopped " + ", ".join(
        dict.fromkeys(budget.wall_cuts)
    )


def _to_real(bound: float, spec: _LevelSpec) -> float:
    return bound / spec.scale


def _trivial_bound(built: _Built, problem: Problem, objective: str) -> float:
    if objective == "overlap":
        return float(max(0, sum(m.min_width for m in problem.models) - problem.cores))
    lo, _ = bounds(built.peak)
    return lo / problem.load_scale


def _levels(
    built: _Built,
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


def _finish(
    problem: Problem,
    layout: Layout | None,
    top: Baseline | None,
    status: Status,
    bound: float,
    stop: str,
    explanation: str | None,
    records: tuple[Level, ...] | list[Level],
    start: float,
    common: dict[str, object],
) -> Plan:
    """The plan: the solver's layout, or the best baseline when that is better (then the bound is
    the smaller of the block model's bound and the baseline's value, a bound over both); the
    objective and both reported metrics are the scorer's values of the returned layout."""
    mix = problem.mix
    objective = str(common["objective_name"])
    sc = None if layout is None else score(layout, mix)
    source = "cp-sat"
    if top is not None and (sc is None or better(top.score, sc, objective)):
        layout = explicit(top.layout, mix)
        sc = score(layout, mix)
        source = f"baseline:{top.name}"
        if status == Status.INFEASIBLE:
            kind = "copies apart" if problem.split else "one block per model"
            explanation = (
                f"no layout with {kind} exists ({explanation}); returned the best baseline, "
                f"{top.name!r}"
            )
            stop = "block model infeasible; best baseline returned"
            # Nothing of the block model bounds a layout outside it: only the universal floor.
            bound = universal_bound(mix) if objective == "peak" else 0.0
            status = Status.FEASIBLE
        else:
            stop = f"{stop}; best baseline {top.name!r} returned"
            first = float(top.score.overlap) if objective == "overlap" else top.score.peak_load
            # A baseline that only wins on a later level keeps a proven first level optimal.
            if not (status == Status.OPTIMAL and first <= bound + 1e-9 * max(1.0, first)):
                status = Status.FEASIBLE
    if sc is None or layout is None:
        value = math.inf
        gap = math.inf
        if status != Status.INFEASIBLE:
            status = Status.UNKNOWN
        peak_load = None
        overlap = None
    else:
        value = float(sc.overlap) if objective == "overlap" else sc.peak_load
        if status == Status.UNKNOWN:
            status = Status.FEASIBLE
        if status == Status.OPTIMAL and problem.load_exact:
            bound = value
        bound = min(bound, value)
        if objective == "peak":
            floor = universal_bound(mix)
            bound = max(bound, min(floor, value))
            if value <= floor + 1e-9 * max(1.0, value):
                status = Status.OPTIMAL
        gap = 0.0 if status == Status.OPTIMAL or value <= 0 else (value - bound) / value
        peak_load = sc.peak_load
        overlap = sc.overlap
    return Plan(
        layout=layout,
        status=status,
        objective=value,
        bound=bound,
        gap=gap,
        runtime_s=time.perf_counter() - start,
        stop_reason=stop,
        score=sc,
        explanation=explanation,
        peak_load=peak_load,
        overlap=overlap,
        source=source,
        levels=tuple(records),
        **common,  # type: ignore[arg-type]
    )
