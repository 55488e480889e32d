"""The analytic estimate: per-core queueing formulas instead of a simulation, for search.

Each core is taken as a G/G/1 queue fed by the copies on it. With ``lambda_f`` the rate of copy
``f``'s jobs on the core, ``p_f = lambda_f / Lambda`` its share of them and ``w_f`` its switch
time, a job of ``f`` finds another copy's job before it with probability ``1 - p_f`` (exact for
Poisson streams, whose FIFO order is a sequence of independent draws), so its work is
``X_f = s_f G + w_f Bernoulli(1 - p_f)`` with ``G`` the unit service multiplier. Then

- ``rho = sum_f lambda_f E[X_f]``, ``E[X] = sum_f p_f E[X_f]``, ``c_s^2 = E[X^2] / E[X]^2 - 1``;
- the arrival variability ``c_a^2 = sum_f p_f c_f^2`` (superposition), where a copy that gets
  every K-th call of a stream of variability ``c^2`` sees ``c^2 / K``, and a pipeline's next
  stage sees the departures of the previous one, ``(1 - rho^2) c_f^2 + rho^2 c_{s,f}^2``
  (rho capped at 1);
- the mean wait is Kingman's ``W = rho / (1 - rho) x (c_a^2 + c_s^2) / 2 x E[X]``, which is
  Pollaczek-Khinchine's formula for Poisson arrivals;
- the wait is 0 with probability ``1 - rho``; with probability ``rho_g = lambda_g E[X_g]`` the
  call finds copy ``g``'s job in service and waits its residual ``R_g`` (mean ``E[X_g^2] /
  (2 E[X_g])``; uniform when the work is nearly constant, ``c^2 < 0.25``, else exponential) plus
  the work queued ahead, taken as exponential: so a rare slow model on a core shows in the tail
  of a fast one even when it barely moves the mean. For exponential residuals the queued work's
  mean is ``(W - sum_g rho_g E[R_g]) / rho`` (one copy: the exact M/M/1 wait); for uniform ones
  it is the average of that and ``1 / theta``, the decay rate of the wait's tail from
  ``M_X(theta) M_A(-theta) = 1`` (Cramer-Lundberg; ``M`` the moment generating functions of a
  job's work and of a gap between arrivals). The average is an empirical choice: it keeps the
  M/D/1 p99 within 6% at utilisation 0.3-0.9 and gave the smallest median error on the
  benchmark mixes among the queued-work means tried;
- a pipeline call queued behind a slower copy that takes the same hops meets it again at every
  shared hop (a convoy): with probability ``rho_g`` it waits ``L x (s_g - s_f)`` more over ``L``
  shared hops in a row;
- a call's wait is the sum over its stages (for a tensor-parallel copy, its slowest rank), whose
  99th percentile solves ``sum_j P(wait_j > t - (W_total - W_j)) = 0.01``;
- the p99 response is the mean wait plus the mean work plus the overhead, plus the root-sum-
  square of the wait's and the work's deviations from their means at the 99th percentile (the
  work's taken as normal).

The estimated alpha* is the largest scale at which every model's estimated p99 is within its
target, by bisection to 1% below the busy-time headroom.

Measured against :func:`~ncplace.simulate` (``benchmarks/latency.py``, quick suite and example
mixes, 2026-12-07): the p99 error ``|estimate / simulation - 1|`` per model and layout has median
10.8% and p90 36.4% at 0.9 alpha* (84% of them within 30%), median 15.8% and p90 46.1% at
today's traffic (77% within 30%); the estimated alpha* is off by a median 6.9% (p90 53%). It is
an estimate for ranking; :func:`~ncplace.max_scale` is the measurement.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..layout import Layout
from ..mix import Mix
from .simulation import core_order
from .traffic import Flow, Traffic, check_scale, resolve_switch_ms, traffic_of

Z99 = 2.3263478740408408
TAIL = 0.01
STEADY_SCV = 0.25


@dataclass(frozen=True)
class ModelEstimate:
    """One model's estimated mean and p99 response time (ms) against its target."""

    name: str
    mean_ms: float
    p99_ms: float
    slo_ms: float

    @property
    def ratio(self) -> float:
        """``p99_ms / slo_ms``."""
        return self.p99_ms / self.slo_ms


