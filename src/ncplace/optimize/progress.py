"""Progress of a solve, reported to a user's callback in the user's units.

``optimize(mix, progress=f)`` calls ``f(elapsed_s, incumbent, bound)``:

- during the first lexicographic level, on every improving solution CP-SAT finds (a
  :class:`cp_model.CpSolverSolutionCallback`) and on every improvement of its proven bound
  (``CpSolver.best_bound_callback``); once before the solve when a baseline gives a first
  incumbent;
- once at the end with ``plan.objective`` and ``plan.bound`` (``None`` for an infinite value).

Units: the first objective of the chosen order, as the plan reports it: the peak core load
(unscaled; an incumbent is the scorer's peak of that solution's layout, computed with the same
float operations as :func:`ncplace.score`) or, for ``objective="overlap"``, the overlap. The values
are those the plan would report if the solve stopped there: the incumbent is never worse than the
best baseline (the plan falls back to it), and the bound is the solver's bound combined with the
trivial bounds exactly as :func:`.solve._finish` combines them. Incumbents never increase and
bounds never decrease between calls, and a bound never exceeds the incumbent beside it; the last
call may differ from the one before it by float rounding only (a later level may pick another
layout of the same integer peak, whose float sum rounds differently) or by a better baseline.

``elapsed_s`` is wall time since :func:`optimize` started: reading the clock does not make the
search depend on it. An exception raised by the callback stops the search and propagates out of
:func:`optimize`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ortools.sat.python import cp_model

from .objectives import Assignment
from .problem import Problem
from .variables import Variables

ProgressCallback = Callable[[float, float | None, float | None], object]
"""``(elapsed_s, incumbent, bound)``; see the module doc."""


def real_peak(problem: Problem, assignment: dict[int, Assignment]) -> float:
    """The scorer's peak load of the layout of ``assignment`` (same summation order as
    :func:`ncplace.score.core_loads` on :func:`.layouts.layout_from`'s layout)."""
    loads = [0.0] * problem.cores
    for m in problem.models:
        copies, starts = assignment[m.index]
        share = problem.mix.models[m.index].demand / copies
        for s in problem.copy_starts(m, copies, starts):
            for c in range(s, s + m.cores):
                loads[c] += share
    return max(loads, default=0.0)


def read_assignment(
    values: cp_model.CpSolver | cp_model.CpSolverSolutionCallback, v: Variables
) -> dict[int, Assignment]:
    """Each model's copy count and starts in a solution (of a solver or in a callback)."""
    out: dict[int, Assignment] = {}
    for m in v.problem.models:
        copies = next(r for r, lit in v.counts[m.index] if lit is True or values.boolean_value(lit))
        units = v.units_of(m.index)
        starts = tuple(
            int(values.value(u.start)) for u in units[: (copies if v.problem.split else 1)]
        )
        out[m.index] = (copies, starts)
    return out


class Reporter:
    """Turns CP-SAT's incumbents and bounds into monotone reports for ``callback``.

    ``top`` is the best baseline's value on the first objective (the plan never does worse);
    ``trivial`` a bound valid before any solve; ``floor`` the universal peak bound (None for the
    overlap objective). See :func:`.solve._finish` for how the plan combines them.
    """

    def __init__(
        self,
        callback: ProgressCallback | None,
        start: float,
        problem: Problem,
        objective: str,
        top: float,
        trivial: float,
        floor: float | None,
    ) -> None:
        self.callback = callback
        self.start = start
        self.problem = problem
        self.objective = objective
        self.incumbent = top
        self.solver_bound = trivial
        self.floor = floor
        self.reported: tuple[float, float] | None = None
        self.error: BaseException | None = None
        self.solver: cp_model.CpSolver | None = None

    @property
    def active(self) -> bool:
        return self.callback is not None

    def _bound(self) -> float:
        inc = self.incumbent
        bound = min(self.solver_bound, inc)
        if self.floor is not None:
            bound = max(bound, min(self.floor, inc))
        return bound

    def _emit(self) -> None:
        if self.callback is None or self.error is not None:
            return
        inc, bound = self.incumbent, self._bound()
        if self.reported is not None:
            inc = min(inc, self.reported[0])
            bound = min(max(bound, self.reported[1]), inc)
            if (inc, bound) == self.reported:
                return
        self.reported = (inc, bound)
        self._call(inc, bound)

    def _call(self, incumbent: float, bound: float) -> None:
        assert self.callback is not None
        try:
            self.callback(
                time.perf_counter() - self.start,
                incumbent if math.isfinite(incumbent) else None,
                bound if math.isfinite(bound) else None,
            )
        except BaseException as exc:  # re-raised by optimize() once the solver has stopped
            self.error = exc
            if self.solver is not None:
                self.solver.stop_search()

    def begin(self) -> None:
        """The first report, before any solve (the best baseline, if any, and trivial bounds)."""
        if math.isfinite(self.incumbent):
            self._emit()

    def found(self, value: float) -> None:
        """A solution of the first level with first-objective value ``value`` (user's units)."""
        if value < self.incumbent:
            self.incumbent = value
            self._emit()

    def proved(self, bound: float) -> None:
        """A proven bound ``bound`` (user's units) on the first level."""
        if bound > self.solver_bound:
            self.solver_bound = bound
            self._emit()

    def attach(
        self, solver: cp_model.CpSolver, v: Variables, scale: float
    ) -> cp_model.CpSolverSolutionCallback | None:
        """Hook this reporter to ``solver`` for the first level (``scale``: integer units per
        user unit); returns the solution callback to pass to ``solve``."""
        if self.callback is None:
            return None
        self.solver = solver
        solver.best_bound_callback = lambda b: self.proved(self._bound_value(b, scale))
        return _Solutions(self, v, scale)

    def _bound_value(self, bound: float, scale: float) -> float:
        if self.objective == "overlap":
            return float(math.ceil(bound - 1e-9))
        return bound / scale

    def detach(self) -> None:
        """Re-raise the callback's exception, if any, once the solver is done."""
        if self.solver is not None:
            self.solver.best_bound_callback = None
        self.solver = None
        if self.error is not None:
            raise self.error

    def end(self, objective: float, bound: float) -> None:
        """The last report: the plan's objective and bound, whatever came before."""
        if self.callback is not None:
            self._call(objective, bound)
            if self.error is not None:
                raise self.error


class _Solutions(cp_model.CpSolverSolutionCallback):
    def __init__(self, reporter: Reporter, v: Variables, scale: float) -> None:
        super().__init__()
        self.reporter = reporter
        self.v = v
        self.scale = scale

    def on_solution_callback(self) -> None:
        r = self.reporter
        if r.error is not None:
            return
        try:
            if r.objective == "overlap":
                value = float(round(self.objective_value))
            else:
                value = real_peak(r.problem, read_assignment(self, self.v))
        except BaseException as exc:
            r.error = exc
            self.stop_search()
            return
        r.found(value)
