"""The core sweep: an exact search for the peak level that CP-SAT's cumulative cannot match.

Why. Mixes of many small models on few cores are multiway number partitioning in disguise:
the peak ``L`` is close to the energy floor ``sum_u w_u D_u / N`` and every core must be filled
to within a few units of ``L``. CP-SAT's cumulative propagation and LP see only the energy, so its
bound stays at the floor and its search rarely finds the near-perfect layouts (measured on the
benchmark's 20-40-model mixes on 16 cores: CP-SAT decision solves at ``L`` = floor + 0 to 3
units end undecided after 10 s, with or without the dominance rule below as constraints, and a
fixed search on the starts finds no layout at floor + 20 in 3 s). A search that fills the cores
from left to right proves the first few ``L`` above the floor infeasible in tens to thousands of
steps and finds layouts a few units above it.

The decision problem ``peak <= L`` (block mode, fixed copy counts). Each model is a *unit* of
``w = r k`` cores carrying ``D`` per core. Three facts make a complete search small:

- *Left-justified layouts suffice* (the active-schedule argument of scheduling). If a unit ``i``
  starts at ``s > 0`` and no unit ends at ``s`` (covers ``s - 1`` but not ``s``), every unit on
  core ``s - 1`` other than ``i`` is also on core ``s``, so moving ``i`` to ``s - 1`` keeps core
  ``s - 1`` at most ``L`` (it then carries a subset of what core ``s`` carried), frees core
  ``s + w - 1``, and breaks no exclusivity; pins stay where they are. Repeating strictly lowers
  the sum of the starts, so it ends in a layout with the same or a lower peak where every free
  unit starts at core 0 or where another unit ends. Chip memory is the exception (a move can
  carry memory across a chip border): memory is checked on complete layouts only, and a search
  that rejected one for memory cannot conclude "infeasible".
- *Events*. Between two such cores nothing starts or ends, so the search decides, at each
  event core ``c`` in order, which units start at ``c`` (a subset of the units left, identical
  units taken as counts), then jumps to the next event ``e`` (the nearest end or pin).
- *Slack*. With ``N'`` cores free of exclusive units, the shared cores carry
  ``sum_{shared u} w_u D_u`` in all, so their unused capacity ``sum_c (L - load_c)`` is exactly
  ``S = N' L - sum w D``. Cores ``c .. e - 1`` all carry the load of core ``c``, so leaving ``c``
  spends ``(L - load_c) (e - c)`` of ``S``; a branch that overspends is cut. Near the floor ``S``
  is a few units per core, so each core's subset must be nearly exact.

:func:`sweep` drives the decisions in four phases. (1) It climbs: it proves
``L = lo, lo + 2, lo + 6, lo + 14, ...`` infeasible, the step doubling after each proof (every
``L`` below a proven-infeasible one is infeasible too, so each proof raises the bound to ``L + 1``
and the ones skipped need no proof of their own). When a try finds a layout, it descends one
unit at a time below it, each try with a third of the steps left: a proof there proves the layout
optimal and every capacity below it infeasible at once, and the failed states of the tries above
cut it (the proofs near the optimum are the dear ones: on the benchmark's 20-model mix, seed 0,
proving 1413 of 2000 infeasible costs 4 million steps that the proof of 1415 makes useless). When
a try larger than one step runs out of its third, it starts again from one step below that ``L``,
and climbs without descending from then on. Before each proof after the first it looks ahead: a
short try where the climb would go after that proof (:func:`_climb`). (2) It
looks for a layout at ``lo + 1, lo + 2, lo + 4, ...`` below ``upper`` (the peak of a layout the
caller holds: the tabu search's or CP-SAT's), (3) bisects between the last failure and the first
layout found, and (4) descends one unit at a time below the best layout (its own or the
caller's) with every step left, until a capacity is proven infeasible, which proves that layout
optimal. Starting the descent from the caller's layout matters: finding a layout at the bound
costs as much as proving the capacity below it infeasible.

Three devices keep each decision search small. *Failed states are remembered*: what the search
does from event core ``c`` on depends only on ``c``, the units left and, for each core from
``c`` on, its load and whether it is covered, exclusive or an end (the slack is fixed by these:
it is the capacity of the cores closed so far minus their load), so a state that failed once is
cut when another order of the same units reaches it again. The memory is shared by every
decision of one sweep: a state with no completion at capacity ``C`` has none at any lower ``C``
(the search there explores a subset of the same branches), so the descent reuses what the tries
above it learned. States below which chip memory rejected a layout are not remembered, since
memory depends on where the placed units sit. *Room no unit can fill is waste*: a shared core's
room ``L - load`` can be filled at most to the largest subset sum of the loads of the units left
that fits in it, so the rooms minus those sums, added over the cores, must not exceed the slack.
*Divisibility*: for a modulus ``g`` (the few of 2-64 that promise the most, :func:`pick_moduli`),
a core that gets none of the units left whose load ``g`` does not divide is filled only by loads
``g`` divides; those other units cover at most the sum of their widths of cores, so every other
core wastes at least its room minus the best subset sum of the loads ``g`` divides (loads scaled
from rates and throughputs share factors of 2: most cores can then only be filled to an even or
a multiple of 4). *The window*: what the subset-sum bound charges to the cores after ``c`` stays
charged once core ``c`` is decided (placing a unit only shrinks rooms and sums), so core ``c``
itself may leave at most the slack minus that unused, a narrower range for its choice of units
than the whole slack. Measured on the benchmark's ``scale`` mixes on
16 cores, one decision each: 20 models, seed 0 at floor + 7 and seed 3 at floor + 6, proven
infeasible in 0.70 and 0.72 million steps with both, 1.37 and 1.26 million with the memory
alone, and seed 0 not within 2 million without either (seed 3 has a layout at floor + 7, so it
is optimal there: 0.704, below the 0.706 of the optimizer's 10 s runs); 16 models, seed 0, one
unit below its best layout, proven infeasible in 1.7 million steps (16 s), which proves that
layout optimal. What the optimizer proves with it is in ``benchmarks/RESULTS.md``.

The optimizer (:mod:`.solve`) runs it twice: a short probe before CP-SAT (proofs only), whose
bound CP-SAT starts from (``peak >= bound``) and whose layout, when its peak equals the bound,
settles the peak level without CP-SAT; and a search after CP-SAT for a layout below CP-SAT's.
Work is counted in search steps, so the result is the same on every run of one backend;
:func:`steps_per_second` converts nominal seconds to steps.

Two backends run the decision search with the same semantics (same status, steps, layout and
remembered states for every decision): the compiled ``_sweep`` extension (``_sweep.c``, which
mirrors :class:`_Run` and the memory of :class:`_Search` method by method), used when it was
built, and :class:`_Run` itself, the reference. The environment variable ``NCPLACE_SWEEP``
chooses: ``python`` forces the Python search, ``native`` requires the compiled one, unset takes
the compiled one when available (:func:`backend`).
"""