@dataclass(frozen=True)
class Estimate:
    """The analytic estimate at ``scale`` and the estimated alpha* (``max_scale``)."""

    models: tuple[ModelEstimate, ...]
    scale: float
    max_scale: float
    switch_ms: float

    def __getitem__(self, name: str) -> ModelEstimate:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def worst_ratio(self) -> float:
        """The largest ``p99 / slo`` over the models (0 when none has traffic)."""
        return max((m.ratio for m in self.models), default=0.0)


def estimate(
    layout: Layout, mix: Mix, *, switch_ms: float | None = None, scale: float = 1.0
) -> Estimate:
    """Estimate each model's p99 at ``scale`` and alpha* without simulating (see the module
    docstring for the formulas); ``switch_ms`` as in :func:`~ncplace.simulate`."""
    switch = resolve_switch_ms(switch_ms, "estimate")
    scale = check_scale(scale, "estimate")
    return estimate_traffic(traffic_of(layout, mix, switch, "estimate"), scale, switch)


def estimate_traffic(
    traffic: Traffic, scale: float, switch_ms: float = 0.0, deadline: float | None = None
) -> Estimate:
    """:func:`estimate` on routed traffic. With a ``deadline`` (``time.perf_counter()``
    seconds) the bisection for alpha* starts no scale that the first one's time says would end
    after it, stops a scale's estimate at the deadline (one scale may cost ten times another:
    0.15-3.4 s at 3,000 models), and returns the largest scale estimated to meet every target so
    far (0 when none was): a lower bound of the estimate's own alpha*."""
    shape = _Shape(list(core_order(traffic) or range(traffic.cores)), _hop_riders(traffic))
    started = time.perf_counter()
    models = _estimate_models(traffic, scale, shape)
    ceiling = _headroom(traffic)
    took = time.perf_counter() - started

    def late() -> bool:
        return deadline is not None and time.perf_counter() + took > deadline

    def meets(at: float) -> bool | None:
        """Whether every target is met at scale ``at``; None when the deadline cut it."""
        try:
            return all(m.p99_ms <= m.slo_ms for m in _estimate_models(traffic, at, shape, deadline))
        except _Late:
            return None

    best = 0.0
    if math.isinf(ceiling):
        best = math.inf
    elif late():
        pass
    elif (top := meets(ceiling * 0.999)) is not False:
        best = ceiling if top else 0.0
    else:
        lo, hi = ceiling / 1000.0, ceiling
        if not late() and meets(lo):
            while hi / lo > 1.01 and not late():
                mid = math.sqrt(lo * hi)
                found = meets(mid)
                if found is None:
                    break
                lo, hi = (mid, hi) if found else (lo, mid)
            best = lo
    return Estimate(models, scale, best, switch_ms)


class _Late(Exception):
    """The deadline passed during one scale's estimate."""


LATE_CHECK = 64
"""How many copies (flows, or cores) an estimate goes through between looks at the clock."""


def _headroom(traffic: Traffic) -> float:
    loads = [0.0] * traffic.cores
    for f in traffic.flows:
        m = traffic.models[f.model]
        for c in f.cores:
            loads[c] += m.rate * f.share * m.service_s
    peak = max(loads, default=0.0)
    return 1.0 / peak if peak > 0 else math.inf


@dataclass(frozen=True)
class _Shape:
    """What the estimate needs of a layout at every scale: the order to solve cores in and the
    flows taking each pipeline hop."""

    order: list[int]
    riders: dict[tuple[int, int], list[int]]


