"""The result of :func:`ncplace.plan_fleet`: instances, their plans, the cost and its bound."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..errors import PlacementError
from ..layout import Layout, layout_to_dict
from ..mix import Mix
from ..score import Score
from .catalogue import Catalogue, PriceList

HOURS_PER_MILLION = 1_000_000 / 3600
"""``$ per million requests = ($/h) / (requests/s x 3600) x 10^6``."""


@dataclass(frozen=True)
class InstancePlan:
    """One instance of the fleet: its type, price, mix (its share of each model), the layout
    chosen, its score, and where the layout came from (``source``: ``"optimize (...)"`` or
    ``"assignment"``, the fill's own layout when the optimizer's was not better); ``alpha``, its
    alpha* (:func:`ncplace.max_scale`) when the catalogue has latency fields."""

    index: int
    type_name: str
    price: float
    mix: Mix
    layout: Layout
    score: Score
    source: str
    optimizer_summary: str
    runtime_s: float
    alpha: float | None = None

    @property
    def copies(self) -> dict[str, int]:
        """Model name -> copies on this instance."""
        return {m.name: m.min_replicas for m in self.mix.models}

    def code(self) -> str:
        """The placement script of this instance; for an instance of several processes
        (tensor-parallel servers beside the other models) the launcher that writes and starts
        one script per process (:func:`ncplace.deploy.launch_script`); or a one-line reason
        when codegen cannot write one."""
        from ..codegen import generate_code, generate_scripts
        from ..deploy import launch_script

        try:
            if len(self.layout.processes) > 1:
                scripts = generate_scripts(self.layout, self.mix)
                return launch_script(self.layout, self.mix, scripts=scripts)
            return generate_code(self.layout, self.mix)
        except PlacementError as exc:
            return f"# no placement code: {exc}\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type_name,
            "price_per_hour": self.price,
            "copies": self.copies,
            "mix": self.mix.to_dict(),
            "layout": layout_to_dict(self.layout),
            "score": self.score.to_dict(),
            "source": self.source,
            "alpha": _finite(self.alpha),
            "optimizer": self.optimizer_summary,
            "code": self.code(),
        }


@dataclass(frozen=True)
class FleetPlan:
    """A fleet for a catalogue.

    - ``instances``: every instance with its plan; ``counts``: instances per type.
    - ``cost_per_hour``: total $/h at ``prices``; ``bound_per_hour``: a proven lower bound on the
      $/h of every fleet that places ``copies`` at the target (:mod:`.bound`, and the exact
      assignment model's when it ran); ``gap = (cost - bound) / cost``.
    - ``status``: ``"optimal"`` when the cost equals the bound, else ``"feasible"``.
    - ``target_kind``: ``"peak load"`` (every core at load ``<= 1/X``) or, when the catalogue has
      latency fields, ``"alpha*"`` (every instance's alpha* ``>= X``: each model's p99 within its
      target at ``X`` times its traffic, which implies the peak-load target); ``target``: it in
      words; ``target_met``: every instance meets it.
    - ``baselines``: $/h of ``one instance per model`` and ``first fit decreasing``.
    - ``cost_per_million``: $ per million requests at the catalogue's rates (None when a model has
      no rate).
    - ``method``: how the assignment was found; ``executor``: where instances were solved;
      ``stage_s``: wall seconds of each stage (``assignment``, ``bound``, ``instances``).
    """

    catalogue: Catalogue
    prices: PriceList
    target_scale: float
    copies: dict[str, int]
    instances: tuple[InstancePlan, ...]
    cost_per_hour: float
    bound_per_hour: float
    status: str
    baselines: dict[str, float]
    method: str
    executor: str
    runtime_s: float
    stage_s: dict[str, float] | None = None
    target_kind: str = "peak load"

    @property
    def target(self) -> str:
        if self.target_kind == "alpha*":
            return (
                f"alpha* >= {self.target_scale:g} on every instance (every model's p99 within its "
                f"target at {self.target_scale:g}x its traffic; alpha*-target)"
            )
        return (
            f"peak load <= 1/{self.target_scale:g} = {1 / self.target_scale:.4g} on every core "
            "(peak-load target)"
        )

    @property
    def target_met(self) -> bool:
        limit = 1 / self.target_scale + 1e-9
        peaks = all(p.score.peak_load <= limit and p.score.feasible for p in self.instances)
        if self.target_kind != "alpha*":
            return peaks
        floor = self.target_scale * (1 - 1e-9)
        return peaks and all((p.alpha or 0.0) >= floor for p in self.instances)

    @property
    def gap(self) -> float:
        if self.cost_per_hour <= 0:
            return 0.0
        return max(0.0, (self.cost_per_hour - self.bound_per_hour) / self.cost_per_hour)

    @property
    def counts(self) -> dict[str, int]:
        """Instance type -> how many, in the order types first appear."""
        return dict(Counter(p.type_name for p in self.instances))

    @property
    def requests_per_s(self) -> float | None:
        rates = [m.rate for m in self.catalogue.models]
        if any(r is None for r in rates):
            return None
        return float(sum(r for r in rates if r is not None))

    @property
    def cost_per_million(self) -> float | None:
        rate = self.requests_per_s
        if not rate:
            return None
        return self.cost_per_hour / rate * HOURS_PER_MILLION

    def summary(self) -> str:
        """The counts, the cost against its bound and the baselines, in a few lines."""
        counts = ", ".join(f"{n} x {name}" for name, n in self.counts.items())
        lines = [
            f"fleet: {counts} = {len(self.instances)} instance(s), ${self.cost_per_hour:.3f}/h",
            f"lower bound ${self.bound_per_hour:.3f}/h, gap {100 * self.gap:.2f}% ({self.status})",
            f"target: {self.target}: {'met' if self.target_met else 'NOT met'} by every instance",
        ]
        if self.cost_per_million is not None:
            lines.append(
                f"${self.cost_per_million:.4f} per million requests at "
                f"{self.requests_per_s:g} requests/s"
            )
        lines.append(
            "baselines: "
            + ", ".join(f"{name} ${cost:.3f}/h" for name, cost in self.baselines.items())
        )
        lines.append(
            f"prices: {self.prices.source} ({self.prices.date}); method: {self.method}; "
            f"instances solved on {self.executor}; {self.runtime_s:.1f} s"
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "cost_per_hour": self.cost_per_hour,
            "bound_per_hour": self.bound_per_hour,
            "gap": self.gap,
            "status": self.status,
            "target": {
                "kind": self.target_kind,
                "target_scale": self.target_scale,
                "max_core_load": 1 / self.target_scale,
                "met": self.target_met,
            },
            "requests_per_s": self.requests_per_s,
            "cost_per_million_requests": _finite(self.cost_per_million),
            "baselines": self.baselines,
            "copies": self.copies,
            "prices": {
                "source": self.prices.source,
                "date": self.prices.date,
                "currency": self.prices.currency,
                "per_hour": {p.type_name: p.price for p in self.instances},
            },
            "method": self.method,
            "executor": self.executor,
            "runtime_s": self.runtime_s,
            "stage_s": self.stage_s,
            "instances": [p.to_dict() for p in self.instances],
        }


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x
