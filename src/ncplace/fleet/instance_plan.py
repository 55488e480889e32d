"""Each instance of a fleet as a mix of its own, and its placement plan.

An instance holding ``c_m`` of model ``m``'s ``n_m`` copies serves ``c_m / n_m`` of its traffic,
so its mix has ``replicas = c_m`` and ``rate = rate_m c_m / n_m`` (a model without a rate, whose
demand is one copy's worth, gets ``rate = c_m / n_m`` against ``throughput = 1``): each copy
carries ``d_m / n_m``, as in the whole fleet.

The assignment already placed every copy on cores (its :class:`~.packing.Fill`), a layout that
meets the target. :func:`solve_instance` runs :func:`ncplace.optimize` on the instance's mix (time
limited, seeded, one worker: reproducible) with copies free to sit apart, and keeps its plan
unless the fill's layout has a lower peak; so an instance never misses the target its fill met.
With latency targets it also measures the chosen layout's alpha* (:func:`ncplace.max_scale`).
It takes and returns plain data, so that a process pool or Ray can run it anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..hardware import Instance
from ..layout import Layout, Placement, layout_from_dict, layout_to_dict
from ..mix import Mix
from ..score import score
from .catalogue import Catalogue
from .copies import CopyItem
from .packing import Fill

PEAK_TOLERANCE = 1e-9


def instance_mix(
    catalogue: Catalogue,
    inst: Instance,
    copies: dict[int, int],
    totals: Sequence[int],
) -> Mix:
    """The mix of one instance holding ``copies[m]`` copies of catalogue model ``m``."""
    models = []
    for m, count in sorted(copies.items()):
        base = catalogue.models[m]
        if base.rate is None or base.throughput is None:
            rate, throughput = count / totals[m], 1.0
        else:
            rate, throughput = base.rate * count / totals[m], base.throughput
        models.append(replace(base, replicas=count, rate=rate, throughput=throughput))
    return Mix(tuple(models), inst, catalogue.framework)


def fill_layout(fill: Fill, items: Sequence[CopyItem], mix: Mix) -> Layout:
    """The fill's placement as a one-process layout, one load per copy."""
    names = dict(zip(sorted({items[i].model for i, _ in fill.copies}), mix.names, strict=True))
    placements = [
        Placement(names[items[i].model], (tuple(range(s, s + items[i].cores)),), 0)
        for i, s in sorted(fill.copies, key=lambda c: (c[1], c[0]))
    ]
    return Layout.single_process(mix.instance, placements)


@dataclass(frozen=True)
class InstanceTask:
    """What one instance's solve needs, as plain data."""

    mix: dict[str, Any]
    fill_layout: dict[str, Any]
    time_limit: float
    seed: int
    alpha_target: float | None = None


def solve_instance(task: InstanceTask) -> dict[str, Any]:
    """Optimise one instance (see the module docstring); returns the chosen layout, how it was
    found and, with an ``alpha_target``, its alpha* (:func:`ncplace.max_scale`): the optimizer's
    layout is kept when its alpha* meets the target or beats the fill's."""
    from ..optimize.solve import optimize

    mix = Mix.from_dict(task.mix, "fleet instance")
    fallback = layout_from_dict(task.fill_layout, mix.instance, "fill layout")
    fallback_peak = score(fallback, mix).peak_load
    plan = optimize(
        mix, time_limit=task.time_limit, seed=task.seed, split_replicas=True, **_reproducible()
    )
    chosen, source = fallback, "assignment"
    if (
        plan.layout is not None
        and plan.score is not None
        and plan.score.feasible
        and plan.score.peak_load <= fallback_peak + PEAK_TOLERANCE
    ):
        chosen, source = plan.layout, f"optimize ({plan.source})"
    alpha = None
    if task.alpha_target is not None:
        from ..latency import max_scale

        alpha = max_scale(chosen, mix, seed=task.seed)
        if alpha < task.alpha_target and chosen is not fallback:
            other = max_scale(fallback, mix, seed=task.seed)
            if other > alpha:
                chosen, source, alpha = fallback, "assignment", other
    return {
        "layout": layout_to_dict(chosen),
        "source": source,
        "status": plan.status.value,
        "bound": plan.bound if plan.layout is not None else None,
        "summary": plan.summary(),
        "runtime_s": plan.runtime_s,
        "alpha": alpha,
    }


def _reproducible() -> dict[str, Any]:
    """``optimize``'s options for a reproducible solve: one worker, and ``deterministic=True``
    where ``optimize`` has it (there ``time_limit`` is wall-clock time by default)."""
    import inspect

    from ..optimize.solve import optimize

    if "deterministic" in inspect.signature(optimize).parameters:
        return {"workers": 1, "deterministic": True}
    return {"workers": 1}
