"""The CP-SAT side of the search: the model, its solvers, its hints and decision solves.

Hints: CP-SAT starts from the best layout known (the best baseline, ``current``, or a stage's
layout, see :mod:`.stages`). A layout gives only the starts and copy counts; before every
minimisation the hint is completed to every variable by a solve with the hinted variables fixed
(:func:`complete_hint`), so CP-SAT starts from a full feasible solution instead of a cold search.

Determinism: with one worker a solver runs CP-SAT's portfolio interleaved on one thread
(``interleave_search``), which is deterministic, and stops on the deterministic clock when the
budget is deterministic (:mod:`.budget`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from .budget import Budget
from .constraints import add_rules
from .layouts import sort_symmetric
from .objectives import Assignment
from .problem import Problem
from .progress import read_assignment
from .variables import Variables, build_variables

WAIT_S = 0.05
"""How often the waiting thread looks for an interrupt during a solve."""


@dataclass
class Built:
    """The CP-SAT model of a problem, its variables and its peak variable."""

    model: cp_model.CpModel
    vars: Variables
    peak: cp_model.IntVar


def build(problem: Problem, skip_symmetry: set[int] | None = None) -> Built:
    model = cp_model.CpModel()
    v = build_variables(model, problem)
    peak = add_rules(v, skip_symmetry)
    return Built(model, v, peak)


def new_solver(budget: Budget, share: float, seed: int, workers: int) -> cp_model.CpSolver:
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


def solve(
    budget: Budget,
    solver: cp_model.CpSolver,
    model: cp_model.CpModel,
    what: str,
    callback: cp_model.CpSolverSolutionCallback | None = None,
) -> tuple[object, bool]:
    """Run ``solver`` on ``model`` and charge it to ``budget`` as ``what``; its status, and
    whether the wall-clock safety limit cut it (:meth:`.budget.Budget.charge`).

    The solve runs on a thread of its own while this one waits, so that a ``KeyboardInterrupt``
    (Ctrl-C; the CLI turns SIGTERM into one too) reaches Python during the solve instead of after
    it: it stops the search (CP-SAT keeps the best solution it has) and sets
    :attr:`.budget.Budget.interrupted`, which ends every later stage and level. CP-SAT's own
    SIGINT handler is turned off for the same reason: it would end the solve as if on its time
    limit, and the search would go on to the next stage. On the deterministic clock the waiting
    thread also keeps the solve's safety limit (:meth:`.budget.Budget.safety_limit`), so that a
    solve stopped by it is known for certain (see :mod:`.budget` for why not CP-SAT's own).
    """

    def interrupted() -> None:
        budget.interrupted = True

    safety = budget.safety_limit(solver)
    status, stopped = run_watched(
        solver, model, callback, safety, interrupted, lambda: budget.interrupted
    )
    return status, budget.charge(solver, status, what, stopped)


def run_watched(
    solver: cp_model.CpSolver,
    model: cp_model.CpModel,
    callback: cp_model.CpSolverSolutionCallback | None = None,
    safety_s: float | None = None,
    on_interrupt: Callable[[], None] | None = None,
    stop_asked: Callable[[], bool] = lambda: False,
) -> tuple[object, bool]:
    """Run ``solver`` on ``model`` on a thread of its own while this one waits (see
    :func:`solve`); its status, and whether this thread stopped it at ``safety_s`` wall seconds
    (None: no limit). A ``KeyboardInterrupt`` during the wait calls ``on_interrupt`` and the
    solve stops when ``stop_asked()``; without ``on_interrupt`` it stops the solve and is raised
    again once the solve has ended."""
    solver.parameters.catch_sigint_signal = False
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["status"] = solver.solve(model, callback)
        except BaseException as exc:  # re-raised below, on the caller's thread
            outcome["error"] = exc

    deadline = None if safety_s is None else time.perf_counter() + safety_s
    stopped = False
    thread = threading.Thread(target=run, name="ncplace-cp-sat", daemon=True)
    thread.start()
    while thread.is_alive():
        try:
            thread.join(WAIT_S)
        except KeyboardInterrupt:
            if on_interrupt is None:
                solver.stop_search()
                thread.join()
                raise
            on_interrupt()
        if thread.is_alive() and deadline is not None and time.perf_counter() > deadline:
            stopped = True
        if stop_asked() or stopped:
            # Again on every wait: a stop asked before the solve has started is lost.
            solver.stop_search()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["status"], stopped


def hint(built: Built, assignment: dict[int, Assignment], symmetric: bool) -> None:
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


def hint_all(model: cp_model.CpModel, values: list[int]) -> None:
    """Hint every variable that existed at the last solve with its value there; the variables
    of the next level are functions of these, which CP-SAT completes by propagation."""
    model.clear_hints()
    proto_hint = model.proto.solution_hint
    for index, value in enumerate(values):
        proto_hint.vars.append(index)
        proto_hint.values.append(int(value))


def complete_hint(model: cp_model.CpModel, budget: Budget, share: float, seed: int) -> bool:
    """Extend a partial hint to every variable: solve with the hinted variables fixed (pure
    propagation, milliseconds) and hint the whole solution. Without it CP-SAT's hint search may
    stall on the auxiliary per-core variables and fall back to a cold search. Returns False
    (leaving the hint as it was) when the hint cannot be completed."""
    if not len(model.proto.solution_hint.vars):
        return False
    solver = new_solver(budget, share, seed, 1)
    solver.parameters.fix_variables_to_their_hinted_value = True
    status, _ = solve(budget, solver, model, "hint")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return False
    hint_all(model, list(solver.response_proto.solution))
    return True


def decide(
    built: Built, budget: Budget, share: float, seed: int, workers: int, cap: int
) -> tuple[object, dict[int, Assignment] | None]:
    """Ask CP-SAT for any layout of the model with integer peak at most ``cap``, on ``share``
    nominal seconds: its status, and the layout when one is found. With the capacity a constant
    the cumulative constraint propagates what the minimisation cannot (two copies whose loads add
    up to more than ``cap`` cannot share a core), so this proves lower peaks impossible where the
    minimisation's bound stalls. With one worker it runs CP-SAT's default one-thread search, not
    the interleaved portfolio, which is slower here and no more reproducible."""
    model = built.model.clone()
    model.clear_objective()
    model.clear_hints()
    model.add(built.peak <= cap)
    solver = new_solver(budget, share, seed, workers)
    solver.parameters.interleave_search = False
    status, _ = solve(budget, solver, model, "decision")
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return status, read_assignment(solver, built.vars)
    return status, None


def status_text(status: object) -> str:
    """CP-SAT's status in the words of a level's record."""
    texts: dict[object, str] = {
        cp_model.OPTIMAL: "optimal",
        cp_model.FEASIBLE: "time limit",
        cp_model.INFEASIBLE: "infeasible",
        cp_model.UNKNOWN: "time limit (no solution)",
        cp_model.MODEL_INVALID: "model invalid",
    }
    return texts.get(status, "unknown")
