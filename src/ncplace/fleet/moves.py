"""From the fleet that runs now to a planned one: which instances to keep, start and stop, and
which copies to load and unload.

The current fleet is read from one neuron-monitor report per instance (:func:`ncplace.read_monitor`:
its instance type from the report, model names from ``names`` or the uuids). A planned instance
can take the place of a current instance of the same type; keeping ``min(current, planned)``
copies of each model where they run, the pairing that keeps the most copies in place is a
maximum-weight bipartite matching (networkx), with weight the copies kept plus one (re-using an
instance beats stopping one and starting another of its type). Every other planned
copy is a *move* (a load on a kept or a new instance); copies on stopped instances, and copies
beyond the plan on kept ones, are unloaded.

The count is the fewest moves that reach *this* plan's fleet by re-using instances as a whole; a
plan built around the current placement might need fewer.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, key_text
from ..hardware import INSTANCES
from ..monitor import read_monitor
from .plan import FleetPlan


@dataclass(frozen=True)
class CurrentInstance:
    """One running instance: its report, its type and the copies of each model on it."""

    source: str
    type_name: str
    copies: Mapping[str, int]


@dataclass(frozen=True)
class InstanceChange:
    """What happens to one instance: ``action`` is ``"keep"`` (a current instance re-used for a
    planned one), ``"start"`` (a new instance) or ``"stop"``; ``load``, ``unload`` and ``stay``
    count copies by model."""

    action: str
    type_name: str
    current: str | None
    planned: int | None
    load: Mapping[str, int]
    unload: Mapping[str, int]
    stay: Mapping[str, int]


@dataclass(frozen=True)
class Moves:
    """The changes that turn the current fleet into the plan's, and what they cost in copies."""

    changes: tuple[InstanceChange, ...]
    current_cost_per_hour: float | None
    planned_cost_per_hour: float

    @property
    def moves(self) -> int:
        """Copies to load: planned copies not already running on the instance that holds them."""
        return sum(sum(c.load.values()) for c in self.changes)

    @property
    def kept(self) -> int:
        """Planned copies that stay where they run."""
        return sum(sum(c.stay.values()) for c in self.changes)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def summary(self) -> str:
        now = (
            "unknown (a type without a price)"
            if self.current_cost_per_hour is None
            else f"${self.current_cost_per_hour:.3f}/h"
        )
        unload = sum(sum(c.unload.values()) for c in self.changes)
        return (
            f"from the current fleet ({now}) to the plan (${self.planned_cost_per_hour:.3f}/h): "
            f"keep {self.count('keep')}, start {self.count('start')}, stop {self.count('stop')} "
            f"instance(s); copies: {self.kept} stay, {self.moves} to load, {unload} to unload"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "current_cost_per_hour": self.current_cost_per_hour,
            "planned_cost_per_hour": self.planned_cost_per_hour,
            "moves": self.moves,
            "kept": self.kept,
            "changes": [
                {
                    "action": c.action,
                    "type": c.type_name,
                    "current": c.current,
                    "planned_instance": c.planned,
                    "load": dict(c.load),
                    "unload": dict(c.unload),
                    "stay": dict(c.stay),
                }
                for c in self.changes
            ],
        }


def read_current(
    reports: Sequence[str | os.PathLike[str]], names: Mapping[str, str] | None = None
) -> tuple[CurrentInstance, ...]:
    """One :class:`CurrentInstance` per neuron-monitor report (the report must name its
    instance type, or its hardware must match a catalogue type). ``names`` maps a uuid (or a
    unique start of one) or a reported name to a catalogue model, over all the reports; a model
    it does not name is called by its uuid's first characters, as :func:`ncplace.read_monitor`
    does."""
    names = dict(names or {})
    used: set[str] = set()
    current = []
    for path in reports:
        seen = read_monitor(path)
        inst = seen.layout.instance
        name = inst.name
        if INSTANCES.get(name) != inst:
            raise ConfigError(
                f"{path}: the report names no instance type; a fleet needs each instance's type "
                "(instance_info.instance_type in the report)"
            )
        copies: Counter[str] = Counter()
        for model in seen.models:
            keys = [k for k in names if model.uuid.startswith(k) or k == model.reported_name]
            used.update(keys)
            copies[names[keys[0]] if keys else model.model] += len(model.copies)
        current.append(CurrentInstance(str(path), name, dict(copies)))
    unused = sorted(set(names) - used)
    if unused:
        raise ConfigError(
            f"--name {key_text(unused[0])}: matches no model of the reports; give a uuid, a "
            "unique start of one, or a reported model name"
        )
    return tuple(current)


def plan_moves(
    plan: FleetPlan, current: Sequence[CurrentInstance], prices: Mapping[str, float] | None = None
) -> Moves:
    """The changes from ``current`` to ``plan``'s fleet (see the module docstring)."""
    import networkx as nx

    graph = nx.Graph()
    for k, p in enumerate(plan.instances):
        for j, now in enumerate(current):
            if now.type_name == p.type_name:
                kept = sum(min(now.copies.get(m, 0), n) for m, n in p.copies.items())
                graph.add_edge(("plan", k), ("now", j), weight=kept + 1)
    matching = nx.max_weight_matching(graph, maxcardinality=False)
    pairs = {}
    for a, b in matching:
        plan_end, now_end = (a, b) if a[0] == "plan" else (b, a)
        pairs[plan_end[1]] = now_end[1]
    changes: list[InstanceChange] = []
    for k, p in enumerate(plan.instances):
        if k in pairs:
            now = current[pairs[k]]
            load = {m: n - now.copies.get(m, 0) for m, n in p.copies.items()}
            unload = {m: n - p.copies.get(m, 0) for m, n in now.copies.items()}
            stay = {m: min(n, now.copies.get(m, 0)) for m, n in p.copies.items()}
            changes.append(
                InstanceChange(
                    "keep",
                    p.type_name,
                    now.source,
                    k,
                    _positive(load),
                    _positive(unload),
                    _positive(stay),
                )
            )
        else:
            changes.append(InstanceChange("start", p.type_name, None, k, dict(p.copies), {}, {}))
    matched = set(pairs.values())
    for j, now in enumerate(current):
        if j not in matched:
            changes.append(
                InstanceChange("stop", now.type_name, now.source, None, {}, dict(now.copies), {})
            )
    price_of = prices if prices is not None else plan.prices.prices
    known = all(now.type_name in price_of for now in current)
    current_cost = sum(price_of[now.type_name] for now in current) if known else None
    return Moves(tuple(changes), current_cost, plan.cost_per_hour)


def _positive(counts: Mapping[str, int]) -> dict[str, int]:
    return {m: n for m, n in counts.items() if n > 0}
