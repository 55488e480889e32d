"""The markdown summary of a benchmark run, and the machine it ran on.

Quantities (per instance, from :mod:`ncplace.benchmarking.run`'s rows):

- ``ratio = baseline peak / optimized peak``: how much more traffic the optimized layout takes
  before its busiest core saturates (headroom is ``1 / peak``); >1 favours the optimizer.
- "proven optimal": for CP-SAT, the plan's status and, separately, the status of its first level
  on the block model (the problem the HiGHS MIP solves); for HiGHS, its peak level.
- ``time_ratio = HiGHS solve time / CP-SAT first-level time`` on instances both proved, model
  building excluded on both sides.
- percentiles interpolate linearly between order statistics (``p100`` is the maximum).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections import defaultdict
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

TOLERANCE = 1e-6
Row = dict[str, Any]


def num(value: Any) -> float | None:
    """A finite float from a row cell, else None (``n/a``, empty, booleans, inf)."""
    if isinstance(value, bool) or value is None or value in ("n/a", ""):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def values(rows: Sequence[Row], key: str) -> list[float]:
    """The finite numbers of column ``key``."""
    return [v for v in (num(r.get(key)) for r in rows) if v is not None]


def percentile(data: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between order statistics."""
    ordered = sorted(data)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def machine() -> dict[str, str]:
    """Where the run happened: CPUs, memory, CPU model, OS and the solver versions."""
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity else os.cpu_count()
    info = {"cpus (nproc)": str(cpus)}
    try:
        meminfo = Path("/proc/meminfo").read_text().split("\n")
        total_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
        info["memory"] = f"{total_kb / 1024**2:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        info["memory"] = "unknown"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().split("\n")
        info["cpu"] = next(ln for ln in cpuinfo if ln.startswith("model name")).split(":", 1)[1]
        info["cpu"] = info["cpu"].strip()
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or "unknown"
    info["os"] = platform.platform()
    info["python"] = platform.python_version()
    for package in ("ortools", "highspy", "ncplace"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    from ..optimize.sweep import backend

    # The core sweep's backend sets its steps per nominal second (ncplace.optimize.sweep).
    info["core sweep"] = backend()
    return info


def short(value: Any, digits: int = 4) -> str:
    """A cell for a table: a number to ``digits`` decimals, else the text, ``-`` when empty."""
    number = num(value)
    if number is None:
        return str(value) if value not in (None, "") else "-"
    return f"{number:.{digits}f}"


def gap_text(value: Any) -> str:
    gap = num(value)
    return "-" if gap is None else f"{100 * gap:.2f}%"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}% ({part}/{whole})" if whole else "-"


def _ratio_line(rows: Sequence[Row], key: str, label: str) -> str:
    data = values(rows, key)
    if not data:
        return f"| {label} | - | - | - | 0 |"
    below = sum(1 for v in data if v < 1 - TOLERANCE)
    above = sum(1 for v in data if v > 1 + TOLERANCE)
    return (
        f"| {label} | {statistics.median(data):.3f} | {min(data):.3f} | {max(data):.3f} | "
        f"{len(data)} ({above} above 1, {below} below 1) |"
    )


def _triple(data: list[float]) -> str:
    if not data:
        return "-"
    return " / ".join(f"{percentile(data, q):.2f}" for q in (50, 90, 100))


