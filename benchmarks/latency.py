"""Latency benchmark: alpha* of the recommended layout against every policy, the analytic
estimate's error against the simulation, and the simulation's speed.

``python -m benchmarks.latency [--suite quick] [--time-limit S] [--out DIR] [--first N]``

Mixes: the suite's generated instances (:mod:`benchmarks.suites`; no latency fields, so each
model's target is the default ``5 x`` its busy time) and the example mixes with ``slo_ms``. For
each mix, each baseline policy's layout and the optimizer's (``ncplace.optimize`` with the time
limit, once with the SLO objective and once with the busy-time one) are judged with the
default switch time:

- ``alpha``: :func:`ncplace.max_scale`; ``alpha_est``: the estimate's alpha*
  (:func:`ncplace.latency.estimate`); ``-`` for an infeasible layout;
- per model with a finite simulated p99, at two operating points (today's traffic when the
  layout is not overloaded, and 0.9 alpha* when alpha* > 0), the relative error of the
  estimated p99, ``estimate / simulation - 1``;
- ``sim_calls_per_s``: calls simulated per second of wall time at scale 1, and
  ``estimate_ms``: the wall time of one estimate (alpha* included).

Writes ``DIR/latency-<suite>.csv`` (one row per mix and layout), ``DIR/latency-<suite>-errors.csv``
(one row per model and operating point) and prints the summary that RESULTS.md quotes.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ncplace
from ncplace import Layout, Mix
from ncplace.latency import estimate, max_scale, simulate

from .suites import SUITES

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_MIXES = ("mix.yaml", "vision-skewed-inf1-xlarge.yaml", "bert-pipeline-inf1-6xlarge.yaml")
DEFAULT_OUT = Path(__file__).resolve().parent / "out"
OPTIMIZED = {"optimized": "slo", "busy-time": "peak"}
"""The optimizer's rows: the SLO objective (what ``recommend`` prints for a mix with latency
fields) and the busy-time objective (peak load), each with the time limit."""


def mixes(suite: str) -> list[tuple[str, Mix]]:
    """(name, mix) for every generated case of ``suite`` and every example with targets."""
    out = [(f"{c.family}/{c.size}/{c.n_models or '-'}/{c.seed}", c.mix()) for c in SUITES[suite]()]
    out += [(name, Mix.from_file(EXAMPLES / name)) for name in EXAMPLE_MIXES]
    return out


def layouts(mix: Mix, time_limit: float) -> dict[str, Layout]:
    """Every policy that can express the mix, and the optimizer's layouts (:data:`OPTIMIZED`)."""
    out: dict[str, Layout] = {}
    for name, policy in ncplace.POLICIES.items():
        try:
            out[name] = policy(mix)
        except ncplace.Error:
            continue
    for name, objective in OPTIMIZED.items():
        plan = ncplace.optimize(mix, time_limit=time_limit, seed=0, objective=objective)
        if plan.layout is not None:
            out[name] = plan.layout
    return out


def judge(case: str, policy: str, layout: Layout, mix: Mix) -> tuple[dict[str, Any], list[dict]]:
    """One row of the layout table and the estimate's errors for each model."""
    s = ncplace.score(layout, mix)
    start = time.perf_counter()
    today = simulate(layout, mix)
    sim_time = time.perf_counter() - start
    start = time.perf_counter()
    est = estimate(layout, mix)
    est_time = time.perf_counter() - start
    alpha = max_scale(layout, mix) if s.feasible else None
    row = {
        "mix": case,
        "policy": policy,
        "feasible": s.feasible,
        "headroom": s.headroom,
        "alpha": alpha,
        "alpha_est": est.max_scale if s.feasible else None,
        "worst_ratio": today.worst_ratio,
        "calls": sum(m.requests for m in today.models),
        "sim_calls_per_s": sum(m.requests for m in today.models) / sim_time,
        "estimate_ms": 1000 * est_time,
    }
    points = []
    if s.peak_load < 1:
        points.append(("today", 1.0, today))
    if alpha:
        scale = 0.9 * alpha
        points.append(("0.9 alpha*", scale, simulate(layout, mix, scale=scale)))
    errors = []
    for point, scale, sim in points:
        guess = estimate(layout, mix, scale=scale)
        for m in sim.models:
            g = guess[m.name].p99_ms
            if math.isfinite(m.p99_ms) and math.isfinite(g):
                errors.append(
                    {
                        "mix": case,
                        "policy": policy,
                        "point": point,
                        "model": m.name,
                        "sim_p99_ms": m.p99_ms,
                        "est_p99_ms": g,
                        "error": g / m.p99_ms - 1,
                    }
                )
    return row, errors


