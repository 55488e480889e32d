"""The first level's search: a list of named stages that share one incumbent and one bound.

A stage takes the search (the problem, its CP-SAT model and the first level's time share), the
incumbent and the budget, and returns a :class:`StageResult`: a better layout, a higher proven
bound, or both. :func:`run_stages` runs the stages in order, keeps the better of each result
and the incumbent, and ends the level as soon as the incumbent meets the bound (the gap is then
closed: the layout is proven optimal). Everything is counted in the integer units of the
level's objective (for the peak, loads scaled by :attr:`.problem.Problem.load_scale`).

The peak level (:data:`PEAK_STAGES`):

1. the certified LP bound of bin packing (:mod:`.arcflow`), ``peak >= bound`` added to the
   model;
2. the core sweep's probe (:mod:`.sweep`): proofs above the LP bound, ``peak >= bound`` added to
   the model; its layout settles the level when it meets its bound;
3. the tabu search from the best baseline (:mod:`.tabu`), giving up early without progress; its
   layout replaces the baseline as CP-SAT's hint;
4. CP-SAT's minimisation (:class:`CpSat`), on what the other stages leave of the share;
5. the tabu search from the best layout so far;
6. the core sweep below the best layout, then one unit at a time down from it until a proof;
7. CP-SAT decision solves one unit below the best peak (:func:`.cpsat.decide`), on mixes of at
   most one model per core on up to :data:`.budget.SMALL_CORES` cores: with the capacity a
   constant, the cumulative propagates pairwise exclusions that the minimisation, whose peak is a
   variable, does not; an infeasible answer proves the best layout optimal.

The stages after CP-SAT run only when CP-SAT found a layout. The overlap level
(``objective="overlap"``) is CP-SAT alone (:data:`OVERLAP_STAGES`). Each stage but CP-SAT has a
fixed part (:attr:`Stage.share`) of the first level's share; CP-SAT gets what is left when it
starts, less the parts of the stages after it. Every stage counts its work in steps or
deterministic time when the budget is deterministic (:mod:`.budget`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Protocol

from ortools.sat.python import cp_model

from ..score import score
from . import arcflow, cpsat, tabu
from .budget import SMALL_CORES, Budget
from .cpsat import Built
from .layouts import layout_from
from .objectives import Assignment
from .problem import Problem
from .progress import Reporter, read_assignment, real_peak
from .sweep import SweepResult, applicable, int_peak, prove, steps_per_second, sweep
from .variables import bounds

HINT_SHARE = 0.2
"""The part of a CP-SAT level's share that completing its hint may take
(:func:`.cpsat.complete_hint`)."""
PROBE_SHARE = 0.3
"""The core sweep's probe before CP-SAT: proofs only, from the floor. Where the compiled sweep
runs (:func:`.sweep.backend`), this is where the dense mixes are proven: a decision at the LP
bound takes 20-30 million steps on some of them (``docs/optimizer.md``)."""
SWEEP_SHARE = 0.2
"""The core sweep after CP-SAT and the tabu search, for layouts below the best so far."""
TABU_SHARE = 0.1
"""Each of the two tabu searches: from the best baseline before CP-SAT, and from the best layout
after it."""
TABU_PATIENCE = 0.25
"""The tabu search before CP-SAT gives up after this part of its steps without a lower peak:
CP-SAT may prove at once what the search cannot reach. The search after CP-SAT uses all its
steps."""
DECISION_SHARE = 0.3
LP_SHARE = 0.05
"""The certified LP bound (:mod:`.arcflow`), first: on dense mixes it lifts the floor by up to
47 units and meets the optimum on some (see ``benchmarks/RESULTS.md``, proofs)."""
"""CP-SAT decision solves after the other searches, on small mixes only (see :class:`Decisions`)."""


@dataclass(frozen=True)
class Incumbent:
    """The first level's best layout so far and its proven bound, in the level's integer units.

    ``assignment`` is each model's copy count and starts (None: no layout yet) and ``value`` its
    objective; ``source`` names the stage that found it, None for the starting hint (the best
    baseline or ``current``, which the plan accounts for separately). ``bound`` is a proven lower
    bound on the objective of every layout of the model (a float: CP-SAT's bound may be
    fractional; the objective is an integer, so :attr:`lower` rounds it up).
    """

    assignment: dict[int, Assignment] | None
    value: int | None
    bound: float
    source: str | None = None

    @property
    def lower(self) -> int:
        return math.ceil(self.bound - 1e-6) if math.isfinite(self.bound) else 0

    @property
    def closed(self) -> bool:
        """A stage's layout meets the proven bound: it is optimal."""
        return self.source is not None and self.value is not None and self.value <= self.lower


