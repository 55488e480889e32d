"""The discrete-event simulation behind :func:`simulate` (the rules are in :mod:`ncplace.latency`).

Each core is a FIFO server, and a pipeline call moves from a copy's j-th core to its (j+1)-th,
so when every copy's cores ascend (as every producer in ncplace lays them out) calls flow only
from lower to higher cores. The cores are then simulated one at a time in topological order of
that flow: a core's stream of stage jobs is complete once the cores before it are done. Its jobs
are sorted by arrival (ties by call, then stage), switches marked where the copy differs from
the previous job's, and the Lindley recursion ``finish_i = max(arrival_i, finish_{i-1}) +
work_i`` solved as a max-plus scan: with ``W_i = work_1 + .. + work_i``,
``finish_i = W_i + max_{j <= i} (arrival_j - W_{j-1})``. That is exact, needs no event heap
and runs in numpy. A layout whose pipelines route calls around a cycle of cores has no such
order; it runs through :func:`run_events`, a plain event loop that serves the jobs of every core
in the same order and so gives the same result.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from dataclasses import dataclass

import numpy as np

from .traffic import Traffic

MIN_CALLS = 2000
MAX_CALLS = 100_000


@dataclass(frozen=True)
class Calls:
    """Every simulated call: its arrival (s), model, flow and per-core service multipliers."""

    arrival: np.ndarray
    model: np.ndarray
    flow: np.ndarray
    multiplier: np.ndarray
    counts: tuple[int, ...]


@dataclass(frozen=True)
class Outcome:
    """When each call completed, and each core's work (s), switches and last finish (s)."""

    done: np.ndarray
    busy: np.ndarray
    switches: np.ndarray
    last_finish: np.ndarray


def default_duration(traffic: Traffic) -> float:
    """Seconds of traffic at scale 1: enough for ``MIN_CALLS`` calls of the least-called model
    (so its p99 rests on at least 20 calls above it), cut so that all models together make at
    most ``MAX_CALLS`` calls."""
    rates = [m.rate for m in traffic.models]
    return min(MIN_CALLS / min(rates), MAX_CALLS / sum(rates))


def _stream_seed(seed: int, name: str, kind: int) -> list[int]:
    """A seed that depends on the model's name, not its position or layout: every layout of a
    mix draws the same calls (common random numbers)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()
    return [seed, int.from_bytes(digest[:8], "little"), kind]


def _gamma(rng: np.random.Generator, cv: float, size: int) -> np.ndarray:
    """``size`` draws of mean 1 and coefficient of variation ``cv`` (all 1 when ``cv`` is 0)."""
    if cv == 0:
        return np.ones(size)
    shape = 1.0 / (cv * cv)
    return rng.gamma(shape, 1.0 / shape, size)


@dataclass(frozen=True)
class Draws:
    """Every model's calls over ``span`` seconds of traffic at scale 1, drawn once (one model
    after another in mix order): ``units`` are the running sums of each model's unit-mean gaps,
    ``model``, ``flow`` and ``multiplier`` as in :class:`Calls`. A run at ``scale`` over
    ``duration`` with ``scale x duration <= span`` keeps each model's first calls up to its
    horizon and divides by ``rate x scale`` (:func:`calls_from`): every scale and switch time
    of one layout shares the same draws, which :func:`draw_calls` would otherwise repeat."""

    units: np.ndarray
    model: np.ndarray
    flow: np.ndarray
    multiplier: np.ndarray
    span: float
    seed: int
    key: tuple[tuple[object, ...], ...]


def draws_key(traffic: Traffic) -> tuple[tuple[object, ...], ...]:
    """What a model's draws depend on: its name (the seed), rate, variations, width, routes."""
    return tuple(
        (m.name, m.rate, m.arrival_cv, m.service_cv, m.width, m.routes) for m in traffic.models
    )


GAP_BLOCK = 4096
"""How many gaps :func:`draw_all` draws at a time once its first block fell short."""

SPAN_MARGIN = 1e-9
"""Relative room above ``span``: ``rate x scale x duration`` rounds a few ulps away from
``rate x span`` when ``duration = span / scale``."""


