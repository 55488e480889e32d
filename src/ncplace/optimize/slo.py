"""The SLO objective: the layout that serves the most traffic within every model's p99 target.

``optimize(mix, objective="slo")`` (the default when a model gives a latency field) maximises
alpha*, the largest factor on every rate at which each model's simulated p99 stays within its
``slo_ms`` (:func:`ncplace.max_scale`), and breaks ties by the smallest worst ``p99 / slo_ms``
at today's traffic. Nothing here is proven: alpha* is *measured* by a seeded simulation
(:func:`ncplace.simulate`) or *estimated* by queueing formulas (:func:`ncplace.latency.estimate`).
What is proven is the busy-time bound of the peak solve: no layout of the model has a peak load
below ``bound``, so none takes more than ``1 / bound`` times today's traffic before a core
saturates, and alpha* (capped at a layout's busy-time headroom) is at most that too.

The search, in four steps on shares of ``time_limit``:

1. **Candidates.** The peak solve (``objective="peak"``, :data:`PEAK_SHARE` of the time): its
   layout and proven bound. Every baseline policy whose layout keeps every hard rule and every
   pin, ``multicore`` included, whatever copy counts it uses.
2. **Ranking** by the estimate: alpha* estimated, then the worst estimated ``p99 / slo_ms`` at
   today's traffic.
3. **Local search** on the estimate from the best candidates (:data:`STARTS` of them, on
   equal parts of :data:`SEARCH_SHARE`): move one
   copy to other cores, and, for a model whose ``replicas`` is ``auto`` or a range, add or drop
   a copy within that range; a move is kept when it keeps every hard rule and raises the
   estimated alpha* (or keeps it and lowers the worst estimated ratio). First improvement, in a
   fixed order, so the result depends on the inputs only (with ``deterministic=True`` the moves
   are counted, :data:`MOVES_PER_SECOND`, instead of timed).
4. **Confirmation** by simulation (``max_scale`` with the caller's ``seed`` and ``switch_ms``):
   every baseline candidate (so the plan's alpha* is never below a baseline's, measured the
   same way), then the other candidates best estimate first, :data:`CONFIRM` of them. The plan
   is the confirmed layout with the largest simulated alpha*, ties broken by the smallest
   simulated worst ``p99 / slo_ms`` at scale 1.

With ``deterministic=True`` every step runs in full, and the guarantee against the baselines
holds. On the wall clock (the default) ``time_limit`` ends the whole call: candidates are
estimated, and simulated, while time is left (a simulation is not started when its first run
would end after the deadline, and alpha*'s bisection stops at it), the simulated candidates
rank before the others, and the plan's stop reason names the baselines left unsimulated (the
plan is not checked against them) and the layouts whose alpha* is only a lower bound.

A ``KeyboardInterrupt`` after the peak solve ends the search with the best candidate by
estimate, marked interrupted (the guarantee against the baselines then does not hold).

A layout's copies are written as one handle when they sit back to back and as one handle per
copy otherwise, so that every copy carries the same traffic, in the simulation as in the scorer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..errors import Error
from ..layout import Layout, Placement
from ..mix import Mix
from ..processes import process_specs
from ..score import score
from .baselines import pins_kept
from .layouts import one_process
from .plan import Plan, Status, universal_bound
from .problem import allowed_replicas

if TYPE_CHECKING:
    from .progress import ProgressCallback

PEAK_SHARE = 0.4
"""The part of ``time_limit`` the peak solve gets."""
SEARCH_SHARE = 0.2
"""The part of ``time_limit`` the local search on the estimate gets."""
CONFIRM = 3
"""Candidates other than the baselines confirmed by simulation whatever the time left."""
STARTS = 2
"""The local search starts from this many of the best-estimated candidates."""
ESTIMATE_S_PER_MODEL = 4e-4
"""About what a layout's estimate at one scale costs per model (0.55-1.2 s at 3,000 models on
the 2-core development machine, depending on how many models share a core). On the wall clock
an estimate does not start when less is left; its alpha* search then starts no scale that the
first one's time says would end after the deadline."""
MOVES_PER_SECOND = 40
"""Local-search moves evaluated per nominal second with ``deterministic=True``."""

Copies = dict[str, list[tuple[int, ...]]]
"""Each model's copies, each a tuple of consecutive cores."""