def summary(rows: Sequence[Row], suite: str, meta: dict[str, Any]) -> str:
    """The markdown summary of a suite run; ``meta`` holds the run's ``command``, ``elapsed_s``,
    ``finished``, ``machine`` and ``policies`` (what :func:`.run.run` records)."""
    policies = meta.get("policies") or [
        k.removesuffix("_feasible")
        for k in (rows[0] if rows else {})
        if k.endswith("_feasible") and k != "highs_feasible"
    ]
    elapsed = meta.get("elapsed_s")
    when = f"Finished {meta.get('finished', '?')}"
    if elapsed is not None:
        when += f" after {float(elapsed) / 60:.1f} min"
    out = [f"# ncplace benchmarks: `{suite}` suite", ""]
    out += [
        f"Command: `{meta.get('command', '?')}`  ",
        f"{when}; {len(rows)} instances.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    out += [f"| {k} | {v} |" for k, v in (meta.get("machine") or {}).items()]
    out += _quality(rows)
    out += _proofs(rows)
    out += _times(rows)
    out += ["", "## Issue 4 targets", "", *_targets(rows)]
    out += _scaling(rows)
    out += ["", "## Every instance", "", *_instance_table(rows, policies)]
    return "\n".join(out) + "\n"


def _quality(rows: Sequence[Row]) -> list[str]:
    feasible_default = [r for r in rows if r.get("default_feasible") is True]
    out = ["", "## Quality: headroom ratio of the optimized layout", ""]
    out += [
        "`ratio = baseline peak / optimized peak` = optimized headroom / baseline headroom "
        "(>1: the optimizer's layout takes more traffic).",
        "",
        "| against | median | worst | best | instances |",
        "|---|---|---|---|---|",
        _ratio_line(rows, "ratio_default", "default placement"),
        _ratio_line(feasible_default, "ratio_default", "default placement, where it is feasible"),
        _ratio_line(rows, "ratio_best", "best feasible baseline"),
        _ratio_line(rows, "ratio_best_same", "best feasible baseline keeping the copy counts"),
    ]
    broken = sum(1 for r in rows if r.get("default_feasible") is False)
    wins: dict[str, int] = defaultdict(int)
    sources: dict[str, int] = defaultdict(int)
    for r in rows:
        wins[str(r.get("best_baseline"))] += 1
        sources[str(r.get("opt_source") or "-")] += 1
    out += [
        "",
        f"- The default placement breaks a hard rule (exclusivity or memory) on {broken} of "
        f"{len(rows)} instances; the first line still counts them.",
        "- Best feasible baseline per instance: "
        + ", ".join(f"{k} {v}" for k, v in sorted(wins.items(), key=lambda kv: -kv[1])),
        "- Where the optimizer's layout came from: "
        + ", ".join(f"{k} {v}" for k, v in sorted(sources.items(), key=lambda kv: -kv[1])),
    ]
    return out


def _proofs(rows: Sequence[Row]) -> list[str]:
    n = len(rows)
    plan_ok = sum(1 for r in rows if r.get("opt_status") == "optimal")
    block_ok = sum(1 for r in rows if r.get("opt_block_status") == "optimal")
    h_rows = [r for r in rows if r.get("highs_status") not in ("skipped", "unsupported", None)]
    h_ok = sum(1 for r in h_rows if r.get("highs_status") == "optimal")
    both = [r for r in rows if r.get("agree") in ("yes", "NO")]
    agree = sum(1 for r in both if r["agree"] == "yes")
    checked = [r for r in rows if r.get("consistent") in ("yes", "NO")]
    bad = sum(1 for r in checked if r["consistent"] == "NO")
    errors = sum(
        1 for r in rows for k in ("opt_status", "highs_status") if str(r.get(k)).startswith("error")
    )
    out = ["", "## Proofs and agreement", ""]
    out += [
        f"- CP-SAT plan status optimal: {_pct(plan_ok, n)}",
        f"- CP-SAT block model (first level) proven optimal: {_pct(block_ok, n)}",
        f"- HiGHS MIP proven optimal: {_pct(h_ok, len(h_rows))}",
        f"- block optima agree within 1e-6 where both proved optimality: {_pct(agree, len(both))}",
        f"- bound/objective contradictions between the two methods: {bad} of {len(checked)} "
        "instances checked",
        f"- solver errors: {errors}",
    ]
    ratios = values(rows, "time_ratio")
    if ratios:
        geo = math.exp(statistics.fmean(math.log(max(v, 1e-9)) for v in ratios))
        faster = sum(1 for v in ratios if v > 1)
        out.append(
            f"- time to proven optimum, HiGHS / CP-SAT: median {statistics.median(ratios):.2f}, "
            f"geometric mean {geo:.2f}, range {min(ratios):.2f}..{max(ratios):.2f}; CP-SAT "
            f"faster on {faster} of {len(ratios)}"
        )
    h_wins = [
        r
        for r in rows
        if (num(r.get("highs_objective")) or math.inf)
        < (num(r.get("opt_block_peak")) or math.inf) - TOLERANCE
    ]
    c_wins = [
        r
        for r in rows
        if (num(r.get("opt_block_peak")) or math.inf)
        < (num(r.get("highs_objective")) or math.inf) - TOLERANCE
    ]
    out.append(
        f"- better block layout found within the limit: CP-SAT on {len(c_wins)}, HiGHS on "
        f"{len(h_wins)} instances"
    )
    proven = [r for r in rows if r.get("opt_block_status") == "optimal"]
    at_bound = [
        r
        for r in proven
        if num(r.get("simple_bound")) is not None
        and abs((num(r.get("opt_block_peak")) or math.inf) - (num(r.get("simple_bound")) or 0))
        <= TOLERANCE
    ]
    if any(num(r.get("simple_bound")) is not None for r in rows):
        out.append(
            "- proven block optima equal to the simple bound (heaviest copy; total work over "
            "the cores; shared work over the cores exclusive models leave), where the proof is "
            "immediate once a layout reaches it: "
            f"{_pct(len(at_bound), len(proven))}"
        )
    return out


def _times(rows: Sequence[Row]) -> list[str]:
    out = ["", "## Time by size", ""]
    out += [
        "Seconds. CP-SAT: the whole `optimize` call (baselines, every lexicographic level) and "
        "`peak`, its first level; HiGHS: model building plus the peak level. Gaps are the "
        "plan's.",
        "",
        "| cores | instances | CP-SAT optimal (block) | CP-SAT p50 / p90 / max | peak level p50 "
        "/ max | max gap | HiGHS optimal | HiGHS p50 / p90 / max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_cores: dict[int, list[Row]] = defaultdict(list)
    for r in rows:
        by_cores[int(r["cores"])].append(r)
    for cores in sorted(by_cores):
        group = by_cores[cores]
        peak_t = values(group, "opt_peak_time")
        gaps = values(group, "opt_gap")
        block_ok = sum(1 for r in group if r.get("opt_block_status") == "optimal")
        h_rows = [r for r in group if r.get("highs_status") not in ("skipped", "unsupported")]
        h_ok = sum(1 for r in h_rows if r.get("highs_status") == "optimal")
        peak_text = f"{percentile(peak_t, 50):.2f} / {max(peak_t):.2f}" if peak_t else "-"
        out.append(
            f"| {cores} | {len(group)} | {_pct(block_ok, len(group))} | "
            f"{_triple(values(group, 'opt_time'))} | {peak_text} | "
            f"{f'{100 * max(gaps):.2f}%' if gaps else '-'} | {_pct(h_ok, len(h_rows))} | "
            f"{_triple(values(group, 'highs_time'))} |"
        )
    return out


def _targets(rows: Sequence[Row]) -> list[str]:
    out = []
    six = [r for r in rows if r["instance"] == "inf1.6xlarge" and int(r["models"]) <= 40]
    by_family: dict[str, list[Row]] = defaultdict(list)
    for r in six:
        by_family[r["family"]].append(r)
    if six:
        out.append(
            "- inf1.6xlarge, up to 40 models (target: proven optimal, median under 1 s on 2 "
            "cores), CP-SAT's block level:"
        )
        for label, group in [("all", six), *sorted(by_family.items())]:
            ok = sum(1 for r in group if r.get("opt_block_status") == "optimal")
            times = values(group, "opt_time")
            gaps = values(group, "opt_gap")
            med = f"{statistics.median(times):.2f} s" if times else "-"
            worst = f"{max(times):.2f} s" if times else "-"
            worst_gap = f"{100 * max(gaps):.2f}%" if gaps else "-"
            out.append(
                f"  - {label}: {_pct(ok, len(group))} proven optimal, median time {med} "
                f"(worst {worst}), worst plan gap {worst_gap}"
            )
    big = [r for r in rows if r["instance"] == "inf1.24xlarge" and int(r["models"]) == 300]
    if big:
        gaps = values(big, "opt_gap")
        worst_gap = f"{100 * max(gaps):.2f}%" if gaps else "no layout"
        times = values(big, "opt_time")
        out.append(
            f"- inf1.24xlarge, 300 models of 1-4 cores (target: gap at most 1% within 30 s): worst "
            f"gap {worst_gap} over {len(big)} instances; times "
            + ", ".join(f"{t:.1f} s" for t in times)
        )
    return out or ["- (no target instances in this suite)"]


def _scaling(rows: Sequence[Row]) -> list[str]:
    scaling = [r for r in rows if str(r.get("group", "")).startswith("scaling")]
    if not scaling:
        return []
    out = ["", "## Scaling study", ""]
    out += [
        "| group | cores | models | seed | CP-SAT | peak level s | total s | gap | HiGHS | "
        "time s | gap | HiGHS rows x cols |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in scaling:
        out.append(
            f"| {r['group']} | {r['cores']} | {r['models']} | {r['seed']} | "
            f"{r.get('opt_block_status', '-')} | {short(r.get('opt_peak_time'), 2)} | "
            f"{short(r.get('opt_time'), 2)} | {gap_text(r.get('opt_gap'))} | "
            f"{r.get('highs_status', '-')} | {short(r.get('highs_time'), 2)} | "
            f"{gap_text(r.get('highs_gap'))} | {r.get('highs_rows', '-')} x "
            f"{r.get('highs_columns', '-')} |"
        )
    return out


def _instance_table(rows: Sequence[Row], policies: Sequence[str]) -> list[str]:
    head = [
        "family",
        "instance",
        "n",
        "seed",
        *policies,
        "CP-SAT plan",
        "source",
        "block",
        "bound",
        "time s",
        "HiGHS",
        "peak",
        "time s",
        "agree",
    ]
    out = [
        "Peak loads. Baselines: `n/a` when the policy cannot express the mix, `*` when its layout "
        "breaks a hard rule. CP-SAT plan: status and peak of the returned layout, and its source; "
        "block: CP-SAT's first level on the block model (status initial, value); bound: the "
        "plan's.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        cells = [r["family"], r["instance"], str(r["models"]), str(r["seed"])]
        for p in policies:
            text = short(r.get(f"{p}_peak"), 3)
            if r.get(f"{p}_feasible") is False:
                text += "*"
            cells.append(text)
        block_status = str(r.get("opt_block_status") or "-")
        cells += [
            f"{r.get('opt_status', '-')} {short(r.get('opt_objective'))}",
            str(r.get("opt_source") or "-").replace("baseline:", ""),
            f"{block_status[:1]} {short(r.get('opt_block_peak'))}",
            short(r.get("opt_bound")),
            short(r.get("opt_time"), 2),
            str(r.get("highs_status", "-")),
            short(r.get("highs_objective")),
            short(r.get("highs_time"), 2),
            str(r.get("agree") or "-"),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out
