"""The public evaluators: :func:`simulate` and :func:`max_scale`, and their results."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import ConfigError, PlacementError
from ..layout import Layout
from ..mix import Mix
from ..score import broken_rules, score
from .simulation import (
    Calls,
    Draws,
    calls_from,
    core_order,
    default_duration,
    draw_all,
    draw_calls,
    run_cores,
    run_events,
)
from .traffic import Traffic, check_scale, resolve_switch_ms, traffic_of

SCALE_PRECISION = 1.01


@dataclass(frozen=True)
class ModelLatency:
    """One model's simulated calls: how many, their mean, median and 99th percentile response
    time (ms), its p99 target and the fraction of calls within it."""

    name: str
    requests: int
    mean_ms: float
    p50_ms: float
    p99_ms: float
    slo_ms: float
    slo_attainment: float

    @property
    def ratio(self) -> float:
        """``p99_ms / slo_ms``: at most 1 when the model meets its target."""
        return self.p99_ms / self.slo_ms


@dataclass(frozen=True)
class CoreActivity:
    """One core: the fraction of the run it was busy (service plus switching) and how many
    times per second it switched to another copy."""

    core: int
    busy: float
    switches_per_s: float


@dataclass(frozen=True)
class Simulation:
    """What :func:`simulate` measured: one :class:`ModelLatency` per model with traffic (in mix
    order) and one :class:`CoreActivity` per core, with the run's settings."""

    models: tuple[ModelLatency, ...]
    cores: tuple[CoreActivity, ...]
    scale: float
    duration_s: float
    switch_ms: float
    seed: int

    def __getitem__(self, name: str) -> ModelLatency:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def worst_ratio(self) -> float:
        """The largest ``p99 / slo`` over the models that made calls (0 when none did)."""
        return max((m.ratio for m in self.models if m.requests), default=0.0)

    @property
    def meets_targets(self) -> bool:
        """True when every model's p99 is within its target (a model that made no call in the
        run is not judged)."""
        return all(m.requests == 0 or m.p99_ms <= m.slo_ms for m in self.models)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            "scale": self.scale,
            "duration_s": self.duration_s,
            "switch_ms": self.switch_ms,
            "seed": self.seed,
            "models": [_finite(vars(m) | {"ratio": m.ratio}) for m in self.models],
            "cores": [vars(c) for c in self.cores],
        }


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with NaN (a model that made no call) as None, for JSON."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


def check_seed(seed: object, what: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"{what}: seed must be an integer >= 0, got {seed!r}")
    return seed


def simulate(
    layout: Layout,
    mix: Mix,
    *,
    switch_ms: float | None = None,
    scale: float = 1.0,
    duration_s: float | None = None,
    seed: int = 0,
) -> Simulation:
    """Simulate ``duration_s`` seconds of the mix's traffic times ``scale`` on ``layout``.

    ``switch_ms`` applies to the models that leave theirs unset (default
    :data:`~ncplace.latency.DEFAULT_SWITCH_MS`). ``duration_s`` defaults to the run that gives
    the least-called model 2,000 calls, cut to 100,000 calls in all, divided by ``scale``: every
    scale then simulates the same calls, compressed in time. A model with under 1/50 of the total
    rate then makes fewer than 2,000 calls (its p99 rests on fewer samples); one that makes no
    call reports NaN and is not judged. The same layout, mix and seed give
    the same result; layouts of one mix draw the same calls (common random numbers).
    """
    switch = resolve_switch_ms(switch_ms, "simulate")
    scale = check_scale(scale, "simulate")
    seed = check_seed(seed, "simulate")
    traffic = traffic_of(layout, mix, switch, "simulate")
    if duration_s is not None and (
        isinstance(duration_s, bool)
        or not isinstance(duration_s, (int, float))
        or not 0 < duration_s < math.inf
    ):
        raise ConfigError(f"simulate: duration_s must be a number > 0, got {duration_s!r}")
    return simulate_traffic(traffic, switch, scale, duration_s, seed)


def simulate_traffic(
    traffic: Traffic,
    switch: float,
    scale: float,
    duration_s: float | None,
    seed: int,
    draws: Draws | None = None,
) -> Simulation:
    """:func:`simulate` on built traffic; ``draws`` (:func:`.simulation.draw_all`, covering
    the run) saves drawing the calls again when many scales of one layout are simulated."""
    n = traffic.cores
    if not traffic.models:
        idle = tuple(CoreActivity(c, 0.0, 0.0) for c in range(n))
        return Simulation((), idle, scale, duration_s or 0.0, switch, seed)
    duration = duration_s if duration_s is not None else default_duration(traffic) / scale
    if draws is None:
        calls = draw_calls(traffic, scale, duration, seed)
    else:
        calls = calls_from(draws, traffic, scale, duration)
    order = core_order(traffic)
    outcome = run_cores(traffic, calls, order) if order else run_events(traffic, calls)
    models = _model_latencies(traffic, calls, outcome.done - calls.arrival)
    span = np.maximum(outcome.last_finish, duration)
    cores = tuple(
        CoreActivity(c, float(outcome.busy[c] / span[c]), float(outcome.switches[c] / duration))
        for c in range(n)
    )
    return Simulation(models, cores, scale, duration, switch, seed)