def draw_all(traffic: Traffic, span: float, seed: int) -> Draws:
    """Draw the calls of :class:`Draws` over ``span`` seconds at scale 1.

    Unit-mean gaps are drawn from the model's own stream, so a longer run or a higher scale
    extends the same sequence (the first block is sized to the calls expected, later ones hold
    :data:`GAP_BLOCK`: the gaps are the stream's first draws whatever the blocks). The service
    multipliers of call ``i`` are draws ``i w .. i w + w - 1`` of a second stream (numpy's
    generators give the same first draws whatever the count asked), so a run that keeps fewer
    calls sees the same values."""
    units_of, models, flows, multipliers = [], [], [], []
    width = max(m.width for m in traffic.models)
    for k, m in enumerate(traffic.models):
        rng = np.random.default_rng(_stream_seed(seed, m.name, 0))
        horizon = m.rate * span * (1.0 + SPAN_MARGIN)
        gaps: list[np.ndarray] = []
        total = 0.0
        size = min(GAP_BLOCK, int(horizon + 4 * math.sqrt(horizon)) + 16)
        while total <= horizon:
            block = _gamma(rng, m.arrival_cv, size)
            gaps.append(block)
            total += float(block.sum())
            size = GAP_BLOCK
        units = np.cumsum(np.concatenate(gaps))
        units = units[units <= horizon]
        n = len(units)
        units_of.append(units)
        models.append(np.full(n, k, dtype=np.int64))
        flows.append(_route(m.routes, n))
        rng = np.random.default_rng(_stream_seed(seed, m.name, 1))
        mult = _gamma(rng, m.service_cv, n * m.width).reshape(n, m.width)
        if m.width < width:
            mult = np.hstack([mult, np.ones((n, width - m.width))])
        multipliers.append(mult)
    return Draws(
        units=np.concatenate(units_of),
        model=np.concatenate(models),
        flow=np.concatenate(flows),
        multiplier=np.concatenate(multipliers),
        span=span,
        seed=seed,
        key=draws_key(traffic),
    )


def calls_from(draws: Draws, traffic: Traffic, scale: float, duration: float) -> Calls:
    """The calls arriving in ``[0, duration]`` at ``scale`` times each model's rate, cut from
    ``draws`` (which must cover ``scale x duration`` and the same models)."""
    if draws.key != draws_key(traffic) or scale * duration > draws.span * (1.0 + SPAN_MARGIN):
        raise ValueError("calls_from: the draws do not cover this traffic")
    rate = np.array([m.rate for m in traffic.models]) * scale
    keep = draws.units <= (rate * duration)[draws.model]
    model = draws.model[keep]
    return Calls(
        arrival=draws.units[keep] / rate[model],
        model=model,
        flow=draws.flow[keep],
        multiplier=draws.multiplier[keep],
        counts=tuple(int(n) for n in np.bincount(model, minlength=len(traffic.models))),
    )


def draw_calls(traffic: Traffic, scale: float, duration: float, seed: int) -> Calls:
    """The calls arriving in ``[0, duration]`` at ``scale`` times each model's rate."""
    return calls_from(draw_all(traffic, scale * duration, seed), traffic, scale, duration)