@dataclass(frozen=True)
class Judged:
    """A candidate layout and how it was judged: by the estimate (alpha*, worst p99/slo at
    today's traffic) and, once confirmed, by simulation (the same two, measured)."""

    name: str
    layout: Layout
    estimate: float
    estimate_ratio: float
    simulated: float | None = None
    simulated_ratio: float | None = None
    settled: bool = True

    @property
    def estimate_key(self) -> tuple[float, float]:
        return (-self.estimate, self.estimate_ratio)

    @property
    def simulated_key(self) -> tuple[float, float]:
        assert self.simulated is not None and self.simulated_ratio is not None
        return (-self.simulated, self.simulated_ratio)


def optimize_slo(
    mix: Mix,
    solve_peak: Callable[..., Plan],
    *,
    time_limit: float,
    seed: int,
    deterministic: bool,
    switch_ms: float | None,
    progress: ProgressCallback | None,
    peak_options: dict[str, object],
) -> Plan:
    """See the module doc; ``solve_peak`` is :func:`.solve.optimize` and ``peak_options`` the
    caller's other options for it."""
    start = time.perf_counter()
    deadline = start + time_limit
    peak = solve_peak(
        mix,
        objective="peak",
        time_limit=PEAK_SHARE * time_limit,
        seed=seed,
        deterministic=deterministic,
        progress=progress,
        **peak_options,
    )
    judge = _Judge(mix, switch_ms, seed, None if deterministic else deadline)
    try:
        given = peak_options.get("baselines")
        candidates = _candidates(mix, peak, judge, given if isinstance(given, Mapping) else None)
    except KeyboardInterrupt:  # before any layout was judged: the peak solve's, unjudged
        return replace(
            peak,
            objective_name="slo",
            interrupted=True,
            stop_reason=f"interrupted; layout from the peak solve; peak solve: {peak.stop_reason}",
            runtime_s=time.perf_counter() - start,
        )
    if not candidates:
        late = "; the time limit left no time to judge layouts by latency" if judge.unjudged else ""
        return replace(
            peak,
            objective_name="slo",
            stop_reason=peak.stop_reason + late,
            runtime_s=time.perf_counter() - start,
        )
    candidates.sort(key=lambda j: j.estimate_key)
    interrupted = peak.interrupted
    try:
        if not interrupted and not process_specs(mix):
            # The local search moves copies over one process: not for a mix of processes.
            candidates = _search(mix, candidates, judge, time_limit, deterministic)
            candidates = _confirm(candidates, judge)
    except KeyboardInterrupt:
        interrupted = True
    return _plan(mix, peak, candidates[0], candidates, judge, interrupted, start)


def _search(
    mix: Mix, candidates: list[Judged], judge: _Judge, time_limit: float, deterministic: bool
) -> list[Judged]:
    """The local search from each of the :data:`STARTS` best-estimated candidates, on equal
    parts of :data:`SEARCH_SHARE`; the layouts it found join the candidates, best estimate
    first."""
    starts = candidates[:STARTS]
    share = SEARCH_SHARE * time_limit / len(starts)
    found = []
    for start in starts:
        moves = int(MOVES_PER_SECOND * share) if deterministic else None
        better = _local_search(mix, start, judge, moves, time.perf_counter() + share)
        if better is not None:
            found.append(better)
    return sorted(found + candidates, key=lambda j: j.estimate_key)


