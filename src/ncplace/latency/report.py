"""What ``ncplace recommend`` says about latency: a table per model, alpha* beside its
switch-time sweep, and a verdict in plain words."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from ..errors import check_deadline
from ..layout import Layout
from ..mix import Mix
from ..score import score
from .evaluate import (
    SCALE_PRECISION,
    ModelLatency,
    Simulation,
    check_seed,
    feasible_headroom,
    max_scale,
    scale_bracket,
    simulate,
    simulate_traffic,
    today_and_bracket,
)
from .simulation import Draws
from .traffic import SWITCH_SWEEP_MS, Traffic, resolve_switch_ms, traffic_of


@dataclass(frozen=True)
class LatencyReport:
    """A layout judged by latency: the simulation at today's traffic, alpha* at the switch time
    used (``max_scale``) and at each of :data:`SWITCH_SWEEP_MS` (``sweep``), the busy-time
    headroom that caps alpha*, and the models missing their target just above alpha*.

    With a deadline (``ncplace recommend --time-limit``) the report may be cut short:
    ``max_scale_below`` is then set (alpha* lies in ``[max_scale, max_scale_below)``, where
    ``max_scale`` is the largest scale simulated to meet every target, 0 when none was), and
    ``sweep`` holds only the switch times whose alpha* was settled (``sweep_cut`` says some
    were not)."""

    today: Simulation
    max_scale: float
    sweep: tuple[tuple[float, float], ...]
    headroom: float
    first_misses: tuple[str, ...]
    max_scale_below: float | None = None
    sweep_cut: bool = False

    @property
    def complete(self) -> bool:
        """True when no deadline cut the report short."""
        return self.max_scale_below is None and not self.sweep_cut

    @property
    def verdict(self) -> str:
        """One sentence: does the layout hold every target today, and up to what scale."""
        alpha, today = self.max_scale, self.today
        if not today.models:
            return "no model gives rate and throughput, so there is no latency to judge"
        if math.isinf(alpha):
            return "no model has traffic"
        missed = sorted(today.models, key=lambda m: -m.ratio)
        if self.max_scale_below is not None:
            return self._cut_verdict(missed)
        if alpha == 0.0:
            worst = missed[0]
            return (
                f"misses a target at any traffic: {worst.name}'s p99 stays above its "
                f"{worst.slo_ms:g} ms target"
            )
        if today.meets_targets:
            head = f"meets every target at today's traffic, up to {alpha:.2f}x"
        else:
            head = (
                f"misses at today's traffic: {_late(missed)}; every target holds only up to "
                f"{alpha:.2f}x"
            )
        if alpha >= self.headroom:
            return f"{head}, where the busiest core saturates"
        if self.first_misses:
            who = self.first_misses[0]
            target = today[who].slo_ms
            return f"{head}; {who} misses its {target:g} ms target above {alpha:.2f}x"
        return head

    def _cut_verdict(self, missed: list[ModelLatency]) -> str:
        """The verdict when the deadline stopped the search for alpha*."""
        where = f"the time limit stopped the search for alpha*: {self._cut_range()}"
        if self.today.meets_targets:
            return f"meets every target at today's traffic; {where}"
        return f"misses at today's traffic: {_late(missed)}; {where}"

    def _cut_range(self) -> str:
        """Where alpha* lies when the deadline stopped its search."""
        assert self.max_scale_below is not None
        low = f"at least {_scale(self.max_scale)}, " if self.max_scale > 0 else ""
        if self.max_scale_below >= self.headroom:
            return f"{low}at most {_scale(self.headroom)} (the busy-time headroom)"
        return f"{low}below {_scale(self.max_scale_below)}"

    def lines(self) -> list[str]:
        """The report as text lines."""
        today = self.today
        out = [
            f"Latency at today's traffic (simulated: {today.duration_s:.3g} s of calls, seed "
            f"{today.seed}, switch {today.switch_ms:g} ms unless a model sets its own):",
        ]
        header = ("model", "p50 ms", "p99 ms", "target ms", "p99/target", "within")
        rows = [header] + [
            (
                m.name,
                f"{m.p50_ms:.3g}",
                f"{m.p99_ms:.3g}",
                f"{m.slo_ms:g}",
                f"{m.ratio:.2f}",
                f"{100 * m.slo_attainment:.1f}%",
            )
            for m in today.models
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            cells = [r[0].ljust(widths[0])] + [
                c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
            ]
            out.append("  " + "  ".join(cells).rstrip())
        sweep = ", ".join(f"{_scale(a)} at {s:g} ms" for s, a in self.sweep)
        if self.sweep_cut:
            sweep = f"{sweep}; " if sweep else ""
            sweep += "the time limit left no time for the rest of the switch-time sweep"
        if self.max_scale_below is None:
            alpha = f"(alpha*, simulated, to 1%): {_scale(self.max_scale)}"
        else:
            alpha = f"(alpha*, simulated, cut by the time limit): {self._cut_range()}"
        out.append(
            f"Max scale {alpha} at switch {today.switch_ms:g} ms ({sweep}); busy-time "
            f"headroom {_scale(self.headroom)}."
        )
        out.append(f"Verdict: {self.verdict}.")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON (an infinite scale is ``None``)."""
        return {
            "today": self.today.to_dict(),
            "max_scale": _finite(self.max_scale),
            "switch_ms": self.today.switch_ms,
            "sweep": [{"switch_ms": s, "max_scale": _finite(a)} for s, a in self.sweep],
            "max_scale_below": _finite(self.max_scale_below),
            "sweep_complete": not self.sweep_cut,
            "headroom": _finite(self.headroom),
            "first_misses": list(self.first_misses),
            "verdict": self.verdict,
        }