@dataclass(frozen=True)
class StageResult:
    """What a stage reached: a layout (``assignment``, its integer ``value``) when it found one
    at least as good as the incumbent's, and a proven lower ``bound`` (``inf``: no layout
    exists). ``hinted``: the stage set CP-SAT's hint itself. CP-SAT's stage also reports its
    status (``status`` for the level's record, ``stop`` for the plan's stop reason), whether it
    proved the model infeasible, its deterministic time, and
    ``end``: the level stops here (CP-SAT found no layout, or had no time)."""

    assignment: dict[int, Assignment] | None = None
    value: int | None = None
    bound: float | None = None
    hinted: bool = False
    status: str | None = None
    stop: str | None = None
    infeasible: bool = False
    deterministic_time: float = 0.0
    end: bool = False


@dataclass
class Search:
    """What every stage of the first level reads: the problem and its CP-SAT model, the level's
    objective expression, the seed and workers, the first level's share of the budget (fixed when
    the level starts), the level weights CP-SAT's share is computed from, and ``reserved``, the
    part of the share the stages after CP-SAT keep (set by :func:`run_stages`)."""

    problem: Problem
    built: Built
    objective: str
    expr: cp_model.LinearExprT
    seed: int
    workers: int
    reporter: Reporter
    symmetric: bool
    first_share: float
    weights: list[float]
    reserved: float = 0.0
    scale: float = 1.0


class Stage(Protocol):
    """One search of the first level (see the module doc)."""

    @property
    def name(self) -> str:
        """What the stop reason calls it ("tabu search", "core sweep", "CP-SAT", ...)."""
        ...

    @property
    def share(self) -> float:
        """Its part of the first level's share (CP-SAT: 0, it takes what is left)."""
        ...

    def applies(self, search: Search) -> bool:
        """Whether the stage runs on this search at all (its share is kept only then)."""
        ...

    def run(self, search: Search, incumbent: Incumbent, budget: Budget) -> StageResult:
        """Improve on ``incumbent`` within ``budget``."""
        ...


def _peak_search(search: Search) -> bool:
    return search.objective == "peak"


def _sweeping(search: Search) -> bool:
    return _one_process(search) and search.objective == "peak" and applicable(search.problem)


def _one_process(search: Search) -> bool:
    """The core sweep and the tabu search move blocks over the whole machine: they cannot keep
    models inside process ranges (:mod:`.processes`), so they do not apply to such mixes."""
    return not search.problem.processes


def run_sweep(
    built: Built,
    problem: Problem,
    upper: int,
    budget: Budget,
    share: float,
    lower: int | None = None,
    find: bool = True,
    climb: bool = True,
) -> SweepResult:
    """Run the core sweep (bound from ``lower``, default the peak's domain; layouts below
    ``upper``) on ``share`` nominal seconds, charge it to ``budget``, and pass what it proved to
    the model: ``peak >= bound`` (valid for every layout of the block model, and it lets CP-SAT
    report that bound from the start). A ``KeyboardInterrupt`` ends it with nothing found beyond
    ``lower`` and marks the budget interrupted."""
    floor = bounds(built.peak)[0]
    lower = floor if lower is None else max(lower, floor)
    rate = steps_per_second(problem)
    steps, wall = int(rate * share), budget.wall_limit(share)
    try:
        if find:
            result = sweep(problem, lower, upper, steps, wall, climb=climb)
        else:
            result = prove(problem, lower, upper, steps, wall)
    except KeyboardInterrupt:
        budget.interrupted = True
        return SweepResult(bound=lower, peak=None, assignment=None, steps=0, tries=())
    budget.spend(result.steps / rate, "sweep", result.wall_cut)
    if result.bound > floor:
        built.model.add(built.peak >= result.bound)
    return result