def _route(routes: tuple[tuple[int, ...], ...], n: int) -> np.ndarray:
    """The flow of each of ``n`` calls: call ``i`` goes to handle ``i mod H``, then to copy
    ``(i div H) mod n_h`` of that handle."""
    if len(routes) == 1 and len(routes[0]) == 1:
        return np.full(n, routes[0][0], dtype=np.int64)
    index = np.arange(n, dtype=np.int64)
    h = len(routes)
    sizes = np.array([len(r) for r in routes], dtype=np.int64)
    table = np.full((h, int(sizes.max())), -1, dtype=np.int64)
    for i, route in enumerate(routes):
        table[i, : len(route)] = route
    handle = index % h
    return table[handle, (index // h) % sizes[handle]]


def _flow_arrays(traffic: Traffic) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per flow: padded cores (-1 past the copy), stage count, base service (s), switch (s)."""
    flows = traffic.flows
    width = max(len(f.cores) for f in flows)
    cores = np.full((len(flows), width + 1), -1, dtype=np.int64)
    for i, f in enumerate(flows):
        cores[i, : len(f.cores)] = f.cores
    stages = np.array([1 if f.tensor else len(f.cores) for f in flows])
    service = np.array([traffic.models[f.model].service_s for f in flows])
    switch = np.array([traffic.models[f.model].switch_s for f in flows])
    return cores, stages, service, switch


def core_order(traffic: Traffic) -> list[int] | None:
    """The cores in an order where every pipeline hop goes forward (lowest core first among
    the ready ones), or None when the hops form a cycle."""
    n = traffic.cores
    after: list[set[int]] = [set() for _ in range(n)]
    for f in traffic.flows:
        if not f.tensor:
            for a, b in zip(f.cores, f.cores[1:], strict=False):
                after[a].add(b)
    indegree = [0] * n
    for targets in after:
        for b in targets:
            indegree[b] += 1
    ready = [c for c in range(n) if indegree[c] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        c = heapq.heappop(ready)
        order.append(c)
        for b in after[c]:
            indegree[b] -= 1
            if indegree[b] == 0:
                heapq.heappush(ready, b)
    return order if len(order) == n else None


def run_cores(traffic: Traffic, calls: Calls, order: list[int]) -> Outcome:
    """Serve every core in ``order`` with the max-plus scan (see the module docstring)."""
    cores, stages, service, switch = _flow_arrays(traffic)
    n = traffic.cores
    total = len(calls.arrival)
    pending: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(n)]
    ids = np.arange(total)
    is_tensor = np.array([f.tensor for f in traffic.flows])
    for rank in range(cores.shape[1] - 1):
        at = cores[calls.flow, rank]
        keep = (rank == 0) | is_tensor[calls.flow]
        keep &= at >= 0
        _scatter(pending, at[keep], calls.arrival[keep], ids[keep], np.full(total, rank)[keep])
    done = np.zeros(total)
    busy, switches, last = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n)
    for c in order:
        if not pending[c]:
            continue
        arrival = np.concatenate([p[0] for p in pending[c]])
        call = np.concatenate([p[1] for p in pending[c]])
        stage = np.concatenate([p[2] for p in pending[c]])
        pending[c] = []
        if not _in_order(arrival, call, stage):
            sort = np.lexsort((stage, call, arrival))
            arrival, call, stage = arrival[sort], call[sort], stage[sort]
        flow = calls.flow[call]
        changed = np.zeros(len(flow), dtype=bool)
        changed[1:] = flow[1:] != flow[:-1]
        work = service[flow] * calls.multiplier[call, stage] + changed * switch[flow]
        worked = np.cumsum(work)
        finish = worked + np.maximum.accumulate(arrival - (worked - work))
        busy[c], switches[c], last[c] = worked[-1], changed.sum(), finish[-1]
        tensor = is_tensor[flow]
        final = tensor | (stage == stages[flow] - 1)
        np.maximum.at(done, call[final], finish[final])
        more = ~final
        following = stage[more] + 1
        _scatter(pending, cores[flow[more], following], finish[more], call[more], following)
    return Outcome(done, busy, switches, last)


def _in_order(arrival: np.ndarray, call: np.ndarray, stage: np.ndarray) -> bool:
    """True when the jobs are already sorted by (arrival, call, stage), as one model's calls
    arrive: sorting is then skipped."""
    later = np.diff(arrival)
    tied = later == 0
    if not tied.any():
        return bool((later > 0).all())
    step = np.diff(call)
    ordered = (step > 0) | ((step == 0) & (np.diff(stage) > 0))
    return bool(((later > 0) | (tied & ordered)).all())


def _scatter(
    pending: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]],
    core: np.ndarray,
    arrival: np.ndarray,
    call: np.ndarray,
    stage: np.ndarray,
) -> None:
    """Append each job to its core's pending list, grouped by core."""
    for c in np.unique(core):
        mask = core == c
        pending[int(c)].append((arrival[mask], call[mask], stage[mask]))


def run_events(traffic: Traffic, calls: Calls) -> Outcome:
    """The same service order as :func:`run_cores`, by popping jobs in (arrival, call, stage)
    order from one heap: each core still serves its jobs in that order, so FIFO holds for any
    layout, cycles included. Slower (pure Python), so used only when no core order exists."""
    cores, stages, service, switch = _flow_arrays(traffic)
    n = traffic.cores
    total = len(calls.arrival)
    heap: list[tuple[float, int, int, int]] = []
    for i in range(total):
        f = int(calls.flow[i])
        ranks = len(traffic.flows[f].cores) if traffic.flows[f].tensor else 1
        for rank in range(ranks):
            heap.append((float(calls.arrival[i]), i, rank, int(cores[f, rank])))
    heapq.heapify(heap)
    done = np.zeros(total)
    busy, switches, last = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n)
    previous = [-1] * n
    while heap:
        t, i, stage, c = heapq.heappop(heap)
        f = int(calls.flow[i])
        changed = previous[c] not in (-1, f)
        work = service[f] * calls.multiplier[i, stage] + changed * switch[f]
        finish = max(t, last[c]) + work
        busy[c] += work
        switches[c] += changed
        last[c], previous[c] = finish, f
        if traffic.flows[f].tensor or stage == stages[f] - 1:
            done[i] = max(done[i], finish)
        else:
            heapq.heappush(heap, (finish, i, stage + 1, int(cores[f, stage + 1])))
    return Outcome(done, busy, switches, last)
