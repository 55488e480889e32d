"""Time budgets: a deterministic clock by default, the wall clock for parallel search.

CP-SAT stops a search on either of two clocks: wall time (``max_time_in_seconds``), which
depends on the machine and its load, or *deterministic time* (``max_deterministic_time``), a count
of work units that CP-SAT advances identically on every run of the same model with the same
parameters. With one worker and ``interleave_search`` (see :func:`.cpsat.new_solver`) the search
itself is deterministic, so a solve cut by the deterministic clock ends at the same point, with
the same solution, on every run (CP-SAT counts work, not time: the same OR-Tools build on another
machine gives the same too, barring floating-point differences between CPUs in its LP).

:class:`Budget` (``deterministic=True``, the default ``workers=1``) spends ``time_limit``
*nominal seconds*: a solve given a share of ``t`` nominal seconds gets
``max_deterministic_time = rate * t`` and is charged the deterministic time it reports, divided
by ``rate`` (:func:`dtime_rate`, a function of the instance's core count only): what one level
leaves unused rolls forward to the next by a deterministic amount. Every budget decision is then
a function of the mix, the seed and ``time_limit`` alone. A wall-clock safety limit of
``WALL_FACTOR * t + WALL_SLACK_S`` seconds is set on every solve as well, so that a slow or
overloaded machine still stops; a solve ended by it is recorded (:attr:`Budget.wall_cuts`) and
the plan's ``stop_reason`` says the result is not reproducible.

The rate: measured with this solver (OR-Tools 9.15, one worker, interleaved portfolio) on the
benchmark generator's mixes, one deterministic unit took 1.2 to 3.2 CPU seconds on 16-core mixes
of 16-40 models (0.3-0.86 units per second) and 5-7 s on 64-core mixes of 60-300 models
(0.15-0.2 units per second: large-neighbourhood search there spends time that CP-SAT does not
count). :data:`DTIME_PER_SECOND` ``= 0.2`` for more than :data:`SMALL_CORES` cores and
:data:`SMALL_DTIME_PER_SECOND` ``= 0.4`` up to it make time-limited solves last roughly
``time_limit`` (0.5 to 1.3 times it) on an idle machine; solves that end on their own take less.

``deterministic=False`` (``workers > 1``, CP-SAT's parallel portfolio, not reproducible anyway):
plain wall-clock shares of what is left of ``time_limit``, as the search itself is not
deterministic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

DTIME_PER_SECOND = 0.2
"""CP-SAT deterministic time units per nominal second of ``time_limit`` (see the module doc)."""

SMALL_CORES = 16
SMALL_DTIME_PER_SECOND = 0.4
"""The rate on instances of at most ``SMALL_CORES`` cores."""


def dtime_rate(cores: int) -> float:
    """Deterministic time units per nominal second on an instance of ``cores`` cores."""
    return SMALL_DTIME_PER_SECOND if cores <= SMALL_CORES else DTIME_PER_SECOND


WALL_FACTOR = 3.0
WALL_SLACK_S = 0.5
WALL_CUT_FRACTION = 0.98
"""The wall-clock safety limit of a solve given ``t`` nominal seconds:
``WALL_FACTOR * t + WALL_SLACK_S`` seconds. A solve that stopped short of its deterministic limit
counts as cut by it only when its wall time reached ``WALL_CUT_FRACTION`` of that limit: with one
worker, the interleaved portfolio sometimes ends before its deterministic limit on its own (seen
on 300-model mixes: stopped at 2.0 of 3.9 units after 34 of 59 s), which is reproducible."""


@dataclass
class Budget:
    """``total`` nominal seconds to share between solves (see the module doc)."""

    total: float
    deterministic: bool
    start: float = field(default_factory=time.perf_counter)
    rate: float = DTIME_PER_SECOND
    spent: float = 0.0
    wall_cuts: list[str] = field(default_factory=list)

    def used(self) -> float:
        """Nominal seconds spent (deterministic), or wall seconds since the start (parallel)."""
        if self.deterministic:
            return self.spent
        return time.perf_counter() - self.start

    def left(self) -> float:
        """Nominal seconds not yet spent (deterministic), or wall seconds left (parallel)."""
        if self.deterministic:
            return max(0.0, self.total - self.spent)
        return max(0.0, self.total - (time.perf_counter() - self.start))

    def exhausted(self) -> bool:
        """True when nothing is left, or (deterministic) when the wall-clock safety limit of the
        whole budget, ``WALL_FACTOR * total + WALL_SLACK_S`` seconds, has passed (recorded in
        :attr:`wall_cuts`): for loops of many short solves, whose Python-side work CP-SAT's
        deterministic clock does not see."""
        if self.left() <= 0:
            return True
        if self.deterministic:
            wall = time.perf_counter() - self.start
            if wall > WALL_FACTOR * self.total + WALL_SLACK_S:
                self.wall_cuts.append("budget")
                return True
        return False

    def share(self, weights: list[float]) -> float:
        """``left() * weights[0] / sum(weights)``: the next solve's share."""
        total = sum(weights)
        return self.left() * weights[0] / total if total > 0 else 0.0

    def wall_limit(self, share: float) -> float:
        """The wall-clock seconds a solve given ``share`` nominal seconds may run: its safety
        limit (deterministic), or the share itself (parallel)."""
        share = max(0.0, share)
        return WALL_FACTOR * share + WALL_SLACK_S if self.deterministic else share

    def set_limits(self, solver: cp_model.CpSolver, share: float) -> None:
        """Limit ``solver`` to ``share`` nominal seconds (see the module doc)."""
        if self.deterministic:
            solver.parameters.max_deterministic_time = self.rate * max(0.0, share)
        solver.parameters.max_time_in_seconds = self.wall_limit(share)

    def spend(self, nominal: float, what: str, wall_cut: bool = False) -> None:
        """Charge ``nominal`` seconds of work counted outside CP-SAT (the core sweep's and the
        tabu search's steps); ``wall_cut``, that :meth:`wall_limit` stopped it, is recorded as a
        safety cut when the budget is deterministic (on the wall clock it is the normal end)."""
        if self.deterministic:
            self.spent += nominal
            if wall_cut:
                self.wall_cuts.append(what)

    def charge(self, solver: cp_model.CpSolver, status: object, what: str) -> bool:
        """Charge the solve that just ended to the budget; True (and ``what`` recorded in
        :attr:`wall_cuts`) when the wall-clock safety limit, not the deterministic one, ended it
        before it finished."""
        if not self.deterministic:
            return False
        response = solver.response_proto
        self.spent += response.deterministic_time / self.rate
        limit = solver.parameters.max_deterministic_time
        wall_limit = solver.parameters.max_time_in_seconds
        cut = (
            status in (cp_model.FEASIBLE, cp_model.UNKNOWN)
            and response.deterministic_time < limit * (1 - 1e-9)
            and response.wall_time >= wall_limit * WALL_CUT_FRACTION
        )
        if cut:
            self.wall_cuts.append(what)
        return cut