from __future__ import annotations

import importlib
import math
import os
import time
from array import array
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConfigError, value_text
from .problem import Assignment, ModelData, Problem


def _load_native() -> Any:
    """The compiled search, or None when ncplace was installed without a C compiler."""
    try:
        return importlib.import_module("ncplace.optimize._sweep")
    except ImportError:
        return None


_sweep = _load_native()

STEPS_PER_SECOND = 120_000
"""Search steps per nominal second of ``time_limit``: measured 110-139 thousand steps per CPU
second (CPython 3.11, ``time.process_time``, the machine shared by several runs) on four
decisions of the benchmark's ``scale`` mixes of 20 and 40 models on 16 cores, so a sweep takes
about the seconds it is charged. (Before equal rooms were counted once it was 60-105 thousand.)
The remembered states and the waste bound make a step dearer (140-280 thousand a second without
either, 70-94 thousand without the waste bound, both measured before the divisibility bound) and
a proof cheaper: three decisions of the module doc took 8.4-16.3 s with both and 14.6-18.3 s
without the waste bound."""

NATIVE_STEPS_PER_SECOND = 4_000_000
"""Search steps per nominal second for the compiled backend on a problem of
:data:`RATE_TYPES` unit types: measured 3.0-5.6 million steps per CPU second on proofs-only
sweeps of the ``scale`` mixes of 20 models on 16 cores, as :data:`STEPS_PER_SECOND` was
(docs/optimizer.md). More types make cheaper steps on average (more of them are the choice of
a count, fewer the visit of a core with its memory lookup and waste bound), so
:func:`steps_per_second` scales the rate with them (:data:`RATE_GROWTH`)."""

RATE_TYPES = 20
"""The number of unit types (distinct width, load, exclusivity and memory among the models
not pinned) at which :data:`NATIVE_STEPS_PER_SECOND` holds."""

RATE_GROWTH = 1.5
"""The compiled rate grows as ``(types / RATE_TYPES) ** RATE_GROWTH``, between 1 and 4 times
:data:`NATIVE_STEPS_PER_SECOND`: fitted to the medians measured on the dense ``scale`` mixes
(3.4 million steps per CPU second at 20 types, 6.8 at 30 and 16.2 at 40, ranges 3.0-3.8,
6.1-10.8 and 7.4-17.6; docs/optimizer.md), below the 40-type median so that a sweep rarely takes
more than about 1.3 times the seconds it is charged."""

BACKEND_ENV = "NCPLACE_SWEEP"
"""The environment variable that chooses the backend (:func:`backend`)."""

NATIVE_LIMIT = 1 << 46
"""The compiled search computes in int64: it takes a problem whose loads, widths times loads
and memory stay below this, and capacities below it (far above the ``2**40`` load range of
:mod:`.problem`), so slack and sums stay far from overflow; others run in Python."""

WALL_CHECK_STEPS = 4096
"""How often (in steps) the search looks at the wall clock for its safety limit."""

MAX_MODELS = 100
"""The largest mix the sweep runs on (see :func:`applicable`)."""

LOOK_AHEAD = 2
"""The look-ahead of the climb (:func:`_climb`) gets this many times the steps of the last
proof."""

MIN_TRY_STEPS = 2_000
"""The least budget a primal try gets."""

MEMO_BYTES = 256 << 20
"""How much a sweep may keep of failed states (counted as their bytes plus 100 for each entry:
about 300 per state on 16 cores, 900 on 64, close to what the compiled search allocates); past
it a decision search first drops the states that failed only at capacities below its own
(useless to it), then goes on without adding. The compiled search fills 64 MiB in a few seconds
on the dense mixes, where four times as much halves the steps of their proofs
(docs/optimizer.md)."""

SUMS_BYTES = 16 << 20
"""How much one decision search may keep of subset-sum sets: the Python search keeps the first
ones it computes (counted like :data:`MEMO_BYTES`), the compiled one a direct-mapped table of
this size where a new key replaces the old one in its slot (its recent branches are the ones it
meets again: on the dense mixes, 8 % of the lookups hit a table frozen once full). A cache only:
the steps and answers do not depend on it."""

MODULI = 3
"""How many moduli the divisibility bound of :meth:`_Run._forced_waste` uses."""

MAX_MODULUS = 64
"""The largest modulus :func:`pick_moduli` considers."""

MAX_SUBSET_SUM = 1 << 14
"""The largest capacity at which :meth:`_Run._forced_waste` computes subset sums (one bit per
load unit, so at most 2 KiB a set); above it (finely or inexactly scaled loads) the bound is
skipped."""


PROOF_CAPACITY = 1 << 12
"""Under the ``2**40`` fallback scale (:mod:`.problem`), :func:`prove` works on loads rounded
down to a scale where capacities are about this many units, so that the subset-sum and
divisibility bounds apply and a unit of slack is not a ten-billionth of a core."""