@dataclass(frozen=True)
class _Stage:
    """One job of a copy on one core: the core's mean wait and load, the job's mean work and its
    variance (s, s^2)."""

    wait: float
    rho: float
    work: float
    work_var: float
    fixed: bool = False
    parts: tuple[tuple[float, float, float, bool], ...] = ()


def _check(deadline: float | None, count: int) -> None:
    if deadline is not None and count % LATE_CHECK == 0 and time.perf_counter() > deadline:
        raise _Late


def _estimate_models(
    traffic: Traffic, scale: float, shape: _Shape, deadline: float | None = None
) -> tuple[ModelEstimate, ...]:
    """Per model, the estimate at ``scale``, from its slowest copy (:class:`_Late` when the
    ``deadline`` passes on the way)."""
    stages = _solve_cores(traffic, scale, shape.order, deadline)
    worst = [(0.0, 0.0)] * len(traffic.models)
    riders = shape.riders
    seen: dict[tuple[_Stage, ...], tuple[float, float]] = {}
    for i, f in enumerate(traffic.flows):
        _check(deadline, i)
        paths: list[tuple[_Stage, ...]]
        if f.tensor:
            paths = [(s,) for s in stages[i]]
        else:
            paths = [(*stages[i], *_convoys(traffic, i, scale, riders))]
        for path in paths:
            if path not in seen:
                seen[path] = _response(list(path))
            worst[f.model] = max(worst[f.model], seen[path])
    out = []
    for m, (p99, mean) in zip(traffic.models, worst, strict=True):
        out.append(
            ModelEstimate(
                m.name, (mean + m.overhead_s) * 1000, (p99 + m.overhead_s) * 1000, m.slo_ms
            )
        )
    return tuple(out)


def _hop_riders(traffic: Traffic) -> dict[tuple[int, int], list[int]]:
    """For each pipeline hop (core a to core b), the flows that take it."""
    riders: dict[tuple[int, int], list[int]] = {}
    for i, f in enumerate(traffic.flows):
        if not f.tensor:
            for hop in zip(f.cores, f.cores[1:], strict=False):
                riders.setdefault(hop, []).append(i)
    return riders


def _convoys(
    traffic: Traffic, flow: int, scale: float, riders: dict[tuple[int, int], list[int]]
) -> list[_Stage]:
    """The extra wait of a pipeline call stuck behind a slower copy that takes the same hops.

    A call that queued behind another copy's job at core ``c_j`` reaches ``c_{j+1}`` just as
    that job starts there, so it waits again for the difference of their service times, at each
    of the ``L`` hops they share in a row. With probability ``rho_g`` (the slower copy's load on
    the first shared core) the call pays ``L x (s_g - s_f)``: a fixed term of the wait."""
    flows = traffic.flows
    f = flows[flow]
    own = traffic.models[f.model].service_s
    hops = list(zip(f.cores, f.cores[1:], strict=False))
    runs: dict[int, list[int]] = {}
    for j, hop in enumerate(hops):
        for g in riders.get(hop, ()):
            if g != flow and traffic.models[flows[g].model].service_s > own:
                runs.setdefault(g, []).append(j)
    out: list[_Stage] = []
    for g, steps in runs.items():
        slower = traffic.models[flows[g].model].service_s - own
        rho = _rate(traffic, flows[g], scale) * traffic.models[flows[g].model].service_s
        length = 1
        for a, b in zip(steps, [*steps[1:], None], strict=True):
            if b == a + 1:
                length += 1
                continue
            out.append(_Stage(rho * length * slower, rho, 0.0, 0.0, fixed=True))
            length = 1
    return out