def run_tabu(
    problem: Problem,
    budget: Budget,
    share: float,
    assignment: dict[int, Assignment],
    lower: int,
    seed: int,
    patience: float = 1.0,
) -> tabu.TabuResult:
    """Run the tabu search from ``assignment`` down to ``lower`` on ``share`` nominal seconds,
    and charge it to ``budget``."""
    steps = int(tabu.STEPS_PER_SECOND * share)
    found = tabu.improve(
        problem, assignment, lower, steps, seed, budget.wall_limit(share), patience
    )
    budget.spend(found.steps / tabu.STEPS_PER_SECOND, "tabu search", found.wall_cut)
    budget.interrupted = budget.interrupted or found.interrupted
    return found


@dataclass(frozen=True)
class LpBound:
    """The bin-packing LP bound (:func:`.arcflow.lp_bound`) from the floor up to the incumbent's
    peak, charged by its count of LP solves; ``peak >= bound`` goes into the model."""

    name: str = "LP bound"
    share: float = LP_SHARE

    def applies(self, search: Search) -> bool:
        return _sweeping(search)

    def run(self, search: Search, incumbent: Incumbent, budget: Budget) -> StageResult:
        built = search.built
        floor = max(bounds(built.peak)[0], incumbent.lower)
        upper = incumbent.value if incumbent.value is not None else bounds(built.peak)[1] + 1
        share = self.share * search.first_share
        found = arcflow.lp_bound(
            search.problem,
            floor,
            upper,
            int(arcflow.SOLVES_PER_SECOND * share),
            budget.wall_limit(share),
        )
        budget.spend(found.solves / arcflow.SOLVES_PER_SECOND, "LP bound", found.wall_cut)
        if found.bound > floor:
            built.model.add(built.peak >= found.bound)
        return StageResult(bound=float(found.bound))


@dataclass(frozen=True)
class SweepProbe:
    """The core sweep's probe: proofs from the best bound so far (the LP bound's) up to the
    incumbent's peak."""

    name: str = "core sweep"
    share: float = PROBE_SHARE

    def applies(self, search: Search) -> bool:
        return _sweeping(search)

    def run(self, search: Search, incumbent: Incumbent, budget: Budget) -> StageResult:
        built = search.built
        upper = incumbent.value if incumbent.value is not None else bounds(built.peak)[1] + 1
        share = self.share * search.first_share
        swept = run_sweep(built, search.problem, upper, budget, share, incumbent.lower, find=False)
        if swept.proven and swept.assignment is not None:
            return StageResult(swept.assignment, swept.bound, float(swept.bound))
        return StageResult(bound=float(swept.bound))


@dataclass(frozen=True)
class TabuSearch:
    """The tabu search from the incumbent (before CP-SAT: from the starting hint, when that
    keeps every hard rule, giving up after ``patience`` of its steps without progress)."""

    name: str = "tabu search"
    share: float = TABU_SHARE
    patience: float = 1.0

    def applies(self, search: Search) -> bool:
        return _peak_search(search) and _one_process(search)

    def run(self, search: Search, incumbent: Incumbent, budget: Budget) -> StageResult:
        problem = search.problem
        start = incumbent.assignment
        if start is None:
            return StageResult()
        if (
            incumbent.source is None
            and not score(layout_from(problem, start), problem.mix).feasible
        ):
            return StageResult()
        share = self.share * search.first_share
        found = run_tabu(problem, budget, share, start, incumbent.lower, search.seed, self.patience)
        if found.assignment is None or found.peak is None:
            return StageResult()
        return StageResult(found.assignment, found.peak)