class _Stop(Exception):
    """The step budget or the wall-clock safety limit ran out."""


@dataclass(frozen=True)
class Outcome:
    """One decision search at capacity ``cap``: ``status`` is ``"feasible"`` (``starts`` holds
    each model's start and ``cap`` is lowered to the layout's peak), ``"infeasible"`` (proven),
    ``"limit"`` (budget ran out) or ``"unknown"`` (exhausted, but layouts were rejected for chip
    memory)."""

    cap: int
    status: str
    steps: int
    starts: dict[int, int] | None = None


@dataclass(frozen=True)
class SweepResult:
    """What :func:`sweep` proved and found, in the problem's integer loads.

    ``bound``: no block layout has a peak below it. ``peak`` and ``assignment``: the best layout
    found (None when none below the given upper limit was found). ``steps``: the work done;
    ``wall_cut``: the wall-clock safety limit stopped it (the result may then vary between runs).
    """

    bound: int
    peak: int | None
    assignment: dict[int, Assignment] | None
    steps: int
    tries: tuple[Outcome, ...]
    wall_cut: bool = False
    backend: str = "python"

    @property
    def proven(self) -> bool:
        return self.peak is not None and self.peak <= self.bound


def backend(problem: Problem | None = None) -> str:
    """The decision search that runs (on ``problem``): ``"native"`` (the compiled extension) or
    ``"python"``, as ``NCPLACE_SWEEP`` asks (unset: native when built); a problem too large for
    the compiled search's int64 arithmetic (:data:`NATIVE_LIMIT`) runs in Python."""
    asked = os.environ.get(BACKEND_ENV, "")
    if asked not in ("", "python", "native"):
        raise ConfigError(
            f"{BACKEND_ENV}={value_text(asked)} is not a sweep backend: use python or native"
        )
    if asked == "native" and _sweep is None:
        raise ConfigError(
            f"{BACKEND_ENV}=native but the compiled sweep (ncplace.optimize._sweep) is not built:"
            " reinstall ncplace with a C compiler, or use python"
        )
    if asked == "python" or _sweep is None or (problem is not None and not _native_fits(problem)):
        return "python"
    return "native"


def steps_per_second(problem: Problem | None = None) -> int:
    """Search steps per nominal second of ``time_limit`` for the backend that runs (on
    ``problem``): the compiled rate grows with the problem's unit types (:data:`RATE_GROWTH`);
    the Python rate is one constant (measured on 20 types only)."""
    if backend(problem) != "native":
        return STEPS_PER_SECOND
    if problem is None:
        return NATIVE_STEPS_PER_SECOND
    free = (m for m in problem.models if m.start is None)
    types = {(m.min_width, m.demand[0], m.exclusive, m.memory) for m in free}
    growth = min(4.0, max(1.0, (len(types) / RATE_TYPES) ** RATE_GROWTH))
    return int(NATIVE_STEPS_PER_SECOND * growth)


def applicable(problem: Problem) -> bool:
    """The sweep handles block mode with every copy count fixed (copies placed apart must not
    share cores with each other, a rule the unit-counting search does not track), on mixes of at
    most :data:`MAX_MODELS` models (its recursion is about two frames per model deep; larger
    mixes are not partition-bound, and CP-SAT closes them to within 1 %)."""
    return (
        not problem.split
        and len(problem.models) <= MAX_MODELS
        and all(len(m.replicas) == 1 for m in problem.models)
    )


def sweep(
    problem: Problem,
    lower: int,
    upper: int,
    steps: int,
    wall_limit_s: float = float("inf"),
    find: bool = True,
    climb: bool = True,
) -> SweepResult:
    """Raise the integer bound ``lower`` and look for a layout with peak below ``upper``.

    Half of ``steps`` goes to proofs from ``lower`` upwards, the rest (and what the proofs left)
    to finding layouts; with ``find=False`` all of it goes to proofs (a layout is then found only
    when it meets the bound), with ``climb=False`` all of it to finding layouts (for a caller
    whose earlier sweep already climbed from ``lower`` with more steps: a new climb, with a new
    memory of failed states and fewer steps, would only repeat its first try). See the module
    doc. Requires :func:`applicable`.
    """
    search = _Search(problem, steps, time.perf_counter() + wall_limit_s)
    tries: list[Outcome] = []
    proof_budget = 0 if not climb else steps // 2 if find else steps
    try:
        lo, best = _climb(search, lower, upper, proof_budget, tries)
        if find:
            _find(search, lo, upper, tries, best)
    except _Stop:
        pass
    lo, best = _outcome(lower, tries)
    if not find and best is not None and best.cap > lo:
        best = None
    assignment: dict[int, Assignment] | None = None
    if best is not None and best.starts is not None:
        assignment = {m.index: (m.replicas[0], (best.starts[m.index],)) for m in problem.models}
    return SweepResult(
        bound=min(lo, best.cap) if best is not None else lo,
        peak=best.cap if best is not None else None,
        assignment=assignment,
        steps=search.used,
        tries=tuple(tries),
        wall_cut=search.wall_cut,
        backend=search.backend,
    )