def _model_latencies(
    traffic: Traffic, calls: Calls, response: np.ndarray
) -> tuple[ModelLatency, ...]:
    """Each model's :class:`ModelLatency` from its calls' response times (s), all models at once.

    The calls come model by model (:class:`.simulation.Calls`); each model's times are sorted
    and its percentiles read by linear interpolation between order statistics: the ``q``
    quantile of ``n`` sorted times ``t`` is ``t[i] + (t[i + 1] - t[i]) (h - i)`` with
    ``h = q (n - 1)`` and ``i = floor(h)`` (numpy's default ``linear`` method)."""
    counts = np.array(calls.counts, dtype=np.int64)
    overhead = np.array([m.overhead_s for m in traffic.models])
    slo = np.array([m.slo_ms for m in traffic.models])
    times = (response + overhead[calls.model]) * 1000.0
    times = times[np.lexsort((times, calls.model))]  # calls.model is already in order
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    sums = np.bincount(calls.model, weights=times, minlength=len(counts))
    within = np.bincount(calls.model, weights=times <= slo[calls.model], minlength=len(counts))
    quantiles = [_quantile(times, first, counts, q) for q in (0.5, 0.99)]
    out = []
    for k, m in enumerate(traffic.models):
        if counts[k] == 0:
            nan = math.nan
            out.append(ModelLatency(m.name, 0, nan, nan, nan, m.slo_ms, nan))
            continue
        out.append(
            ModelLatency(
                name=m.name,
                requests=int(counts[k]),
                mean_ms=float(sums[k] / counts[k]),
                p50_ms=float(quantiles[0][k]),
                p99_ms=float(quantiles[1][k]),
                slo_ms=m.slo_ms,
                slo_attainment=float(within[k] / counts[k]),
            )
        )
    return tuple(out)