@dataclass(frozen=True)
class CpSat:
    """CP-SAT's minimisation of the level's objective, from the hint."""

    name: str = "CP-SAT"
    share: float = 0.0

    def applies(self, search: Search) -> bool:
        return True

    def run(self, search: Search, incumbent: Incumbent, budget: Budget) -> StageResult:
        built = search.built
        share = budget.share(search.weights)
        if share <= 0:
            return StageResult(end=True)
        built.model.minimize(search.expr)
        share *= 1 - search.reserved
        before = budget.used()
        cpsat.complete_hint(built.model, budget, HINT_SHARE * share, search.seed)
        solver = cpsat.new_solver(
            budget, max(0.0, share - (budget.used() - before)), search.seed, search.workers
        )
        watch = search.reporter.attach(solver, built.vars, search.scale)
        what = "peak" if search.objective == "peak" else "overlap"
        status, cut = cpsat.solve(budget, solver, built.model, what, watch)
        search.reporter.detach()
        stop = _stop_text(status, budget, cut)
        if status == cp_model.MODEL_INVALID:
            stop += ": " + built.model.validate()
        bound = solver.best_objective_bound if status != cp_model.INFEASIBLE else math.inf
        found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        result = StageResult(
            bound=bound if math.isfinite(bound) or status == cp_model.INFEASIBLE else None,
            status=cpsat.status_text(status),
            stop=stop,
            infeasible=status == cp_model.INFEASIBLE,
            deterministic_time=solver.response_proto.deterministic_time,
            end=not found,
        )
        if not found:
            return result
        cpsat.hint_all(built.model, list(solver.response_proto.solution))
        assignment = read_assignment(solver, built.vars)
        return replace(
            result, assignment=assignment, value=round(solver.objective_value), hinted=True
        )


def _stop_text(status: object, budget: Budget, cut: bool) -> str:
    """What ended a CP-SAT solve (see :attr:`.plan.Plan.stop_reason`)."""
    text = cpsat.status_text(status)
    if status == cp_model.FEASIBLE:
        if cut:
            text += " (wall-clock safety limit)"
        else:
            text += " (deterministic)" if budget.deterministic else " (wall clock)"
    return text


@dataclass(frozen=True)
class SweepBelow:
    """The core sweep for layouts below the incumbent, and a higher bound when its descent from
    the best layout ends in a proof. It does not climb again: the probe climbed from the same
    bound with more steps (a decision it left undecided there would only be tried again)."""

    name: str = "core sweep"
    share: float = SWEEP_SHARE

    def applies(self, search: Search) -> bool:
        return _sweeping(search)

    def run(self, search: Search, incumbent: Incumbent, budget: Budget) -> StageResult:
        if incumbent.value is None:
            return StageResult()
        share = self.share * search.first_share
        after = run_sweep(
            search.built,
            search.problem,
            incumbent.value,
            budget,
            share,
            incumbent.lower,
            climb=False,
        )
        if after.assignment is not None and after.peak is not None:
            return StageResult(after.assignment, after.peak, float(after.bound))
        return StageResult(bound=float(after.bound))


@dataclass(frozen=True)
class Decisions:
    """CP-SAT decision solves one unit below the best peak, repeated while the answer is a
    layout. Only on mixes of at most one model per core on at most :data:`.budget.SMALL_CORES`
    cores, where they were measured to pay (see ``docs/optimizer.md``)."""

    name: str = "CP-SAT decision"
    share: float = DECISION_SHARE

    def applies(self, search: Search) -> bool:
        problem = search.problem
        return _peak_search(search) and len(problem.models) <= problem.cores <= SMALL_CORES

    def run(self, search: Search, incumbent: Incumbent, budget: Budget) -> StageResult:
        if incumbent.value is None or incumbent.assignment is None:
            return StageResult()
        assignment, peak, lower = incumbent.assignment, incumbent.value, incumbent.lower
        found = False
        share = self.share * search.first_share
        while peak > lower and share > 0 and not budget.interrupted:
            before = budget.used()
            status, layout = cpsat.decide(
                search.built, budget, share, search.seed, search.workers, peak - 1
            )
            share -= budget.used() - before
            if status == cp_model.INFEASIBLE:
                lower = peak
            elif layout is not None:
                assignment, peak, found = layout, int_peak(search.problem, layout), True
            else:
                break
        if found:
            return StageResult(assignment, peak, float(lower))
        return StageResult(bound=float(lower))


PEAK_STAGES: tuple[Stage, ...] = (
    LpBound(),
    SweepProbe(),
    TabuSearch(patience=TABU_PATIENCE),
    CpSat(),
    TabuSearch(),
    SweepBelow(),
    Decisions(),
)
"""The stages of the peak level, in order (see the module doc)."""