def prove(
    problem: Problem,
    lower: int,
    upper: int,
    steps: int,
    wall_limit_s: float = float("inf"),
) -> SweepResult:
    """Proofs only (:func:`sweep` with ``find=False``). Under the ``2**40`` fallback scale
    (``problem.load_exact`` false, capacities above :data:`PROOF_CAPACITY`) it proves on the
    loads divided by ``f = ceil(upper / PROOF_CAPACITY)`` and rounded down: a layout with peak
    ``<= C`` has coarse peak ``<= floor(C / f)`` (a sum of rounded-down parts is at most the
    rounded-down sum), so a coarse bound ``b`` (every coarse capacity below ``b`` infeasible)
    proves every ``C < b f`` infeasible, and ``b f`` is returned as the bound, with no layout
    (a coarse layout says nothing exact about the true peak)."""
    factor = math.ceil(upper / PROOF_CAPACITY)
    if problem.load_exact or factor <= 1:
        return sweep(problem, lower, upper, steps, wall_limit_s, find=False)
    coarse = coarsened(problem, factor)
    shared = [m for m in coarse.models if not m.exclusive]
    cores = coarse.cores - sum(m.min_width for m in coarse.models if m.exclusive)
    work = sum(m.min_width * m.demand[0] for m in shared)
    floor = max([math.ceil(work / cores) if cores > 0 else 0] + [m.demand[0] for m in shared])
    result = sweep(coarse, floor, upper // factor + 1, steps, wall_limit_s, find=False)
    return replace(result, bound=max(lower, result.bound * factor), peak=None, assignment=None)


def coarsened(problem: Problem, factor: int) -> Problem:
    """The problem with every load divided by ``factor`` and rounded down (see :func:`prove`)."""
    models = tuple(replace(m, demand=tuple(d // factor for d in m.demand)) for m in problem.models)
    return replace(problem, models=models, load_scale=max(1, problem.load_scale // factor))


def _outcome(lower: int, tries: list[Outcome]) -> tuple[int, Outcome | None]:
    """The bound and the best layout the ``tries`` reached from ``lower``: every capacity up to
    one proven infeasible is infeasible, and the best layout is the lowest found. Read from the
    tries rather than from the phases' returns, so that the budget running out in the middle of
    a phase (which ends it at once) loses none of what it had proven or found."""
    lo = max([lower] + [out.cap + 1 for out in tries if out.status == "infeasible"])
    found = [out for out in tries if out.status == "feasible"]
    return lo, min(found, key=lambda out: out.cap, default=None)


def _climb(
    search: _Search, lo: int, upper: int, budget: int, tries: list[Outcome]
) -> tuple[int, Outcome | None]:
    """Phase (1) of :func:`sweep`: proofs from ``lo`` up in doubling steps, the descent below a
    layout found, and the look-ahead. Returns the raised bound and the best layout found.

    The look-ahead: before each proof after the first, a try at the capacity the climb would
    reach after it (``lo + 3 step - 1``) with :data:`LOOK_AHEAD` times the steps of the last
    proof. Proofs grow dearer as ``L`` nears the optimum while finds above it stay cheap, so a
    layout found there can spare the climb a proof that the descent below it makes useless (on
    the benchmark's 20-model mix, seed 0, the proof of 1412 of 2000, a quarter of the steps);
    when it runs out, the climb goes on as if it had not run, having spent at most that much."""
    best: Outcome | None = None
    step, hard, descend, proof = 1, upper, True, 0
    while lo < hard and search.used < budget:
        cap = hard - 1 if best is not None and descend else min(lo + step - 1, hard - 1)
        ahead = min(lo + 3 * step - 1, hard - 1)
        if best is None and descend and proof and ahead > cap:
            out = search.run(ahead, min(LOOK_AHEAD * proof, (budget - search.used) // 3))
            tries.append(out)
            if out.status == "feasible":
                best, hard, step = out, out.cap, 1
                continue
            if out.status == "infeasible":
                lo, step, proof = ahead + 1, 4 * step, out.steps
                continue
        left = budget - search.used
        out = search.run(cap, left if cap == lo else left // 3)
        tries.append(out)
        if out.status == "infeasible":
            lo, step, proof = cap + 1, 2 * step, out.steps
        elif out.status == "feasible":
            best, hard, step = out, out.cap, 1
        elif cap == lo:
            break
        else:
            hard, step, descend = cap, 1, False
    return lo, best


def _find(
    search: _Search, lo: int, upper: int, tries: list[Outcome], best: Outcome | None
) -> tuple[Outcome | None, int]:
    """Primal phase: unless the climb found a layout (``best``), capacities ``lo + 1, lo + 2,
    lo + 4, ...`` below ``upper`` until one has a layout (each try gets an eighth of the steps
    left); then bisection between the last failure and it (a quarter each); every try gets at
    least :data:`MIN_TRY_STEPS`, and a proven infeasibility raises ``lo``. Last, the descent:
    one unit below the best layout (found, or the caller's at ``upper``) with every step left,
    again after each layout found, until a capacity is proven infeasible (which proves the best
    layout optimal) or the steps run out. The failed states the earlier tries remembered cut
    its search (:meth:`_Search.remember`)."""
    failed = lo

    def attempt(cap: int, part: int) -> None:
        nonlocal best, failed, lo
        out = search.run(cap, max(MIN_TRY_STEPS, search.left() // part))
        tries.append(out)
        if out.status == "feasible":
            best = out
            return
        failed = cap
        if out.status == "infeasible":
            lo = max(lo, cap + 1)

    offset = 1
    while best is None and search.left() > 0:
        cap = min(lo + offset, upper - 1)
        if cap <= failed:
            break
        attempt(cap, 8)
        offset *= 2
    while best is not None and failed + 1 < best.cap and search.left() > 0:
        attempt((failed + best.cap) // 2, 4)
    top = best.cap if best is not None else upper
    while lo < top and search.left() > 0:
        out = search.run(top - 1, search.left())
        tries.append(out)
        if out.status != "feasible":
            if out.status == "infeasible":
                lo = top
            break
        best, top = out, out.cap
    return best, lo


class _Search:
    """The left-justified event search (module doc) over one problem, with a shared step
    budget."""

    def __init__(
        self, problem: Problem, budget: int, deadline: float, kind: str | None = None
    ) -> None:
        self.problem = problem
        self.n = problem.cores
        self.budget = budget
        self.deadline = deadline
        self.used = 0
        self.wall_cut = False
        self.pinned = sorted(
            (m for m in problem.models if m.start is not None), key=lambda m: m.start or 0
        )
        kinds: dict[tuple[int, int, bool, int], list[int]] = {}
        for m in problem.models:
            if m.start is None:
                key = (m.min_width, m.demand[0], m.exclusive, m.memory)
                kinds.setdefault(key, []).append(m.index)
        self.types = sorted(kinds, key=lambda t: (-t[1], -t[0], t[2], t[3]))
        self.members = [kinds[t] for t in self.types]
        self.count = [len(members) for members in self.members]
        self.pinned_at: dict[int, list[tuple[int, ModelData]]] = {}
        for j, m in enumerate(self.pinned):
            self.pinned_at.setdefault(m.start or 0, []).append((j, m))
        self.last_pin = max(self.pinned_at, default=-1)
        self.pin_starts = [m.start or 0 for m in self.pinned]
        self.exclusive_types = [i for i, t in enumerate(self.types) if t[2]]
        self.last_exclusive_pin = max(
            (m.start or 0 for m in self.pinned if m.exclusive), default=-1
        )
        self.memory = any(m.memory for m in problem.models)
        self.exclusive_width = sum(m.min_width for m in problem.models if m.exclusive)
        self.shared_work = sum(m.min_width * m.demand[0] for m in problem.models if not m.exclusive)
        self.moduli = pick_moduli(problem)
        self.mirror, self.mirror_last = mirror_rule(problem, self.types, self.count)
        self.failed: dict[tuple[int, bytes], int] = {}
        self.memo_bytes = 0
        self.backend = kind or backend(problem)
        self.native: Any = None
        if self.backend == "native" and _sweep is not None and _native_fits(problem):
            self.native = _sweep.Search(
                self.n,
                [(*t, len(m)) for t, m in zip(self.types, self.members, strict=True)],
                [(m.start, m.min_width, m.demand[0], m.exclusive, m.memory) for m in self.pinned],
                self.memory,
                problem.memory_cores,
                problem.chip_memory,
                self.mirror,
                self.mirror_last,
            )
        else:
            self.backend = "python"

    def left(self) -> int:
        return max(0, self.budget - self.used)

    def remember(self, key: tuple[int, bytes], cap: int) -> None:
        """Record that the state ``key`` has no completion at ``cap``, hence none at any lower
        capacity: every layout with a lower peak is one at ``cap`` too, and the search explores
        a subset of the same branches there. Kept while :data:`MEMO_BYTES` allows."""
        old = self.failed.get(key)
        if old is not None:
            self.failed[key] = max(old, cap)
            return
        size = len(key[1]) + 100
        if self.memo_bytes + size <= MEMO_BYTES:
            self.failed[key] = cap
            self.memo_bytes += size

    def _forget_below(self, cap: int) -> None:
        """Drop the states that failed only below ``cap`` (no use to a search at ``cap`` or above)
        when the memory is more than half full."""
        if self.memo_bytes * 2 <= MEMO_BYTES:
            return
        self.failed = {k: v for k, v in self.failed.items() if v >= cap}
        self.memo_bytes = sum(len(k[1]) + 100 for k in self.failed)

    def memo(self) -> tuple[dict[int, int], int]:
        """How many failed states are remembered at each capacity, and the bytes counted."""
        if self.native is not None:
            counts, size = self.native.memo()
            return counts, size
        return dict(Counter(self.failed.values())), self.memo_bytes

    def starts(self, placed: list[tuple[int, int]]) -> dict[int, int]:
        """Each model's start in ``placed`` (type or ``-pin - 1``, start) pairs."""
        out: dict[int, int] = {}
        taken = [0] * len(self.types)
        for key, start in placed:
            if key < 0:
                out[self.pinned[-key - 1].index] = start
            else:
                out[self.members[key][taken[key]]] = start
                taken[key] += 1
        return out

    def run(self, cap: int, limit: int) -> Outcome:
        """Decide ``peak <= cap`` within ``limit`` steps (and the overall budget)."""
        limit = min(limit, self.left())
        if self.native is not None and cap < NATIVE_LIMIT:
            return self._run_native(cap, limit)
        self._forget_below(cap)
        run = _Run(self, cap, limit)
        try:
            status = run.solve()
        except _Stop:
            self.used += run.steps
            if run.wall:
                self.wall_cut = True
                raise
            if self.left() <= 0:
                raise
            return Outcome(cap, "limit", run.steps)
        self.used += run.steps
        if status == "feasible":
            return Outcome(run.peak, status, run.steps, run.starts())
        return Outcome(cap, status, run.steps)

    def _run_native(self, cap: int, limit: int) -> Outcome:
        """:meth:`run` by the compiled search (same outcome, steps and memory decisions)."""
        self.native.forget_below(cap, MEMO_BYTES)
        status, steps, peak, placed = self.native.run(
            cap,
            limit,
            self.deadline - time.perf_counter(),
            WALL_CHECK_STEPS,
            MAX_SUBSET_SUM,
            MEMO_BYTES,
            SUMS_BYTES,
            tuple(self.moduli),
        )
        self.used += steps
        if status in ("limit", "wall"):
            if status == "wall":
                self.wall_cut = True
                raise _Stop
            if self.left() <= 0:
                raise _Stop
            return Outcome(cap, "limit", steps)
        if status == "feasible":
            return Outcome(peak, status, steps, self.starts(placed))
        return Outcome(cap, status, steps)


def _native_fits(problem: Problem) -> bool:
    """Whether the compiled search's int64 arithmetic is safe for ``problem`` (:data:`NATIVE_LIMIT`)
    and its unit counts fit its state keys (one byte per type, as in :meth:`_Run._state`)."""
    work = sum(m.min_width * (m.demand[0] + 1) for m in problem.models)
    memory = sum(m.min_width * m.memory for m in problem.models)
    return (
        problem.cores < (1 << 15)
        and work < NATIVE_LIMIT
        and memory < NATIVE_LIMIT
        and problem.chip_memory < NATIVE_LIMIT
        and len(problem.models) < 256
    )


class _Run:
    """One decision search at capacity ``cap`` (mutable search state)."""

    def __init__(self, search: _Search, cap: int, limit: int) -> None:
        self.s = search
        self.cap = cap
        self.limit = limit
        self.steps = 0
        self.wall = False
        n = search.n
        self.load = [0] * (n + 1)
        self.cover = [0] * (n + 1)
        self.excl = [0] * (n + 1)
        self.ends = [0] * (n + 1)
        self.rem = list(search.count)
        self.left_units = sum(self.rem) + len(search.pinned)
        self.placed: list[tuple[int, int]] = []
        self.solution: list[tuple[int, int]] | None = None
        self.peak = cap
        self.rejections = 0
        self.sums_of: dict[tuple[bytes, int], tuple[int, tuple[tuple[int, int], ...]]] = {}
        self.sums_bytes = 0

    # --- bookkeeping -------------------------------------------------------------------------

    def _tick(self) -> None:
        self.steps += 1
        if self.steps > self.limit:
            raise _Stop
        if self.steps % WALL_CHECK_STEPS == 0 and time.perf_counter() > self.s.deadline:
            self.wall = True
            raise _Stop

    def _put(self, start: int, width: int, load: int, exclusive: bool, k: int) -> None:
        loads, cover, add = self.load, self.cover, k * load
        for c in range(start, start + width):
            loads[c] += add
            cover[c] += k
        if exclusive:
            for c in range(start, start + width):
                self.excl[c] += k
        self.ends[start + width] += k
        self.left_units -= k

    def _take(self, start: int, width: int, load: int, exclusive: bool, k: int) -> None:
        self._put(start, width, load, exclusive, -k)

    def starts(self, placed: list[tuple[int, int]] | None = None) -> dict[int, int]:
        """Each model's start in ``placed`` (default: the solution found)."""
        placed = self.solution if placed is None else placed
        assert placed is not None
        return self.s.starts(placed)

    # --- search ------------------------------------------------------------------------------

    def solve(self) -> str:
        s = self.s
        n, cap = s.n, self.cap
        for t in s.types:
            if t[1] > cap or t[0] > n:
                return "infeasible"
        for m in s.pinned:
            if m.demand[0] > cap:
                return "infeasible"
        slack = (n - s.exclusive_width) * cap - s.shared_work
        if slack < 0:
            return "infeasible"
        if self._core(0, slack):
            return "feasible"
        return "unknown" if self.rejections else "infeasible"

    def _next_event(self, c: int) -> int:
        e = c + 1
        while e < self.s.n and not self.ends[e] and e not in self.s.pinned_at:
            e += 1
        return e

    def _core(self, c: int, slack: int) -> bool:
        """Search on from event core ``c`` with ``slack`` left. A state that failed before
        fails again (its slack is the same: the capacity of the cores closed so far minus the
        load on them, both fixed by the units left and the loads from ``c`` on), unless chip
        memory rejected a layout below it, which depends on where the placed units sit."""
        self._tick()
        s = self.s
        if self.left_units == 0:
            return self._complete()
        if c >= s.n or (s.mirror >= 0 and c > s.mirror_last and self.rem[s.mirror]):
            return False
        key = self._state(c)
        if s.failed.get(key, -1) >= self.cap:
            return False
        rejections = self.rejections
        waste, rest = self._forced_waste(c, slack)
        ok = waste <= slack and self._search_core(c, slack, slack - rest)
        if not ok and self.rejections == rejections:
            s.remember(key, self.cap)
        return ok

    def _forced_waste(self, c: int, slack: int) -> tuple[int, int]:
        """A lower bound on the capacity that cores ``c ..`` will leave unused, and the part of
        its subset-sum bound that falls on cores after ``c`` (the *window* of :meth:`_choose`).

        A shared core's room ``R = cap - load`` can be filled at most up to the largest subset
        sum of the loads of the units left that fits in it (:meth:`_sums`), so it wastes at least
        ``R`` minus that sum. The divisibility bound sharpens this for each modulus ``g`` of
        :func:`pick_moduli`: a core that receives none of the units left whose load ``g`` does
        not divide is filled only by loads ``g`` divides, and wastes at least ``R`` minus their
        best subset sum; at most as many cores as those other units cover (the sum of their
        widths, ``E``) escape this, so of the ``K`` cores counted at least ``K - E`` pay the
        larger waste, and the ``K - E`` smallest excesses are added. Cores an exclusive unit left
        may still take are skipped (their room is not counted in the slack). Cores of equal room
        are counted once; the first bound found above ``slack`` is returned.

        The subset-sum part only grows as units are placed (a core's room shrinks by a unit's
        load and loses that unit from its sums, and ``best(R) >= d + best'(R - d)``), so what it
        charges to the cores after ``c`` still holds once core ``c`` is decided: core ``c`` may
        leave at most ``slack`` minus that part unused."""
        if self.cap > MAX_SUBSET_SUM:
            return 0, 0
        exclusive_left = self.s.last_exclusive_pin >= c or any(
            self.rem[i] for i in self.s.exclusive_types
        )
        rooms: dict[int, int] = {}
        cap, load, excl, cover = self.cap, self.load, self.excl, self.cover
        for x in range(c, self.s.n):
            if not (excl[x] or (exclusive_left and not cover[x])):
                room = cap - load[x]
                rooms[room] = rooms.get(room, 0) + 1
        every, moduli = self._sums(c)
        base = {room: room + 1 - (every & ((2 << room) - 1)).bit_length() for room in rooms}
        waste = sum(base[room] * k for room, k in rooms.items())
        if waste > slack:
            return waste, 0
        own = cap - load[c]
        shared = not (excl[c] or (exclusive_left and not cover[c]))
        rest = waste - base[own] if shared else waste
        counted = sum(rooms.values())
        for divisible, escape in moduli:
            forced = counted - escape
            if forced <= 0:
                continue
            extra = sorted(
                (room + 1 - (divisible & ((2 << room) - 1)).bit_length() - base[room], k)
                for room, k in rooms.items()
            )
            more = 0
            for e, k in extra:
                more += e * min(k, forced)
                forced -= k
                if forced <= 0:
                    break
            if waste + more > slack:
                return waste + more, 0
        return waste, rest

    def _sums(self, c: int) -> tuple[int, tuple[tuple[int, int], ...]]:
        """Every subset sum up to ``cap`` of the loads of the units not yet placed (free ones
        and pins from core ``c`` on) as the set bits of an integer; and for each modulus ``g``
        of the search, the same of the loads ``g`` divides, with the total width of the
        others."""
        first_pin = bisect_left(self.s.pin_starts, c)
        key = (bytes(self.rem), first_pin)
        found = self.sums_of.get(key)
        if found is not None:
            return found
        mask = (2 << self.cap) - 1
        moduli = self.s.moduli
        every = 1
        sums = [1] * len(moduli)
        escape = [0] * len(moduli)
        units = [(t[1], t[0], k) for t, k in zip(self.s.types, self.rem, strict=True) if k]
        units += [(m.demand[0], m.min_width, 1) for m in self.s.pinned[first_pin:]]
        for load, width, k in units:
            for _ in range(k):
                every = (every | every << load) & mask
            for j, g in enumerate(moduli):
                if load % g:
                    escape[j] += width * k
                    continue
                for _ in range(k):
                    sums[j] = (sums[j] | sums[j] << load) & mask
        found = (every, tuple(zip(sums, escape, strict=True)))
        size = len(key[0]) + 108 + (1 + len(moduli)) * (self.cap // 8 + 8)
        if self.sums_bytes + size <= SUMS_BYTES:
            self.sums_bytes += size
            self.sums_of[key] = found
        return found

    def _state(self, c: int) -> tuple[int, bytes]:
        """What the search below core ``c`` depends on: ``c``, the units left, and for each core
        from ``c`` on its load and whether it is covered, exclusive, or where a unit ends (the
        slack follows from these: see :meth:`_core`)."""
        n = self.s.n
        flags = bytes(
            (self.cover[x] > 0) | (self.excl[x] > 0) << 1 | (self.ends[x] > 0) << 2
            for x in range(c, n)
        )
        return c, bytes(self.rem) + flags + array("q", self.load[c:n]).tobytes()

    def _search_core(self, c: int, slack: int, window: int) -> bool:
        s = self.s
        room = s.n - c
        for i, t in enumerate(s.types):
            if self.rem[i] and t[0] > room:
                return False
        pinned_here = s.pinned_at.get(c, [])
        for j, m in pinned_here:
            w = m.min_width
            if c + w > s.n or self.excl[c] or (m.exclusive and self.cover[c]):
                return self._undo_pins(c, pinned_here, False)
            for x in range(c, c + w):
                if self.load[x] + m.demand[0] > self.cap or (m.exclusive and self.cover[x]):
                    return self._undo_pins(c, pinned_here, False)
            self._put(c, w, m.demand[0], m.exclusive, 1)
            self.placed.append((-j - 1, c))
        ok = self._free(c, slack, window, c == 0 or self.ends[c] > 0)
        return self._undo_pins(c, pinned_here, ok)

    def _undo_pins(self, c: int, pinned: list[tuple[int, ModelData]], ok: bool) -> bool:
        for j, _ in reversed(pinned):
            if self.placed and self.placed[-1] == (-j - 1, c):
                m = self.s.pinned[j]
                self._take(c, m.min_width, m.demand[0], m.exclusive, 1)
                self.placed.pop()
        return ok

    def _free(self, c: int, slack: int, window: int, may_start: bool) -> bool:
        s = self.s
        if may_start and not self.cover[c]:
            for i, t in enumerate(s.types):
                if not (self.rem[i] and t[2]):
                    continue
                self.rem[i] -= 1
                self._put(c, t[0], t[1], True, 1)
                self.placed.append((i, c))
                ok = self._core(self._next_event(c), slack)
                self.placed.pop()
                self._take(c, t[0], t[1], True, 1)
                self.rem[i] += 1
                if ok:
                    return True
        forced = s.mirror >= 0 and c == s.mirror_last and self.rem[s.mirror] > 0
        if forced and s.types[s.mirror][2]:
            return False  # an exclusive mirror unit could only start here above
        avail: list[int] = []
        if may_start and not self.excl[c]:
            avail = [
                i
                for i, t in enumerate(s.types)
                if self.rem[i] and not t[2] and t[0] <= s.n - c and not (forced and i == s.mirror)
            ]
        suffix = [0] * (len(avail) + 1)
        for a in range(len(avail) - 1, -1, -1):
            i = avail[a]
            suffix[a] = suffix[a + 1] + self.rem[i] * s.types[i][1]
        if forced:
            return may_start and self._start_mirror(c, slack, window, avail, suffix)
        return self._choose(c, slack, window, self.load[c], avail, suffix, 0, 0)

    def _start_mirror(
        self, c: int, slack: int, window: int, avail: list[int], suffix: list[int]
    ) -> bool:
        """At the mirror unit's last core (:func:`mirror_rule`) a layout that has not started it
        is dead, so it starts here before the other units are chosen (instead of being tried
        last among them, after every choice without it)."""
        i = self.s.mirror
        w, d = self.s.types[i][0], self.s.types[i][1]
        if self.excl[c] or any(self.load[x] + d > self.cap for x in range(c, c + w)):
            return False
        self.rem[i] -= 1
        self._put(c, w, d, False, 1)
        self.placed.append((i, c))
        ok = self._choose(c, slack, window, self.load[c], avail, suffix, 0, 0)
        self.placed.pop()
        self._take(c, w, d, False, 1)
        self.rem[i] += 1
        return ok

    def _choose(
        self,
        c: int,
        slack: int,
        window: int,
        base: int,
        avail: list[int],
        suffix: list[int],
        a: int,
        total: int,
    ) -> bool:
        """Choose which units start at ``c``: for each type from ``avail[a]`` on, some count
        (largest first), then none of the rest; the units chosen so far add ``total`` to
        ``base``, core ``c``'s load before this core. Core ``c`` may leave at most ``window``
        unused (the slack less the waste already charged to the cores after it, see
        :meth:`_forced_waste`). Depth: one frame per type chosen."""
        self._tick()
        cap, load, types = self.cap, self.load, self.s.types
        for b in range(a, len(avail)):
            if base + total + suffix[b] + window < cap:
                return False
            i = avail[b]
            w, d = types[i][0], types[i][1]
            k = self.rem[i]
            if d:
                fit = (cap - base - total) // d
                for x in range(c + 1, c + w):
                    room = (cap - load[x]) // d
                    if room < fit:
                        fit = room
                if fit < k:
                    k = fit
            while k > 0:
                self.rem[i] -= k
                self._put(c, w, d, False, k)
                self.placed.extend([(i, c)] * k)
                ok = self._choose(c, slack, window, base, avail, suffix, b + 1, total + k * d)
                del self.placed[-k:]
                self._take(c, w, d, False, k)
                self.rem[i] += k
                if ok:
                    return True
                k -= 1
        if base + total + window < cap and not self.excl[c]:
            return False
        return self._leave(c, slack, base + total)

    def _leave(self, c: int, slack: int, load: int) -> bool:
        """Core ``c`` is decided at ``load``: spend its waste over the cores up to the next event
        and go on there."""
        if not self.cover[c] and self.left_units and self.s.last_pin <= c:
            return False  # an empty core with units left: not left-justified
        e = self._next_event(c)
        if not self.excl[c]:
            slack -= (self.cap - load) * (e - c)
            if slack < 0:
                return False
        return self._core(e, slack)

    def _complete(self) -> bool:
        """All units placed: check chip memory (the one rule the search does not propagate)."""
        s = self.s
        if s.memory:
            per_chip = [0] * s.problem.pools
            starts = self.starts(self.placed)
            for m in s.problem.models:
                if not m.memory:
                    continue
                start = starts[m.index]
                for x in range(start, start + m.min_width):
                    per_chip[x // s.problem.memory_cores] += m.memory
            if any(v > s.problem.chip_memory for v in per_chip):
                self.rejections += 1
                return False
        self.solution = list(self.placed)
        self.peak = max(self.load[: s.n])
        return True


def mirror_rule(
    problem: Problem, types: list[tuple[int, int, bool, int]], counts: list[int]
) -> tuple[int, int]:
    """The mirror rule: a unit type and the last core it may start at (``-1, 0``: none).

    Reversing a layout (core ``x`` to ``N - 1 - x``, so a unit of width ``w`` at ``s`` to
    ``N - w - s``) keeps every load, exclusivity and, when the memory pools split the cores
    evenly, every pool's memory; so with no pins, of a layout and its mirror image one starts a
    given unique unit at ``s <= (N - w) / 2``, and left-justifying that one only moves units
    left. The search may therefore require that unit to start by core ``(N - w) // 2``. The
    widest unique unit (then the heaviest) is taken: its rule cuts the search earliest (on the
    benchmark's 20-model mix, seed 0, the width-8 unit cut the proof of one capacity from 7.0 to
    4.9 million steps, and units of width 1-4 by 2-8 %). At that last core the search starts the
    unit before choosing the others (:meth:`_Run._start_mirror`), rather than trying it last,
    after every choice without it, each of which dies at the next core. Memory is still checked
    on complete layouts only, so a search that rejected one still ends "unknown", never
    "infeasible"."""
    n = problem.cores
    if n % problem.memory_cores or any(m.start is not None for m in problem.models):
        return -1, 0
    unique = [i for i, (t, k) in enumerate(zip(types, counts, strict=True)) if k == 1 and t[0] < n]
    if not unique:
        return -1, 0
    chosen = max(unique, key=lambda i: (types[i][0], types[i][1], -i))
    return chosen, (n - types[chosen][0]) // 2


def pick_moduli(problem: Problem) -> tuple[int, ...]:
    """The moduli ``g`` (2 .. :data:`MAX_MODULUS`) for the divisibility bound, the
    :data:`MODULI` best by an estimate of the waste they force: ``(N' - E_g) (g - 1) / 2``, with
    ``N'`` the cores exclusive units leave, ``E_g`` the total width of the non-exclusive units
    whose load ``g`` does not divide (cores beyond those they can cover get only loads ``g``
    divides, and leave about ``(g - 1) / 2`` of their room unfilled). Moduli that divide every
    load are left out (the subset sums already see them), as are those no core is forced by."""
    shared = [m for m in problem.models if not m.exclusive]
    cores = problem.cores - sum(m.min_width for m in problem.models if m.exclusive)
    scored = []
    for g in range(2, MAX_MODULUS + 1):
        escape = sum(m.min_width for m in shared if m.demand[0] % g)
        if escape and escape < cores:
            scored.append(((cores - escape) * (g - 1), g))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return tuple(g for _, g in scored[:MODULI])


def int_peak(problem: Problem, assignment: dict[int, Assignment]) -> int:
    """The integer peak of an assignment (block or split mode), in the problem's scaled loads."""
    loads = [0] * problem.cores
    for m in problem.models:
        copies, starts = assignment[m.index]
        for start in problem.copy_starts(m, copies, starts):
            for c in range(start, start + m.cores):
                loads[c] += m.demand_of(copies)
    return max(loads, default=0)