def _quantile(ordered: np.ndarray, first: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile of each group ``ordered[first : first + count]`` (sorted; NaN for an
    empty group), by the interpolation of :func:`_model_latencies`."""
    h = q * (np.maximum(counts, 1) - 1)
    low = np.floor(h).astype(np.int64)
    high = np.minimum(low + 1, np.maximum(counts, 1) - 1)
    last = max(len(ordered) - 1, 0)
    a = ordered[np.minimum(first + low, last)] if len(ordered) else np.zeros(len(counts))
    b = ordered[np.minimum(first + high, last)] if len(ordered) else np.zeros(len(counts))
    return np.where(counts > 0, a + (b - a) * (h - low), math.nan)


def max_scale(layout: Layout, mix: Mix, *, switch_ms: float | None = None, seed: int = 0) -> float:
    """alpha*: the largest factor by which every rate can grow while each model's simulated p99
    stays within its target, to 1%: the value returned meets every target, and a scale at most
    1% above it was simulated and misses one (unless the value is the headroom).

    Found by bisection over scales that share their calls (:func:`simulate`'s default run).
    Capped at the busy-time headroom ``1 / peak_load``: beyond it the busiest core is
    overloaded, its queue grows without bound, and a finite run's p99 says nothing. 0 when the
    targets are missed at any traffic; inf when no model has traffic. An infeasible layout
    (one breaking a hard rule of :func:`~ncplace.score`) raises :class:`PlacementError`.
    """
    switch = resolve_switch_ms(switch_ms, "max_scale")
    seed = check_seed(seed, "max_scale")
    traffic = traffic_of(layout, mix, switch, "max_scale")
    headroom = feasible_headroom(layout, mix, "max_scale")
    if not traffic.models:
        return math.inf
    return scale_bracket(traffic, switch, seed, headroom).low


FIRST_RUN_S_PER_MODEL = 2e-4
"""About what a layout's first simulation costs per model (drawing each model's calls from its
own stream, then the run): measured 1.3-1.5 s for 10,000 models on the 2-core development
machine. A caller with a deadline does not start one when less than that is left: it cannot be
cut."""


def first_run_fits(mix: Mix, deadline: float | None) -> bool:
    """True when a first simulation of ``mix`` may start before ``deadline`` (None: always)."""
    return deadline is None or time.perf_counter() + FIRST_RUN_S_PER_MODEL * len(mix) <= deadline


def judge(
    layout: Layout,
    mix: Mix,
    switch_ms: float | None,
    seed: int,
    deadline: float | None = None,
) -> tuple[Simulation, Bracket | None]:
    """Today's simulation of a layout and, when it is feasible, the bracket of its alpha*
    (:func:`scale_bracket`, cut by ``deadline``), both cut from one set of draws."""
    switch = resolve_switch_ms(switch_ms, "judge")
    traffic = traffic_of(layout, mix, switch, "judge")
    seed = check_seed(seed, "judge")
    if not traffic.models:
        today = simulate_traffic(traffic, switch, 1.0, None, seed)
        return today, Bracket(math.inf, math.inf, True)
    s = score(layout, mix)
    if not s.feasible:
        return simulate_traffic(traffic, switch, 1.0, None, seed), None
    today, found, _ = today_and_bracket(traffic, switch, seed, s.headroom, deadline)
    return today, found


def today_and_bracket(
    traffic: Traffic, switch: float, seed: int, ceiling: float, deadline: float | None
) -> tuple[Simulation, Bracket, Draws]:
    """Today's simulation, alpha*'s bracket under ``ceiling`` (:func:`scale_bracket`, cut by
    ``deadline``) and the draws both were cut from (for more scales of the same traffic). When
    the deadline cut the bracket, today's run is a simulation at scale 1 too: if it met every
    target (and no scale below 1 was seen to miss), alpha* is at least 1."""
    draws = draw_all(traffic, default_duration(traffic), seed)
    today = simulate_traffic(traffic, switch, 1.0, None, seed, draws)
    found = scale_bracket(traffic, switch, seed, ceiling, draws, deadline)
    if not found.complete and today.meets_targets and found.high >= 1.0:
        found = replace(found, low=max(found.low, 1.0))
    return today, found, draws


@dataclass(frozen=True)
class Bracket:
    """Where alpha* lies: ``low`` meets every target (simulated; 0 when no scale tried did),
    ``high`` misses one, or is the busy-time ceiling. ``complete``: the bisection ran to
    :data:`SCALE_PRECISION`; when a deadline stopped it, alpha* is somewhere in
    ``[low, high)``."""

    low: float
    high: float
    complete: bool


def scale_bracket(
    traffic: Traffic,
    switch: float,
    seed: int,
    ceiling: float,
    draws: Draws | None = None,
    deadline: float | None = None,
) -> Bracket:
    """:func:`max_scale` on built traffic, every scale cut from one set of draws; with a
    ``deadline`` (``time.perf_counter()`` seconds) no simulation starts that the last one's
    duration says would end after it."""
    draws = draws or draw_all(traffic, default_duration(traffic), seed)
    took = 0.0

    def meets(scale: float) -> bool:
        nonlocal took
        started = time.perf_counter()
        if deadline is not None and started + took > deadline:
            raise _OutOfTime
        result = simulate_traffic(traffic, switch, scale, None, seed, draws).meets_targets
        took = time.perf_counter() - started
        return result

    return bisect_bracket(meets, ceiling)


class _OutOfTime(Exception):
    """A deadline left no time for the next simulation."""


def feasible_headroom(layout: Layout, mix: Mix, what: str) -> float:
    """The layout's busy-time headroom (alpha*'s ceiling); an infeasible layout raises
    :class:`PlacementError`, since only a feasible one has a max scale."""
    s = score(layout, mix)
    if not s.feasible:
        raise PlacementError(
            f"{what}: the layout breaks hard rules ({', '.join(broken_rules(s))}); "
            "only a feasible layout has a max scale"
        )
    return s.headroom


def bisect_scale(meets: Any, ceiling: float) -> float:
    """The largest scale in ``(0, ceiling]`` where ``meets`` holds, to ``SCALE_PRECISION``
    (:func:`bisect_bracket`)."""
    return bisect_bracket(meets, ceiling).low


def bisect_bracket(meets: Any, ceiling: float) -> Bracket:
    """Bisect for the largest scale in ``(0, ceiling]`` where ``meets`` holds, to
    ``SCALE_PRECISION``: ``ceiling`` when it holds there, else halve from ``ceiling / 2`` until
    it holds (0 when it still fails below ``ceiling / 1000``), then bisect geometrically. The
    scales tried depend only on the answers, so the result does not move with anything but the
    simulation. When ``meets`` raises :class:`_OutOfTime` the bracket so far is returned,
    marked incomplete."""
    shown, hi = 0.0, ceiling  # the largest scale seen to meet, the smallest seen to miss
    try:
        if meets(ceiling):
            return Bracket(ceiling, ceiling, True)
        lo = ceiling / 2.0
        while not meets(lo):
            hi = lo
            lo /= 2.0
            if lo < ceiling / 1000.0:
                return Bracket(0.0, hi, True)
        shown = lo
        while hi / lo > SCALE_PRECISION:
            mid = math.sqrt(lo * hi)
            if meets(mid):
                lo = shown = mid
            else:
                hi = mid
    except _OutOfTime:
        return Bracket(shown, hi, False)
    return Bracket(lo, hi, True)