class _Judge:
    """The estimate and the simulation of layouts of one mix, with one seed and switch time.

    With a ``deadline`` (wall-clock mode) a simulation is not started when its first run would
    end after it, and alpha*'s bisection stops there; ``unjudged`` names the candidates left
    unsimulated and ``cut`` those whose alpha* is only a lower bound."""

    def __init__(
        self, mix: Mix, switch_ms: float | None, seed: int, deadline: float | None = None
    ) -> None:
        self.mix = mix
        self.switch_ms = switch_ms
        self.seed = seed
        self.deadline = deadline
        self.unjudged: list[str] = []
        self.cut: list[str] = []

    def late(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def estimate_fits(self, end: float | None = None) -> bool:
        """True when an estimate of a layout may start: it would end before ``end`` (default
        the deadline) by :data:`ESTIMATE_S_PER_MODEL`, or there is no deadline."""
        end = self.deadline if end is None else end
        needed = ESTIMATE_S_PER_MODEL * len(self.mix)
        return end is None or time.perf_counter() + needed <= end

    def estimate(self, name: str, layout: Layout) -> Judged:
        from ..latency.estimate import estimate_traffic
        from ..latency.traffic import resolve_switch_ms, traffic_of

        switch = resolve_switch_ms(self.switch_ms, "estimate")
        traffic = traffic_of(layout, self.mix, switch, "estimate")
        found = estimate_traffic(traffic, 1.0, switch, self.deadline)
        return Judged(name, layout, found.max_scale, found.worst_ratio)

    def simulate(self, judged: Judged) -> Judged:
        from ..latency.evaluate import first_run_fits, judge

        if not first_run_fits(self.mix, self.deadline):
            self.unjudged.append(judged.name)
            return judged
        today, found = judge(judged.layout, self.mix, self.switch_ms, self.seed, self.deadline)
        assert found is not None  # every candidate is feasible
        if not found.complete:
            self.cut.append(judged.name)
        ratio = max((m.p99_ms / m.slo_ms for m in today.models), default=0.0)
        return replace(judged, simulated=found.low, simulated_ratio=ratio, settled=found.complete)


def _candidates(
    mix: Mix, peak: Plan, judge: _Judge, given: Mapping[str, Layout] | None = None
) -> list[Judged]:
    """The peak solve's layout and every feasible baseline that keeps the pins, estimated
    (``given``: the policies' layouts already made, see :func:`.solve.optimize`)."""
    from ..policies import POLICIES  # type: ignore[import-not-found,unused-ignore]

    out: list[Judged] = []
    if peak.layout is not None and peak.score is not None and peak.score.feasible:
        if not judge.estimate_fits():
            judge.unjudged.append("optimizer (peak)")
        else:
            out.append(judge.estimate("optimizer (peak)", peak.layout))
    if process_specs(mix):
        # Baselines lay out one process: they cannot honour the mix's processes (.processes).
        return out
    for name, policy in dict(POLICIES).items():
        if given is not None and name not in given:
            continue
        if not judge.estimate_fits():
            judge.unjudged.append(f"baseline:{name}")
            continue
        try:
            layout = policy(mix) if given is None else given[name]
            if score(layout, mix).feasible and pins_kept(layout, mix):
                out.append(judge.estimate(f"baseline:{name}", layout))
        except Error:
            continue
    return out


def _confirm(candidates: list[Judged], judge: _Judge) -> list[Judged]:
    """Simulate every baseline, then the others by estimate: :data:`CONFIRM` of them, or with
    a deadline as many as time allows (the baselines too, then). Every candidate, the simulated
    first, best simulated alpha* (then worst simulated ratio) first, the rest by estimate."""
    confirmed = [judge.simulate(c) for c in candidates if c.name.startswith("baseline:")]
    others = [c for c in candidates if not c.name.startswith("baseline:")]
    rest: list[Judged] = []
    for position, candidate in enumerate(others):
        if judge.late() if judge.deadline is not None else position >= CONFIRM:
            rest = others[position:]
            break
        confirmed.append(judge.simulate(candidate))
    simulated = [c for c in confirmed if c.simulated is not None]
    rest += [c for c in confirmed if c.simulated is None]
    return sorted(simulated, key=lambda j: j.simulated_key) + sorted(
        rest, key=lambda j: j.estimate_key
    )


def _local_search(
    mix: Mix, start: Judged, judge: _Judge, moves: int | None, end: float
) -> Judged | None:
    """First-improvement search on the estimate from ``start`` (see the module doc); the better
    layout, or None when no move helped. ``moves`` bounds the layouts evaluated (deterministic),
    else the search stops at ``end`` on the wall clock."""
    copies = _copies_of(start.layout, mix)
    best = start
    evaluated = 0
    improved = True
    while improved:
        improved = False
        for changed in _neighbours(mix, copies):
            if moves is not None and evaluated >= moves:
                return None if best is start else best
            if moves is None and not judge.estimate_fits(end):
                return None if best is start else best
            layout = _layout(mix, changed)
            if not score(layout, mix).feasible:
                continue
            evaluated += 1
            judged = judge.estimate("optimizer (latency search)", layout)
            if judged.estimate_key < best.estimate_key:
                best, copies, improved = judged, changed, True
                break
    return None if best is start else best


def _neighbours(mix: Mix, copies: Copies) -> Iterator[Copies]:
    """Every layout one move away, one at a time: a copy moved to another start, or (copy counts
    allowed) a copy added at a start or the last copy dropped. Pinned models stay."""
    n = mix.instance.cores
    for index, model in enumerate(mix.models):
        if model.start is not None or model.rate is None:
            continue
        mine = copies[model.name]
        k = model.cores
        for j in range(len(mine)):
            others = mine[:j] + mine[j + 1 :]
            for s in range(0, n - k + 1):
                moved = tuple(range(s, s + k))
                if moved not in mine and not _overlaps(moved, others):
                    yield {**copies, model.name: [*others[:j], moved, *others[j:]]}
        allowed = allowed_replicas(mix, index)
        if len(mine) + 1 in allowed:
            for s in range(0, n - k + 1):
                added = tuple(range(s, s + k))
                if not _overlaps(added, mine):
                    yield {**copies, model.name: [*mine, added]}
        if len(mine) - 1 in allowed:
            yield {**copies, model.name: mine[:-1]}


def _overlaps(copy: tuple[int, ...], others: list[tuple[int, ...]]) -> bool:
    cores = set(copy)
    return any(cores.intersection(o) for o in others)


def _copies_of(layout: Layout, mix: Mix) -> Copies:
    out: Copies = {name: [] for name in mix.names}
    for name, cores in layout.copies():
        out[name].append(tuple(cores))
    return out


def _layout(mix: Mix, copies: Copies) -> Layout:
    """One process; a model's copies as one handle when they sit back to back in order, else one
    handle per copy (every copy then carries the same traffic)."""
    placements = []
    for name in mix.names:
        mine = sorted(copies[name])
        if not mine:
            continue
        cores = [c for r in mine for c in r]
        if cores == list(range(cores[0], cores[0] + len(cores))):
            placements.append(Placement(name, tuple(mine)))
        else:
            placements.extend(Placement(name, (r,)) for r in mine)
    return one_process(mix, placements)


def _plan(
    mix: Mix,
    peak: Plan,
    chosen: Judged,
    candidates: list[Judged],
    judge: _Judge,
    interrupted: bool,
    start: float,
) -> Plan:
    """The SLO plan: ``chosen``'s layout, its busy-time score against the peak solve's proven
    bound (the universal floor when ``chosen`` lies outside the layouts that bound covers), and
    its alpha* (simulated when confirmed, always estimated). Its status is never ``optimal``:
    nothing about alpha* is proven."""
    s = score(chosen.layout, mix)
    tolerance = 1e-9 * max(1.0, s.peak_load)  # the scorer's float sums against integer bounds
    bound = peak.bound if s.peak_load >= peak.bound - tolerance else universal_bound(mix)
    bound = min(bound, s.peak_load)
    if s.peak_load - bound <= tolerance:
        bound = s.peak_load
    gap = 0.0 if s.peak_load <= 0 else (s.peak_load - bound) / s.peak_load
    stop = f"{'interrupted; ' if interrupted else ''}layout from {chosen.name}; peak solve: "
    stop += peak.stop_reason + _cut_text(judge)
    return replace(
        peak,
        layout=chosen.layout,
        status=Status.FEASIBLE,
        objective=s.peak_load,
        bound=bound,
        gap=gap,
        runtime_s=time.perf_counter() - start,
        stop_reason=stop,
        score=s,
        peak_load=s.peak_load,
        overlap=s.overlap,
        objective_name="slo",
        source=chosen.name,
        interrupted=interrupted,
        max_scale=chosen.simulated,
        max_scale_estimate=chosen.estimate,
        worst_slo_ratio=chosen.simulated_ratio,
        switch_ms=judge.switch_ms,
        candidates=tuple((c.name, c.estimate, c.simulated) for c in candidates),
    )


def _cut_text(judge: _Judge) -> str:
    """What the time limit left unjudged, for the stop reason (empty when nothing)."""
    text = ""
    baselines = [n.removeprefix("baseline:") for n in judge.unjudged if n.startswith("baseline:")]
    if baselines:
        text += (
            f"; the time limit left baseline(s) {', '.join(baselines)} unsimulated: the plan "
            "is not checked against them"
        )
    if judge.cut:
        text += f"; the time limit cut alpha*'s search for {', '.join(judge.cut)} (a lower bound)"
    return text


def latency_given(mix: Mix) -> bool:
    """True when any model of ``mix`` gives a latency field: the SLO objective is the default."""
    return any(m.gives_latency for m in mix.models)


__all__ = ["latency_given", "optimize_slo"]
