"""What ``ncplace recommend`` says about latency: a table per model, alpha* beside its
switch-time sweep, and a verdict in plain words."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..layout import Layout
from ..mix import Mix
from .evaluate import SCALE_PRECISION, Simulation, max_scale, simulate
from .traffic import SWITCH_SWEEP_MS, resolve_switch_ms


@dataclass(frozen=True)
class LatencyReport:
    """A layout judged by latency: the simulation at today's traffic, alpha* at the switch time
    used (``max_scale``) and at each of :data:`SWITCH_SWEEP_MS` (``sweep``), the busy-time
    headroom that caps alpha*, and the models missing their target just above alpha*."""

    today: Simulation
    max_scale: float
    sweep: tuple[tuple[float, float], ...]
    headroom: float
    first_misses: tuple[str, ...]

    @property
    def verdict(self) -> str:
        """One sentence: does the layout hold every target today, and up to what scale."""
        alpha, today = self.max_scale, self.today
        if not today.models:
            return "no model gives rate and throughput, so there is no latency to judge"
        if math.isinf(alpha):
            return "no model has traffic"
        missed = sorted(today.models, key=lambda m: -m.ratio)
        if alpha == 0.0:
            worst = missed[0]
            return (
                f"misses a target at any traffic: {worst.name}'s p99 stays above its "
                f"{worst.slo_ms:g} ms target"
            )
        if today.meets_targets:
            head = f"meets every target at today's traffic, up to {alpha:.2f}x"
        else:
            late = [m for m in missed if m.p99_ms > m.slo_ms]
            names = ", ".join(f"{m.name} ({m.p99_ms:.3g} ms > {m.slo_ms:g} ms)" for m in late[:3])
            more = f" and {len(late) - 3} more" if len(late) > 3 else ""
            head = (
                f"misses at today's traffic: {names}{more}; every target holds only up to "
                f"{alpha:.2f}x"
            )
        if alpha >= self.headroom:
            return f"{head}, where the busiest core saturates"
        if self.first_misses:
            who = self.first_misses[0]
            target = today[who].slo_ms
            return f"{head}; {who} misses its {target:g} ms target above {alpha:.2f}x"
        return head

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
        out.append(
            f"Max scale (alpha*, simulated, to 1%): {_scale(self.max_scale)} at switch "
            f"{today.switch_ms:g} ms ({sweep}); busy-time headroom {_scale(self.headroom)}."
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
            "headroom": _finite(self.headroom),
            "first_misses": list(self.first_misses),
            "verdict": self.verdict,
        }


def latency_report(
    layout: Layout, mix: Mix, *, switch_ms: float | None = None, seed: int = 0
) -> LatencyReport:
    """Judge ``layout`` by latency (see :class:`LatencyReport`); the layout must be feasible."""
    from ..score import score

    switch = resolve_switch_ms(switch_ms, "latency report")
    today = simulate(layout, mix, switch_ms=switch, seed=seed)
    alpha = max_scale(layout, mix, switch_ms=switch, seed=seed)
    sweep = tuple(
        (s, alpha if s == switch else max_scale(layout, mix, switch_ms=s, seed=seed))
        for s in SWITCH_SWEEP_MS
    )
    headroom = score(layout, mix).headroom
    first: tuple[str, ...] = ()
    if 0 < alpha < headroom:
        above = simulate(layout, mix, switch_ms=switch, seed=seed, scale=alpha * SCALE_PRECISION)
        late = sorted((m for m in above.models if m.p99_ms > m.slo_ms), key=lambda m: -m.ratio)
        first = tuple(m.name for m in late)
    return LatencyReport(today, alpha, sweep, headroom, first)


def _scale(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}x"


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value
