"""The result of :func:`ncplace.optimize`: a layout with its certificate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..layout import Layout, layout_to_dict
from ..mix import Mix
from ..score import Score

OBJECTIVES = ("peak", "overlap", "slo")


class Status(str, Enum):
    """What the solve proved about the returned layout.

    - ``optimal``: no layout of the block model is better on the first objective.
    - ``feasible``: a layout that breaks no hard rule, not proven best (see ``gap``).
    - ``infeasible``: proven that no layout meets the hard rules (see ``explanation``).
    - ``unknown``: no layout found and nothing proven (e.g. a zero time limit and no baseline).
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Level:
    """One level of the lexicographic solve: its objective, the value kept, and what stopped it
    (``status``: ``"optimal"``, ``"time limit"``, ...; the peak level's may be ``"optimal (core
    sweep)"``, ``"optimal (tabu search)"`` or either ``"... after CP-SAT"``, and its value, bound
    and wall time include the core sweep's and the tabu search's), with CP-SAT's deterministic
    time (see :mod:`.budget`)."""

    name: str
    value: float
    bound: float
    status: str
    runtime_s: float
    deterministic_time: float = 0.0


@dataclass(frozen=True)
class Plan:
    """A layout for ``mix`` with what the solver proved about it.

    ``objective`` is the first-priority value of ``layout`` recomputed by :func:`ncplace.score`
    (the peak load for ``objective_name == "peak"``, the overlap for ``"overlap"``); ``bound`` is
    a proven lower bound on that value over all layouts of the model, and
    ``gap = (objective - bound) / objective`` (0 when optimal or when the objective is 0). When no
    layout was found, ``layout``, ``score``, ``peak_load`` and ``overlap`` are None and
    ``objective`` and ``gap`` are infinite; a proven infeasible mix has an infinite ``bound``.
    ``source`` says which method produced the layout (``"cp-sat"``, the optimizer's own search:
    CP-SAT with the core sweep and the tabu search, or ``"baseline:<name>"``: a
    baseline is returned when it beats the solver's layout, and then ``bound`` is a bound over the
    block model and that baseline together). ``levels`` records every lexicographic level solved
    (name, value kept, bound, CP-SAT status, seconds); ``load_scale`` is the integer scale of the
    loads and ``load_exact`` whether it represents them exactly.

    With ``objective_name == "slo"`` (:mod:`.slo`) the layout is the one with the largest
    alpha*, the traffic scale at which every model's p99 stays within its target:
    ``max_scale`` as measured by :func:`ncplace.max_scale` (seed :attr:`seed`, switch time
    :attr:`switch_ms`; None when not simulated), ``max_scale_estimate`` by the analytic
    estimate, ``worst_slo_ratio`` the worst simulated ``p99 / slo_ms`` at today's traffic, and
    ``candidates`` every layout judged (name, estimated and simulated alpha*). None of these is
    proven. ``objective`` is then the layout's peak load and ``bound``, ``gap`` and
    :attr:`bound_scope` the busy-time certificate, proven by the peak solve; ``status`` is
    ``feasible`` (never ``optimal``: alpha* is not proven) and ``stop_reason`` names the layout's
    source before the peak solve's own reason.

    ``sweep_backend`` is the core sweep's decision search, ``"native"`` or ``"python"``
    (:func:`.sweep.backend`): a deterministic plan is reproducible for the same backend, whose
    steps per second set the sweep's budget.

    ``stop_reason`` says what ended the first level: ``"optimal"``, ``"optimal (core sweep)"``
    and ``"optimal (core sweep after CP-SAT)"`` (the proof came from :mod:`.sweep`),
    ``"optimal (tabu search)"`` and ``"optimal (tabu search after CP-SAT)"`` (:mod:`.tabu` found
    a layout at the proven bound), ``"optimal (CP-SAT decision after CP-SAT)"``,
    ``"infeasible"``, ``"time limit (wall clock)"`` (the default: ``time_limit`` wall seconds ran
    out), ``"time limit (deterministic)"`` (``deterministic=True``: the deterministic budget ran
    out, so the same inputs give this same plan again), ``"time limit (wall-clock safety
    limit)"``, ``"time limit (no solution)"``, ``"time limit 0"``, ``"time limit (no time left to
    build the model)"``, ``"model invalid: ..."``; ``"; CP-SAT started from the tabu search's
    layout"`` follows when the tabu search before CP-SAT lowered the best baseline's peak, and
    ``"; the tabu search lowered the peak"``, ``"; the core sweep lowered the peak"`` and ``"; the
    CP-SAT decision lowered the peak"`` when the searches after CP-SAT found a lower one.
    ``"interrupted"`` replaces it when a ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM in the CLI)
    stopped the search before the first level was settled (``"; interrupted"`` follows an
    ``optimal`` one); :attr:`interrupted` is then True and the layout is the best found so far.
    ``"; best baseline ... returned"`` follows when a baseline beat the solver, and ``"; not
    reproducible: the wall-clock safety limit stopped <what>"`` when, with
    ``deterministic=True``, a safety limit, not the deterministic budget, ended any solve or
    search (a level by name, ``hint``, ``sweep``, ``tabu search``, ``diagnosis`` or
    ``budget``): only then may the same inputs give another plan.
    """

    mix: Mix
    layout: Layout | None
    status: Status
    objective: float
    bound: float
    gap: float
    runtime_s: float
    stop_reason: str
    ortools_version: str
    score: Score | None
    explanation: str | None
    peak_load: float | None
    overlap: int | None
    objective_name: str = "peak"
    source: str = "cp-sat"
    levels: tuple[Level, ...] = ()
    seed: int = 0
    split_replicas: bool = False
    load_scale: int = 1
    load_exact: bool = True
    interrupted: bool = False
    max_scale: float | None = None
    max_scale_estimate: float | None = None
    worst_slo_ratio: float | None = None
    switch_ms: float | None = None
    candidates: tuple[tuple[str, float, float | None], ...] = ()
    sweep_backend: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        if self.objective_name not in OBJECTIVES:
            raise ValueError(f"Plan objective_name: {self.objective_name!r} not in {OBJECTIVES}")
        object.__setattr__(self, "levels", tuple(self.levels))

    @property
    def bound_scope(self) -> str:
        """Which layouts :attr:`bound`, and so an ``optimal`` status, speaks for.

        ``"every layout"`` when the bound is at most :func:`universal_bound` (or 0 overlap),
        which holds whatever the placement and copy counts; otherwise the layouts the optimizer
        searched: ``"one block per model"`` (each model's copies back to back, the default) or
        ``"copies placed apart"`` (``split_replicas=True``), with copy counts as the mix allows.
        A layout outside that class (say, copies apart when the plan kept blocks) may then still
        have a lower peak.
        """
        floor = universal_bound(self.mix) if self.objective_name == "peak" else 0.0
        if self.bound <= floor + 1e-9 * max(1.0, abs(floor)):
            return "every layout"
        kind = "copies placed apart" if self.split_replicas else "one block per model"
        if self.mix.workers is not None:
            # A pool is planned as equal slices (.processes): the bound speaks for those only.
            kind += f", in {self.mix.workers} equal worker slices"
        return kind

    @property
    def found(self) -> bool:
        """True when the plan holds a layout."""
        return self.layout is not None

    def code(self, framework: str | None = None) -> str:
        """The placement code reproducing :attr:`layout` (see :func:`ncplace.codegen.plan_code`)."""
        from ..codegen import plan_code  # type: ignore[import-not-found,unused-ignore]

        return str(plan_code(self, framework))

    def summary(self) -> str:
        """One line: status, objective, bound, gap and time."""
        if self.layout is None:
            text = f"{self.status.value}: no layout ({self.stop_reason})"
            return f"{text}; {self.explanation}" if self.explanation else text
        if self.objective_name == "slo":
            return (
                f"{self.status.value}: {self.slo_text()}; peak load {self.objective:.6g}, "
                f"busy-time bound {self.bound:.6g} (proven), gap {100 * self.gap:.3g}%, "
                f"overlap {self.overlap}, {self.runtime_s:.2f} s ({self.stop_reason})"
            )
        return (
            f"{self.status.value}: {self.objective_name} {self.objective:.6g}, bound "
            f"{self.bound:.6g}, gap {100 * self.gap:.3g}%, peak load {self.peak_load:.6g}, "
            f"overlap {self.overlap}, {self.runtime_s:.2f} s ({self.stop_reason})"
        )

    def slo_text(self) -> str:
        """alpha* in words that say how it was found: simulated, estimated, never proven."""
        estimate = "n/a" if self.max_scale_estimate is None else f"{self.max_scale_estimate:.3g}"
        if self.max_scale is None:
            return f"max scale {estimate} (estimated, not simulated)"
        return (
            f"max scale {self.max_scale:.3g} (simulated, seed {self.seed}; estimated "
            f"{estimate}), worst p99/slo {self.worst_slo_ratio:.3g} at today's traffic"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the layout's placements, its score and the solver's certificate."""
        layout = None if self.layout is None else layout_to_dict(self.layout)
        return {
            "mix": self.mix.to_dict(),
            "layout": layout,
            "score": None if self.score is None else self.score.to_dict(),
            "certificate": {
                "status": self.status.value,
                "objective_name": self.objective_name,
                "objective": _finite(self.objective),
                "bound": _finite(self.bound),
                "bound_scope": self.bound_scope,
                "gap": _finite(self.gap),
                "peak_load": self.peak_load,
                "overlap": self.overlap,
                "runtime_s": self.runtime_s,
                "stop_reason": self.stop_reason,
                "solver": "OR-Tools CP-SAT",
                "ortools_version": self.ortools_version,
                "sweep_backend": self.sweep_backend,
                "seed": self.seed,
                "split_replicas": self.split_replicas,
                "source": self.source,
                "load_scale": self.load_scale,
                "load_exact": self.load_exact,
                "interrupted": self.interrupted,
                "levels": [
                    {
                        "name": lv.name,
                        "value": _finite(lv.value),
                        "bound": _finite(lv.bound),
                        "status": lv.status,
                        "runtime_s": lv.runtime_s,
                        "deterministic_time": lv.deterministic_time,
                    }
                    for lv in self.levels
                ],
            },
            "explanation": self.explanation,
            **({"slo": self._slo_dict()} if self.objective_name == "slo" else {}),
        }

    def _slo_dict(self) -> dict[str, Any]:
        """The SLO objective's figures: simulated and estimated alpha*, never called proven."""
        return {
            "max_scale_simulated": _finite(self.max_scale) if self.max_scale is not None else None,
            "max_scale_estimated": _finite(self.max_scale_estimate)
            if self.max_scale_estimate is not None
            else None,
            "worst_p99_over_slo_simulated": self.worst_slo_ratio,
            "busy_time_scale_bound_proven": _finite(1 / self.bound) if self.bound > 0 else None,
            "switch_ms": self.switch_ms,
            "seed": self.seed,
            "candidates": [
                {"name": name, "max_scale_estimated": _finite(est), "max_scale_simulated": sim}
                for name, est, sim in self.candidates
            ],
        }


def _finite(x: float) -> float | None:
    return None if math.isinf(x) or math.isnan(x) else x


def universal_bound(mix: Mix) -> float:
    """``sum_m k_m d_m / N``: a lower bound on the peak of *every* layout, whatever its copy counts
    (``n`` copies of ``k`` cores at ``d / n`` put ``k d`` load on the machine in total), shaved by
    a relative 1e-12 against float rounding."""
    energy = sum(m.cores * m.demand for m in mix.models)
    return energy / mix.instance.cores * (1 - 1e-12)
