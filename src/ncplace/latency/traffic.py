"""The traffic a layout serves: which copy each call of each model goes to, and at what cost.

Shared by the simulation and the analytic estimate so that both judge the same deployment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError, check_type
from ..layout import Layout
from ..mix import Mix
from ..score import check_models

DEFAULT_SWITCH_MS = 0.25
"""Core time (ms) a switch to another model or copy costs when neither the model nor the caller
gives one. No public figure exists: it is a guess of the right order (a NEFF's instructions and
state are already in device memory), and every report shows 0, 0.25, 0.5 and 1 ms beside it."""

SWITCH_SWEEP_MS = (0.0, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Flow:
    """One copy of one model: the calls routed to it and the cores they run on.

    ``share`` is the fraction of the model's calls it gets: ``1 / (handles x copies of its
    handle)``. ``tensor`` copies run a call on all their cores at once (one rank per core);
    pipeline copies run it on each core in turn.
    """

    model: int
    cores: tuple[int, ...]
    share: float
    tensor: bool


@dataclass(frozen=True)
class Served:
    """A model with traffic, in the units the evaluators use (seconds).

    ``routes[h]`` lists the flow ids of handle ``h``'s copies: call ``i`` goes to handle
    ``i mod H`` and, within it, to copy ``(i div H) mod n_h`` (round-robin at both levels).
    """

    name: str
    rate: float
    service_s: float
    width: int
    tensor: bool
    arrival_cv: float
    service_cv: float
    switch_s: float
    overhead_s: float
    slo_ms: float
    routes: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Traffic:
    """Every model with traffic and every copy they are routed to, on ``cores`` cores."""

    models: tuple[Served, ...]
    flows: tuple[Flow, ...]
    cores: int

    @property
    def total_rate(self) -> float:
        return sum(m.rate for m in self.models)


def resolve_switch_ms(switch_ms: float | None, what: str) -> float:
    """The caller's ``switch_ms`` checked (a number >= 0), :data:`DEFAULT_SWITCH_MS` for None."""
    if switch_ms is None:
        return DEFAULT_SWITCH_MS
    if (
        isinstance(switch_ms, bool)
        or not isinstance(switch_ms, (int, float))
        or not 0 <= switch_ms < math.inf
    ):
        raise ConfigError(f"{what}: switch_ms must be a number >= 0, got {switch_ms!r}")
    return float(switch_ms)


def check_scale(scale: float, what: str) -> float:
    """``scale`` checked: a number > 0 and finite."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < math.inf:
        raise ConfigError(f"{what}: scale must be a number > 0, got {scale!r}")
    return float(scale)


def traffic_of(layout: Layout, mix: Mix, switch_ms: float, what: str) -> Traffic:
    """The routed traffic of ``mix`` on ``layout``; models without rate carry none."""
    check_type(layout, Layout, f"{what}: layout")
    check_type(mix, Mix, f"{what}: mix")
    check_models(layout, mix)
    models: list[Served] = []
    flows: list[Flow] = []
    for m in mix.models:
        if m.rate is None or m.throughput is None:
            continue
        tensor = m.parallel == "tensor"
        handles = layout.placements_of(m.name)
        routes = []
        for p in handles:
            ids = []
            for copy in p.replicas:
                ids.append(len(flows))
                share = 1.0 / (len(handles) * len(p.replicas))
                flows.append(Flow(len(models), copy, share, tensor))
            routes.append(tuple(ids))
        busy_ms = m.busy_ms or 0.0
        unloaded = m.unloaded_ms or 0.0
        switch = m.switch_ms if m.switch_ms is not None else switch_ms
        models.append(
            Served(
                name=m.name,
                rate=float(m.rate),
                service_s=1.0 / m.throughput,
                width=max(len(c) for p in handles for c in p.replicas),
                tensor=tensor,
                arrival_cv=float(m.arrival_cv),
                service_cv=float(m.service_cv),
                switch_s=switch / 1000.0,
                overhead_s=max(0.0, unloaded - busy_ms) / 1000.0,
                slo_ms=float(m.target_ms or 0.0),
                routes=tuple(routes),
            )
        )
    return Traffic(tuple(models), tuple(flows), layout.instance.cores)