def _solve_cores(
    traffic: Traffic, scale: float, order: list[int], deadline: float | None = None
) -> list[list[_Stage]]:
    """Every copy's jobs, core by core in the simulation's order, so that a pipeline stage's
    arrival variability is known from the stage before it when the core is solved."""
    flows = traffic.flows
    on_core: list[list[tuple[int, int]]] = [[] for _ in range(traffic.cores)]
    for i, f in enumerate(flows):
        for depth, c in enumerate(f.cores):
            on_core[c].append((i, depth))
    arrival_scv = {
        (i, 0): traffic.models[f.model].arrival_cv ** 2 * f.share for i, f in enumerate(flows)
    }
    stages: list[dict[int, _Stage]] = [{} for _ in flows]
    for done, c in enumerate(order):
        _check(deadline, done)
        if on_core[c]:
            _solve_core(traffic, scale, on_core[c], arrival_scv, stages)
    return [[st[d] for d in sorted(st)] for st in stages]


def _solve_core(
    traffic: Traffic,
    scale: float,
    jobs: list[tuple[int, int]],
    arrival_scv: dict[tuple[int, int], float],
    stages: list[dict[int, _Stage]],
) -> None:
    """Kingman's mean wait on one core fed by ``jobs`` ((flow, depth) pairs); records each
    job's :class:`_Stage` and the arrival variability of the pipeline stage after it."""
    flows = traffic.flows
    rates = [_rate(traffic, flows[i], scale) for i, _ in jobs]
    total = sum(rates)
    works, squares, scvs = [], [], []
    for (i, depth), rate in zip(jobs, rates, strict=True):
        m = traffic.models[flows[i].model]
        miss = 1.0 - rate / total
        s, w = m.service_s, m.switch_s
        works.append(s + miss * w)
        squares.append(s * s * (1 + m.service_cv**2) + 2 * s * miss * w + miss * w * w)
        key = (i, 0 if flows[i].tensor else depth)
        scvs.append(arrival_scv.get(key, arrival_scv[(i, 0)]))
    rho = sum(r * x for r, x in zip(rates, works, strict=True))
    mean_work = rho / total
    second = sum(r * x2 for r, x2 in zip(rates, squares, strict=True)) / total
    work_scv = second / mean_work**2 - 1.0
    merged_scv = sum(r * a for r, a in zip(rates, scvs, strict=True)) / total
    wait = math.inf
    parts: tuple[tuple[float, float, float, bool], ...] = ()
    if rho < 1.0:
        wait = rho / (1.0 - rho) * (merged_scv + work_scv) / 2.0 * mean_work
        residual = [x2 / (2 * x) for x, x2 in zip(works, squares, strict=True)]
        busy = [r * x for r, x in zip(rates, works, strict=True)]
        queued = max(0.0, wait - sum(b * e for b, e in zip(busy, residual, strict=True))) / rho
        merged: dict[tuple[float, bool], float] = {}
        for b, e, x, x2 in zip(busy, residual, works, squares, strict=True):
            kind = (e, x2 / (x * x) - 1.0 < STEADY_SCV)
            merged[kind] = merged.get(kind, 0.0) + b
        decay = _decay_rate(total, merged_scv, rates, works, jobs, traffic)
        parts = tuple(
            (b, e, (queued + 1.0 / decay) / 2 if steady else queued, steady)
            for (e, steady), b in sorted(merged.items())
        )
    for (i, depth), x, x2, a in zip(jobs, works, squares, scvs, strict=True):
        stages[i][depth] = _Stage(wait, rho, x, x2 - x * x, parts=parts)
        if not flows[i].tensor and depth + 1 < len(flows[i].cores):
            own = traffic.models[flows[i].model].service_cv ** 2
            load2 = min(rho, 1.0) ** 2
            arrival_scv[(i, depth + 1)] = (1 - load2) * a + load2 * own


def _rate(traffic: Traffic, flow: Flow, scale: float) -> float:
    return traffic.models[flow.model].rate * scale * flow.share


def _response(stages: list[_Stage]) -> tuple[float, float]:
    """(p99, mean) response of a call through ``stages`` (s), without the fixed overhead."""
    wait = sum(s.wait for s in stages)
    work = sum(s.work for s in stages)
    if math.isinf(wait):
        return math.inf, math.inf
    spread = Z99 * math.sqrt(sum(s.work_var for s in stages))
    tail = _wait_quantile(stages, wait) - wait
    return wait + work + math.hypot(max(tail, 0.0), spread), wait + work


