"""The public evaluators: :func:`simulate` and :func:`max_scale`, and their results."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, PlacementError
from ..layout import Layout
from ..mix import Mix
from ..score import broken_rules, score
from .simulation import core_order, default_duration, draw_calls, run_cores, run_events
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
        """The largest ``p99 / slo`` over the models (0 when none has traffic)."""
        return max((m.ratio for m in self.models), default=0.0)

    @property
    def meets_targets(self) -> bool:
        """True when every model's p99 is within its target."""
        return all(m.p99_ms <= m.slo_ms for m in self.models)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            "scale": self.scale,
            "duration_s": self.duration_s,
            "switch_ms": self.switch_ms,
            "seed": self.seed,
            "models": [vars(m) | {"ratio": m.ratio} for m in self.models],
            "cores": [vars(c) for c in self.cores],
        }


def _check_seed(seed: object, what: str) -> int:
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
    scale then simulates the same calls, compressed in time. The same layout, mix and seed give
    the same result; layouts of one mix draw the same calls (common random numbers).
    """
    switch = resolve_switch_ms(switch_ms, "simulate")
    scale = check_scale(scale, "simulate")
    seed = _check_seed(seed, "simulate")
    traffic = traffic_of(layout, mix, switch, "simulate")
    if duration_s is not None and (
        isinstance(duration_s, bool)
        or not isinstance(duration_s, (int, float))
        or not 0 < duration_s < math.inf
    ):
        raise ConfigError(f"simulate: duration_s must be a number > 0, got {duration_s!r}")
    return _simulate(traffic, switch, scale, duration_s, seed)


def _simulate(
    traffic: Traffic, switch: float, scale: float, duration_s: float | None, seed: int
) -> Simulation:
    n = traffic.cores
    if not traffic.models:
        idle = tuple(CoreActivity(c, 0.0, 0.0) for c in range(n))
        return Simulation((), idle, scale, duration_s or 0.0, switch, seed)
    duration = duration_s if duration_s is not None else default_duration(traffic) / scale
    calls = draw_calls(traffic, scale, duration, seed)
    order = core_order(traffic)
    outcome = run_cores(traffic, calls, order) if order else run_events(traffic, calls)
    response = outcome.done - calls.arrival
    models = []
    start = 0
    for m, count in zip(traffic.models, calls.counts, strict=True):
        times = (response[start : start + count] + m.overhead_s) * 1000.0
        start += count
        models.append(_model_latency(m.name, m.slo_ms, times))
    span = np.maximum(outcome.last_finish, duration)
    cores = tuple(
        CoreActivity(c, float(outcome.busy[c] / span[c]), float(outcome.switches[c] / duration))
        for c in range(n)
    )
    return Simulation(tuple(models), cores, scale, duration, switch, seed)


def _model_latency(name: str, slo_ms: float, times: np.ndarray) -> ModelLatency:
    if len(times) == 0:
        nan = math.nan
        return ModelLatency(name, 0, nan, nan, nan, slo_ms, nan)
    p50, p99 = np.percentile(times, [50, 99])
    return ModelLatency(
        name=name,
        requests=len(times),
        mean_ms=float(times.mean()),
        p50_ms=float(p50),
        p99_ms=float(p99),
        slo_ms=slo_ms,
        slo_attainment=float(np.mean(times <= slo_ms)),
    )


def max_scale(layout: Layout, mix: Mix, *, switch_ms: float | None = None, seed: int = 0) -> float:
    """alpha*: the largest factor by which every rate can grow while each model's simulated p99
    stays within its target, to 1% (the value returned meets the targets; 1.01 times it does
    not, or is past the headroom).

    Found by bisection over scales that share their calls (:func:`simulate`'s default run).
    Capped at the busy-time headroom ``1 / peak_load``: beyond it the busiest core is
    overloaded, its queue grows without bound, and a finite run's p99 says nothing. 0 when the
    targets are missed at any traffic; inf when no model has traffic. An infeasible layout
    (one breaking a hard rule of :func:`~ncplace.score`) raises :class:`PlacementError`.
    """
    switch = resolve_switch_ms(switch_ms, "max_scale")
    seed = _check_seed(seed, "max_scale")
    traffic = traffic_of(layout, mix, switch, "max_scale")
    s = score(layout, mix)
    if not s.feasible:
        raise PlacementError(
            f"max_scale: the layout breaks hard rules ({', '.join(broken_rules(s))}); "
            "only a feasible layout has a max scale"
        )
    if not traffic.models:
        return math.inf
    from .estimate import estimate_traffic

    def meets(scale: float) -> bool:
        return _simulate(traffic, switch, scale, None, seed).meets_targets

    return bisect_scale(meets, s.headroom, estimate_traffic(traffic, 1.0).max_scale)


def bisect_scale(meets: Any, ceiling: float, guess: float) -> float:
    """The largest scale in ``(0, ceiling]`` where ``meets`` holds, to ``SCALE_PRECISION``
    (geometric bisection started at ``guess``); 0 when it fails down to ``ceiling / 1000``."""
    if meets(ceiling):
        return ceiling
    hi = ceiling
    lo = min(max(guess, ceiling / 1000.0), ceiling / SCALE_PRECISION)
    while not meets(lo):
        hi = lo
        lo /= 2.0
        if lo < ceiling / 1000.0:
            return 0.0
    if hi == ceiling and lo * 1.25 < hi:
        probe = lo * 1.25
        if meets(probe):
            lo = probe
        else:
            hi = probe
    while hi / lo > SCALE_PRECISION:
        mid = math.sqrt(lo * hi)
        if meets(mid):
            lo = mid
        else:
            hi = mid
    return lo