def latency_report(
    layout: Layout,
    mix: Mix,
    *,
    switch_ms: float | None = None,
    seed: int = 0,
    deadline: float | None = None,
) -> LatencyReport:
    """Judge ``layout`` by latency (see :class:`LatencyReport`); the layout must be feasible.

    Every simulation cuts its calls from one set of draws (the scales and switch times of one
    layout share their calls). With a ``deadline`` (``time.perf_counter()`` seconds), today's
    simulation always runs; after it no simulation starts that the last one's duration says
    would end after the deadline, in this order of value: alpha* at the switch time used, the
    models missing first above it, the rest of the switch-time sweep."""
    switch = resolve_switch_ms(switch_ms, "latency report")
    deadline = check_deadline(deadline, "latency report")
    traffic = traffic_of(layout, mix, switch, "latency report")
    if not traffic.models:
        today = simulate(layout, mix, switch_ms=switch, seed=seed)
        alpha = max_scale(layout, mix, switch_ms=switch, seed=seed)
        every = tuple((s, alpha) for s in SWITCH_SWEEP_MS)
        return LatencyReport(today, alpha, every, score(layout, mix).headroom, ())
    headroom = feasible_headroom(layout, mix, "latency report")
    seed = check_seed(seed, "latency report")
    today, found, draws = today_and_bracket(traffic, switch, seed, headroom, deadline)
    if not found.complete:
        return LatencyReport(today, found.low, (), headroom, (), found.high, True)
    alpha = found.low
    first = _first_misses(traffic, switch, seed, alpha, headroom, draws, deadline)
    sweep: list[tuple[float, float]] = []
    for s in SWITCH_SWEEP_MS:
        if s == switch:
            sweep.append((s, alpha))
            continue
        other = traffic_of(layout, mix, s, "latency report")
        at = scale_bracket(other, s, seed, headroom, draws, deadline)
        if not at.complete:
            return LatencyReport(today, alpha, tuple(sweep), headroom, first, None, True)
        sweep.append((s, at.low))
    return LatencyReport(today, alpha, tuple(sweep), headroom, first)


def _first_misses(
    traffic: Traffic,
    switch: float,
    seed: int,
    alpha: float,
    headroom: float,
    draws: Draws,
    deadline: float | None,
) -> tuple[str, ...]:
    """The models missing their target 1% above alpha*, worst first (none when alpha* is 0
    or the headroom, or the deadline has passed)."""
    if not 0 < alpha < headroom or (deadline is not None and time.perf_counter() > deadline):
        return ()
    above = simulate_traffic(traffic, switch, alpha * SCALE_PRECISION, None, seed, draws)
    late = sorted((m for m in above.models if m.p99_ms > m.slo_ms), key=lambda m: -m.ratio)
    return tuple(m.name for m in late)


def _late(missed: list[ModelLatency]) -> str:
    """The models over their target today, at most three named."""
    late = [m for m in missed if m.p99_ms > m.slo_ms]
    names = ", ".join(f"{m.name} ({m.p99_ms:.3g} ms > {m.slo_ms:g} ms)" for m in late[:3])
    return names + (f" and {len(late) - 3} more" if len(late) > 3 else "")


def _scale(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}x"


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value