def _wait_quantile(stages: list[_Stage], total: float) -> float:
    """t with ``sum_j P(wait_j > t - (total - W_j)) = 0.01``: the 99th percentile of the summed
    waits, each stage's tail shifted by the mean wait of the others (:func:`_beyond`)."""
    busy = [s for s in stages if s.wait > 0 and s.rho > 0]

    def tail(t: float) -> float:
        return sum(_beyond(s, t - (total - s.wait)) for s in busy)

    if tail(0.0) <= TAIL:
        return 0.0
    lo, hi = 0.0, max(total, 1e-9)
    while tail(hi) > TAIL:
        lo, hi = hi, hi * 2.0
    for _ in range(32):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if tail(mid) > TAIL else (lo, mid)
    return hi


def _decay_rate(
    total: float,
    arrival_scv: float,
    rates: list[float],
    works: list[float],
    jobs: list[tuple[int, int]],
    traffic: Traffic,
) -> float:
    """The rate theta at which the wait's tail decays, from ``M_X(theta) M_A(-theta) = 1``
    (Cramer-Lundberg): ``M_X`` the moment generating function of a job's work (a mixture over
    the copies of gamma service plus the expected switch), ``M_A`` that of a gamma gap of mean
    ``1 / total`` and variability ``arrival_scv``. ``1 - rho`` times the service rate for M/M/1.
    """
    shares = [r / total for r in rates]
    flows = traffic.flows

    def log_balance(theta: float) -> float:
        logs = []
        for (i, _), share, x in zip(jobs, shares, works, strict=True):
            m = traffic.models[flows[i].model]
            cv2 = m.service_cv**2
            service = m.service_s
            if cv2 > 0 and theta * service * cv2 >= 1:
                return math.inf
            log_gamma = theta * service if cv2 == 0 else -math.log1p(-theta * service * cv2) / cv2
            if share > 0:
                logs.append(math.log(share) + log_gamma + theta * (x - service))
        top = max(logs)
        log_mgf = top + math.log(sum(math.exp(v - top) for v in logs))
        if arrival_scv == 0:
            gap = -theta / total
        else:
            gap = -math.log1p(theta * arrival_scv / total) / arrival_scv
        return log_mgf + gap

    lo, hi = 0.0, 1.0 / max(works)
    while log_balance(hi) < 0:
        lo, hi = hi, 2 * hi
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if log_balance(mid) < 0 else (lo, mid)
    return max(lo, 1e-12)


def _residual_tail(t: float, residual: float, queued: float, steady: bool) -> float:
    """P(R + Q > t) for the residual work R of the job in service and the work Q queued ahead
    (exponential of mean ``queued``). R is uniform on (0, 2 residual) when the job's work is
    nearly constant (``steady``), else exponential: then R + Q is taken as one exponential of
    mean ``residual + queued``, exact for M/M/1."""
    if t <= 0:
        return 1.0
    if not steady:
        return math.exp(-t / (residual + queued))
    span = 2.0 * residual
    if queued <= 0:
        return max(0.0, 1.0 - t / span)
    if t >= span:
        return queued / span * (math.exp(-(t - span) / queued) - math.exp(-t / queued))
    return (span - t) / span + queued / span * (1.0 - math.exp(-t / queued))


def _beyond(stage: _Stage, t: float) -> float:
    """P(this part of the wait > t): ``rho`` times an exponential tail of mean ``W / rho``, or
    ``rho`` below the fixed size of a convoy."""
    size = stage.wait / stage.rho
    if stage.fixed:
        return stage.rho if t < size else 0.0
    if stage.parts:
        return sum(p * _residual_tail(t, e, q, steady) for p, e, q, steady in stage.parts)
    return stage.rho * math.exp(-max(0.0, t) / size)