OVERLAP_STAGES: tuple[Stage, ...] = (CpSat(),)
"""The overlap level: CP-SAT alone."""


@dataclass
class FirstLevel:
    """What the stages of the first level reached: the incumbent; CP-SAT's status, stop text and
    deterministic time when it ran, and whether it proved the model infeasible; whether the later
    levels may run (CP-SAT found a layout, or a stage closed the gap); whether any stage ran after
    CP-SAT; the stage that closed the gap and whether it came after CP-SAT; and the stages that
    lowered the incumbent (name, after CP-SAT)."""

    incumbent: Incumbent
    cpsat_status: str | None = None
    cpsat_stop: str | None = None
    deterministic_time: float = 0.0
    infeasible: bool = False
    go_on: bool = False
    ran_after: bool = False
    closed_by: str | None = None
    closed_after: bool = False
    lowered: list[tuple[str, bool]] = field(default_factory=list)

    def stop_reason(self, time_limit: float) -> str:
        """What ended the level, in the words of :attr:`.plan.Plan.stop_reason`."""
        if self.closed_by is not None and not self.closed_after:
            return f"optimal ({self.closed_by})"
        if self.closed_by is not None and self.closed_by != "CP-SAT":
            return f"optimal ({self.closed_by} after CP-SAT)"
        if self.cpsat_stop is None:
            return "time limit 0" if time_limit == 0 else "time limit (no solution)"
        notes = dict.fromkeys(self.lowered)
        before = "".join(f"; CP-SAT started from the {n}'s layout" for n, a in notes if not a)
        after = "".join(f"; the {n} lowered the peak" for n, a in notes if a)
        return self.cpsat_stop + before + after


def run_stages(
    search: Search, stages: tuple[Stage, ...], incumbent: Incumbent, budget: Budget
) -> FirstLevel:
    """Run ``stages`` in order on ``search`` from ``incumbent`` (see the module doc). An
    interrupt (:attr:`.budget.Budget.interrupted`, or a ``KeyboardInterrupt`` during a stage)
    ends the level with the incumbent as it is."""
    stages = tuple(s for s in stages if s.applies(search))
    names = [s.name for s in stages]
    at = names.index("CP-SAT") if "CP-SAT" in names else len(stages)
    search.reserved = sum(s.share for s in stages[at + 1 :])
    level = FirstLevel(incumbent)
    if search.first_share <= 0:
        return level
    for position, stage in enumerate(stages):
        after = position > at
        if after and not level.go_on:
            break
        if budget.interrupted:
            break
        level.ran_after = level.ran_after or after
        try:
            result = stage.run(search, level.incumbent, budget)
        except KeyboardInterrupt:
            budget.interrupted = True
            break
        if position == at:
            level.cpsat_status = result.status
            level.cpsat_stop = result.stop
            level.deterministic_time = result.deterministic_time
            level.infeasible = result.infeasible
            level.go_on = not result.end
        _merge(search, level, stage.name, result, after)
        if level.incumbent.closed:
            level.closed_by = stage.name
            level.closed_after = position >= at
            level.go_on = True
            break
        if result.end:
            break
    return level


def _merge(
    search: Search, level: FirstLevel, name: str, result: StageResult, after_cpsat: bool
) -> None:
    """Keep the better of ``result`` and the incumbent, hint CP-SAT with a new layout and
    tell the progress reporter."""
    inc = level.incumbent
    if result.bound is not None and result.bound > inc.bound:
        inc = replace(inc, bound=result.bound)
        if search.objective == "peak" and math.isfinite(result.bound):
            search.reporter.proved(result.bound / search.scale)
    better = result.value is not None and (inc.value is None or result.value < inc.value)
    tie = name == "CP-SAT" and result.value == inc.value
    if result.assignment is not None and result.value is not None and (better or tie):
        inc = replace(inc, assignment=result.assignment, value=result.value, source=name)
        if not result.hinted:
            cpsat.hint(search.built, result.assignment, search.symmetric)
        if search.objective == "peak":
            search.reporter.found(real_peak(search.problem, result.assignment))
        if better and name != "CP-SAT":
            level.lowered.append((name, after_cpsat))
    level.incumbent = inc