def _write(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(rows: list[dict[str, Any]], errors: list[dict[str, Any]]) -> str:
    """The text RESULTS.md quotes: estimate errors, alpha* of the optimizer against every
    policy, and the simulation's speed."""
    lines = []
    for point in ("today", "0.9 alpha*"):
        errs = [abs(e["error"]) for e in errors if e["point"] == point]
        if errs:
            within = sum(1 for e in errs if e <= 0.30) / len(errs)
            lines.append(
                f"estimate p99 error at {point}: {len(errs)} model-layouts, median "
                f"{statistics.median(errs):.1%}, p90 {_quantile(errs, 0.9):.1%}, max "
                f"{max(errs):.1%}, within 30%: {within:.1%}"
            )
    pairs = [
        (r["alpha_est"], r["alpha"]) for r in rows if r["alpha"] and r["alpha_est"] is not None
    ]
    if pairs:
        errs = [abs(a / b - 1) for a, b in pairs]
        lines.append(
            f"estimated alpha* against max_scale: {len(pairs)} layouts, median error "
            f"{statistics.median(errs):.1%}, p90 {_quantile(errs, 0.9):.1%}"
        )
    by_mix: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_mix.setdefault(r["mix"], {})[r["policy"]] = r["alpha"]
    lines.append("")
    lines.append("| mix | " + " | ".join(OPTIMIZED) + " | " + " | ".join(ncplace.POLICIES) + " |")
    lines.append("|---|" + "---:|" * (len(OPTIMIZED) + len(ncplace.POLICIES)))
    tally = {name: [0, 0, 0] for name in OPTIMIZED}
    for case, alphas in by_mix.items():
        cells = [_alpha(alphas.get(name)) for name in OPTIMIZED]
        cells += [_alpha(alphas.get(p), p in alphas) for p in ncplace.POLICIES]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
        best = max(
            (a for p, a in alphas.items() if p not in OPTIMIZED and a is not None), default=None
        )
        for name in OPTIMIZED:
            opt = alphas.get(name)
            if opt is not None and best is not None:
                tally[name][0 if opt > best * 1.01 else 2 if opt * 1.01 < best else 1] += 1
    lines.append("")
    for name, objective in OPTIMIZED.items():
        wins, ties, losses = tally[name]
        lines.append(
            f"{name} (objective {objective}) against the best feasible policy on alpha*: "
            f"{wins} higher, {ties} within 1%, {losses} lower"
        )
    speeds = [r["sim_calls_per_s"] for r in rows]
    est_ms = [r["estimate_ms"] for r in rows]
    lines.append(
        f"simulation speed: median {statistics.median(speeds):,.0f} calls/s (min "
        f"{min(speeds):,.0f}); estimate: median {statistics.median(est_ms):.1f} ms per layout "
        f"(alpha* included)"
    )
    return "\n".join(lines)


def _alpha(value: float | None, available: bool = True) -> str:
    if not available:
        return "n/a"
    if value is None:
        return "infeasible"
    return "inf" if math.isinf(value) else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency")
    parser.add_argument("--suite", choices=sorted(SUITES), default="quick")
    parser.add_argument("--time-limit", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--first", type=int, default=None)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for case, mix in mixes(args.suite)[: args.first]:
        for policy, layout in layouts(mix, args.time_limit).items():
            row, errs = judge(case, policy, layout, mix)
            rows.append(row)
            errors += errs
            alpha, guess = _alpha(row["alpha"]), _alpha(row["alpha_est"])
            print(f"{case:40s} {policy:12s} alpha {alpha} est {guess}", flush=True)
    _write(args.out / f"latency-{args.suite}.csv", rows)
    _write(args.out / f"latency-{args.suite}-errors.csv", errors)
    text = summarize(rows, errors)
    (args.out / f"latency-{args.suite}.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
