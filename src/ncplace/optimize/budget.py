"""Time budgets: the wall clock by default, a deterministic clock for reproducible plans.

``time_limit`` is, by default, wall-clock seconds for the whole :func:`ncplace.optimize` call:
the baselines, building the model, every stage and level, and building the plan. A
:class:`Budget` with ``deterministic=False`` counts seconds since the call started; each solve
and search gets a share of what is left (``max_time_in_seconds`` for CP-SAT, a deadline for the
sweep and the tabu search), and :attr:`Budget.reserve` seconds are kept back at the end for
building the plan from the layout found.

``deterministic=True`` trades that promise for reproducibility. CP-SAT stops a search on either
of two clocks: wall time, which depends on the machine and its load, or *deterministic time*
(``max_deterministic_time``), a count of work units that CP-SAT advances identically on every
run of the same model with the same parameters. With one worker and ``interleave_search`` (see
:func:`.cpsat.new_solver`) the search itself is deterministic, so a solve cut by the
deterministic clock ends at the same point, with the same solution, on every run (CP-SAT counts
work, not time: the same OR-Tools build on another machine gives the same too, barring
floating-point differences between CPUs in its LP). The budget then spends ``time_limit``
*nominal seconds*: a solve given a share of ``t`` nominal seconds gets
``max_deterministic_time = rate * t`` and is charged the deterministic time it reports, divided
by ``rate`` (:func:`dtime_rate`, a function of the instance's core count only): what one level
leaves unused rolls forward to the next by a deterministic amount. Every budget decision is then
a function of the mix, the seed and ``time_limit`` alone, and nothing bounds the wall time but a
safety limit of ``WALL_FACTOR * t + WALL_SLACK_S`` seconds on every solve, so that a slow or
overloaded machine still stops; a solve ended by it is recorded (:attr:`Budget.wall_cuts`) and
the plan's ``stop_reason`` says the result is not reproducible.

The safety limit of a CP-SAT solve is not CP-SAT's ``max_time_in_seconds``: CP-SAT stops on
that limit early, by the longest recent gap between two of its limit checks (a safety buffer; on
a loaded machine a gap includes the time the thread was descheduled), so a solve it cuts may
report a wall time well under the limit, and no test on the reported wall time tells such a cut
from a solve that ended on its own. The thread waiting for the solve stops it instead
(:func:`.cpsat.solve`) and knows when it did: :meth:`Budget.charge` records exactly those solves.

The rate (:data:`DTIME_PER_SECOND`, :data:`SMALL_DTIME_PER_SECOND`) was chosen so that
deterministic solves last roughly ``time_limit`` on an idle machine (measurements in
``docs/optimizer.md``); solves that end on their own take less.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
"""The wall-clock safety limit of a solve given ``t`` nominal seconds:
``WALL_FACTOR * t + WALL_SLACK_S`` seconds."""


@dataclass
class Budget:
    """``total`` seconds (wall clock, or nominal when ``deterministic``) to share between solves,
    counted from ``start``; on the wall clock the last ``reserve`` seconds are kept for building
    the plan (see the module doc). ``interrupted``: a ``KeyboardInterrupt`` stopped the search;
    nothing is left then."""

    total: float
    deterministic: bool
    start: float = field(default_factory=time.perf_counter)
    rate: float = DTIME_PER_SECOND
    spent: float = 0.0
    wall_cuts: list[str] = field(default_factory=list)
    reserve: float = 0.0
    interrupted: bool = False

    def used(self) -> float:
        """Nominal seconds spent (deterministic), or wall seconds since the start."""
        if self.deterministic:
            return self.spent
        return time.perf_counter() - self.start

    def left(self) -> float:
        """Nominal seconds not yet spent (deterministic), or wall seconds left before
        :attr:`reserve` (wall clock)."""
        if self.interrupted:
            return 0.0
        if self.deterministic:
            return max(0.0, self.total - self.spent)
        return max(0.0, self.total - self.reserve - (time.perf_counter() - self.start))

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
        limit (deterministic), or the share itself (wall clock)."""
        share = max(0.0, share)
        return WALL_FACTOR * share + WALL_SLACK_S if self.deterministic else share

    def set_limits(self, solver: cp_model.CpSolver, share: float) -> None:
        """Limit ``solver`` to ``share`` nominal seconds: its deterministic time (deterministic;
        the wall-clock safety limit, :meth:`safety_limit`, is kept by the waiting thread, see
        the module doc), or its wall time (wall clock)."""
        if self.deterministic:
            solver.parameters.max_deterministic_time = self.rate * max(0.0, share)
        else:
            solver.parameters.max_time_in_seconds = self.wall_limit(share)

    def safety_limit(self, solver: cp_model.CpSolver) -> float | None:
        """The wall seconds after which the waiting thread stops ``solver`` (deterministic: the
        safety limit of the share :meth:`set_limits` gave it), or None (wall clock: CP-SAT keeps
        the limit itself)."""
        if not self.deterministic:
            return None
        return self.wall_limit(solver.parameters.max_deterministic_time / self.rate)

    def spend(self, nominal: float, what: str, wall_cut: bool = False) -> None:
        """Charge ``nominal`` seconds of work counted outside CP-SAT (the core sweep's and the
        tabu search's steps); ``wall_cut``, that :meth:`wall_limit` stopped it, is recorded as a
        safety cut when the budget is deterministic (on the wall clock it is the normal end)."""
        if self.deterministic:
            self.spent += nominal
            if wall_cut:
                self.wall_cuts.append(what)

    def charge(
        self, solver: cp_model.CpSolver, status: object, what: str, stopped: bool = False
    ) -> bool:
        """Charge the solve that just ended to the budget; True (and ``what`` recorded in
        :attr:`wall_cuts`) when the budget is deterministic and the waiting thread stopped it at
        its safety limit (``stopped``) before it finished (a layout or none, with no proof)."""
        if not self.deterministic:
            return False
        self.spent += solver.response_proto.deterministic_time / self.rate
        from ortools.sat.python import cp_model

        cut = stopped and status in (cp_model.FEASIBLE, cp_model.UNKNOWN)
        if cut:
            self.wall_cuts.append(what)
        return cut
