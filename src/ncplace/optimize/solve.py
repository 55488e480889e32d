"""The lexicographic solve: :func:`optimize`.

Levels are solved one after another on the same CP-SAT model: minimise level ``i``, add
``expr_i <= value_i`` (its best value found, proven optimal or not, so a later level can never
undo an earlier one), hint the solution found and minimise level ``i + 1``. This rather than one
weighted sum because weights that make a sum lexicographic (``w_i > max(rest)``) multiply loads
scaled up to ``2**40`` by core and copy counts, past what CP-SAT's LP relaxation handles well, and
because a weighted objective blurs the bound of the first level, which is the one the plan
reports.

The first level is a list of named stages (:mod:`.stages`): for the peak, the core sweep's
probe, the tabu search from the best baseline, CP-SAT, the tabu search and the core sweep from
CP-SAT's layout, and decision solves; for the overlap, CP-SAT alone. The later levels (the
tie-breaks: overlap or peak, chip crossings, moves from ``current``, the highest used core) are
CP-SAT minimisations. The starting hint is the best baseline that fits the model (or
``current``).

Time (:mod:`.budget`): ``time_limit`` is wall-clock seconds for the whole call by default, or,
with ``deterministic=True``, nominal seconds of CP-SAT's deterministic clock. Each level gets a
share of what is left, in the ratio 9 : 1 : 0.5 : 0.5 ... (the first level is the one the plan
reports; it gets 90 % when there is no hint, since then finding any layout is the hard part),
and what a level leaves unused rolls forward; the later levels together never take more than
their own weights' part of ``time_limit`` (:func:`_share`), so a plan whose first level is
proven at once does not then spend the whole limit on tie-breaks. On the wall clock the Python
work no solver limit sees is counted too: a few hundredths of a second and about one baseline's
cost are kept for building the plan (:data:`RESERVE_MIN_S`), the model is not built when the
baselines leave less time than :data:`MODEL_BUILD_FACTOR` times what building the problem took
(the best baseline is then the plan, and OR-Tools is not even imported: the search lives in
:mod:`.search`), and a tie-break level is skipped when its share is below half of what building
the model took.

Determinism (``deterministic=True``, one worker): CP-SAT's portfolio runs interleaved on one
thread (``interleave_search``), which is deterministic, and stops on the deterministic clock;
the sweep and the tabu search count steps. The same mix, seed, ``time_limit``, ``current``,
options and OR-Tools version give the same layout, bound and status on every run, whether the
solves end on their own or on the time limit; only ``runtime_s``, the levels' ``runtime_s`` and
the progress callback's ``elapsed_s`` vary, and nothing bounds the wall time but each solve's
safety limit. A solve stopped by that limit (a machine several times slower than expected, or
heavily loaded) makes ``plan.stop_reason`` end with ``"; not reproducible: the wall-clock safety
limit stopped <levels>"``. The explanation of an infeasible mix is reproducible on the same
terms. ``workers > 1`` runs CP-SAT's parallel portfolio, on the wall clock only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING

from ..errors import ConfigError, check_type
from ..latency.traffic import resolve_switch_ms
from ..layout import Layout
from ..mix import Mix
from ..score import score
from .baselines import Baseline, best, better, run_baselines
from .budget import Budget, dtime_rate
from .explain import describe, diagnose, precheck
from .layouts import explicit, layout_from
from .limits import check_seed, check_time_limit
from .plan import OBJECTIVES, Level, Plan, Status, universal_bound
from .problem import Problem, build_problem
from .processes import plan_workers
from .slo import latency_given, optimize_slo
from .sweep import backend as sweep_backend

if TYPE_CHECKING:
    from .progress import ProgressCallback

ORTOOLS_VERSION = version("ortools")
RESERVE_MIN_S = 0.05
RESERVE_SHARE = 0.2
"""On the wall clock, the seconds kept back for building the plan from the layout found (writing
it explicitly and scoring it): about what one baseline policy cost (its layout and its score),
plus ``RESERVE_MIN_S``, and at most ``RESERVE_SHARE`` of ``time_limit``."""
MODEL_BUILD_FACTOR = 6.0
"""On the wall clock, the model is not built when less time is left than this many times what
building the problem took: building the CP-SAT model and its levels took 2.3-5.7 times as long
(100 to 10,000 models on 256 cores; 0.54 s at 10,000, where a 1 s limit then ended 0.3-0.5 s
late)."""
BASELINES_SHARE = 0.5
"""On the wall clock, no baseline policy is started after this part of ``time_limit`` once one
has given a feasible layout."""
DIAGNOSIS_SHARE = 0.25
"""Explaining an infeasible mix: at most :data:`.search.DIAGNOSIS_CHECK_S` nominal seconds per
check, and in all what the solve left unused or ``DIAGNOSIS_SHARE * time_limit``, whichever is
more."""


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
    check_time_limit(time_limit, "optimize")
    check_seed(seed, "optimize")
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


def _validate_baselines(baselines: object) -> None:
    if baselines is None:
        return
    if not isinstance(baselines, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Layout) for k, v in baselines.items()
    ):
        raise ConfigError(
            "optimize: baselines must map policy names to Layouts (or be None), got "
            f"{type(baselines).__name__}"
        )


def _reserve(time_limit: float, baselines_s: float) -> float:
    """The wall seconds to keep for building the plan (see :data:`RESERVE_MIN_S`)."""
    per_policy = baselines_s / max(1, _policy_count())
    return min(RESERVE_SHARE * time_limit, RESERVE_MIN_S + per_policy)


def _policy_count() -> int:
    from ..policies import POLICIES  # type: ignore[import-not-found,unused-ignore]

    return len(POLICIES)


def _validate_clock(deterministic: bool, workers: int | None) -> None:
    if not isinstance(deterministic, bool):
        raise ConfigError(f"optimize: deterministic must be True or False, got {deterministic!r}")
    if deterministic and workers not in (None, 1):
        raise ConfigError(
            f"optimize: deterministic=True needs workers=1 (CP-SAT's parallel search is not "
            f"reproducible), got workers={workers!r}"
        )


def optimize(
    mix: Mix,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    workers: int | None = None,
    current: Layout | None = None,
    objective: str | None = None,
    split_replicas: bool = False,
    progress: ProgressCallback | None = None,
    deterministic: bool = False,
    switch_ms: float | None = None,
    baselines: Mapping[str, Layout] | None = None,
) -> Plan:
    """Find explicit placements for ``mix`` that minimise the peak core load (then overlap, chip
    crossings, moves from ``current``, and the highest used core), with a proven bound.

    ``objective`` defaults to ``"slo"`` when a model gives a latency field (``slo_ms``,
    ``latency_ms``, ...), else ``"peak"``. ``objective="overlap"`` puts overlap first and peak
    load second. ``objective="slo"`` picks the layout that serves the most traffic within every
    model's p99 target, judged with ``switch_ms`` (:mod:`.slo`: simulated and estimated, never
    proven; the busy-time bound beside it is proven). ``split_replicas=True`` lets
    each copy sit apart (one handle per copy). ``time_limit`` is wall-clock seconds for the whole
    call, baselines and plan included. ``deterministic=True`` spends it on CP-SAT's deterministic
    clock instead, so that with ``seed`` the same inputs give the same plan even when the time
    limit cuts the search, with no promise on the wall time (about ``time_limit`` on large
    mixes, less on small ones, at most ``3 time_limit`` plus about a second per level before a
    safety limit stops it; see :mod:`.solve` and :mod:`.budget`). ``workers`` (default 1) runs
    CP-SAT's parallel portfolio on more threads; it needs the wall clock.
    ``progress(elapsed_s, incumbent, bound)`` is called with the first objective's incumbent and
    bound during the first level and once at the end with the plan's (:mod:`.progress`). The plan
    is never worse, on the first two objectives, than the best feasible baseline policy.
    ``baselines`` (policy name to layout) gives the policies' layouts already made, as a
    comparison of the same mix has them: those policies are not run again, and only they count
    as baselines. A
    ``KeyboardInterrupt`` (Ctrl-C) during the search ends it: the plan holds the best layout so
    far, with ``interrupted`` True (:mod:`.cpsat` says how a solve is stopped). See
    :mod:`ncplace.optimize` for the model.
    """
    check_type(mix, Mix, "optimize: mix")
    if objective is None:
        objective = "slo" if latency_given(mix) else "peak"
    _validate(mix, time_limit, seed, workers, current, objective, split_replicas)
    _validate_clock(deterministic, workers)
    _validate_baselines(baselines)
    if progress is not None and not callable(progress):
        raise ConfigError(
            f"optimize: progress must be a callable (elapsed_s, incumbent, bound) or None, got "
            f"{type(progress).__name__}"
        )
    if mix.workers is not None:
        if current is not None or baselines is not None:
            given = "current" if current is not None else "baselines"
            raise ConfigError(
                f"optimize: {given} cannot be used with a pool of workers (workers: "
                f"{mix.workers}), which is planned as equal slices"
            )
        pool: dict[str, object] = {"time_limit": time_limit, "seed": seed, "workers": workers}
        pool |= {"objective": objective, "split_replicas": split_replicas}
        pool |= {"deterministic": deterministic, "switch_ms": switch_ms}
        return plan_workers(mix, optimize, progress=progress, **pool)
    if objective == "slo":
        return optimize_slo(
            mix,
            optimize,
            time_limit=time_limit,
            seed=seed,
            deterministic=deterministic,
            switch_ms=resolve_switch_ms(switch_ms, "optimize"),
            progress=progress,
            peak_options={
                "workers": workers,
                "current": current,
                "split_replicas": split_replicas,
                "baselines": baselines,
            },
        )
    start = time.perf_counter()
    options = _Options(
        objective, seed, workers or 1, deterministic, time_limit, current, progress, start
    )
    return _optimize_busy(mix, split_replicas, baselines, options)


def _optimize_busy(
    mix: Mix, split_replicas: bool, baselines: Mapping[str, Layout] | None, options: _Options
) -> Plan:
    """:func:`optimize` for the busy-time objectives (``peak``, ``overlap``) on one process's
    layout or declared processes: the baselines, the problem, the levels and the plan."""
    start, time_limit, deterministic = options.start, options.time_limit, options.deterministic
    rate = dtime_rate(mix.instance.cores)
    budget = Budget(float(time_limit), deterministic=deterministic, start=start, rate=rate)
    problem = build_problem(mix, split_replicas)
    problem_s = time.perf_counter() - start
    deadline = None if deterministic else start + BASELINES_SHARE * time_limit
    # The baselines' processes are not the ranges the problem plans: no hint, no floor there.
    found_baselines = [] if problem.processes else run_baselines(mix, deadline, baselines)
    if not deterministic:
        budget.reserve = _reserve(time_limit, time.perf_counter() - start - problem_s)
    top = best(found_baselines, options.objective)
    common = {
        "mix": mix,
        "objective_name": options.objective,
        "ortools_version": ORTOOLS_VERSION,
        "seed": options.seed,
        "split_replicas": split_replicas,
        "load_scale": problem.load_scale,
        "load_exact": problem.load_exact,
        "sweep_backend": sweep_backend(problem),
    }
    progress = options.progress
    reason = precheck(problem)
    if reason is not None:
        stop = "infeasible"
        return _early(
            problem, top, Status.INFEASIBLE, math.inf, stop, reason, start, common, progress
        )
    if not deterministic and budget.left() < MODEL_BUILD_FACTOR * problem_s:
        stop = "time limit 0" if time_limit == 0 else "time limit (no time left to build the model)"
        return _early(problem, top, Status.UNKNOWN, 0.0, stop, None, start, common, progress)
    try:
        from .search import search  # OR-Tools loads only now (see .search)

        found = search(problem, found_baselines, top, budget, options)
    except KeyboardInterrupt:
        common["interrupted"] = True
        stop = "interrupted"
        return _early(problem, top, Status.UNKNOWN, 0.0, stop, None, start, common, progress)
    explanation = None
    if found.status == Status.INFEASIBLE:
        explanation = _explain(problem, budget, options.seed, time_limit)
    stop = found.stop_reason(time_limit, budget.interrupted) + _not_reproducible(budget)
    common["interrupted"] = budget.interrupted
    layout = None if found.assignment is None else layout_from(problem, found.assignment)
    plan = _finish(
        problem,
        layout,
        top,
        found.status,
        found.bound,
        stop,
        explanation,
        found.records,
        start,
        common,
    )
    found.reporter.end(plan.objective, plan.bound)
    return plan


def _explain(problem: Problem, budget: Budget, seed: int, time_limit: float) -> str:
    """Why a mix proven infeasible is: the models and rule :func:`.explain.diagnose` keeps, on
    what the solve left (deterministic: at least ``DIAGNOSIS_SHARE * time_limit``)."""
    diag_s = budget.left()
    if budget.deterministic:
        diag_s = max(diag_s, DIAGNOSIS_SHARE * time_limit)
    diag = Budget(diag_s, budget.deterministic, rate=budget.rate)
    from .search import infeasible

    keep = diagnose(problem, lambda p: infeasible(p, seed, diag), diag.exhausted)
    budget.wall_cuts += diag.wall_cuts  # the plan's stop reason names them too
    explanation = describe(problem, keep)
    mix = problem.mix
    if not problem.split and any(m.max_replicas(mix.instance.cores) > 1 for m in mix.models):
        explanation += "; copies placed apart may fit: try split_replicas=True (--split-replicas)"
    return explanation


def _early(
    problem: Problem,
    top: Baseline | None,
    status: Status,
    bound: float,
    stop: str,
    explanation: str | None,
    start: float,
    common: dict[str, object],
    progress: ProgressCallback | None,
) -> Plan:
    """The plan when no search ran (an infeasible mix, no time, an interrupt): the best
    baseline, if any; the progress callback, if any, hears the end."""
    plan = _finish(problem, None, top, status, bound, stop, explanation, (), start, common)
    if progress is not None:
        objective = str(common["objective_name"])
        from .progress import Reporter

        reporter = Reporter(progress, start, problem, objective, math.inf, math.inf, None)
        reporter.end(plan.objective, plan.bound)
    return plan


@dataclass(frozen=True)
class _Options:
    """The caller's choices the search reads."""

    objective: str
    seed: int
    workers: int
    deterministic: bool
    time_limit: float
    current: Layout | None
    progress: ProgressCallback | None
    start: float


def _not_reproducible(budget: Budget) -> str:
    if not budget.wall_cuts:
        return ""
    return "; not reproducible: the wall-clock safety limit stopped " + ", ".join(
        dict.fromkeys(budget.wall_cuts)
    )


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
