"""Run a benchmark suite: every baseline, the CP-SAT optimizer and the HiGHS MIP, side by side.

``python -m ncplace.benchmarking.run --suite quick|full [--out DIR] [--time-limit S]
[--no-highs]`` (``python -m benchmarks.run`` in a checkout is the same).

For each instance of the suite (see :mod:`.suites`) it scores every baseline policy
(``ncplace.POLICIES``; ``n/a`` when the policy cannot express the mix), runs
``ncplace.optimize(mix, time_limit=..., seed=..., deterministic=True)`` and
:func:`ncplace.benchmarking.highs_model.solve_highs`
with the same limit, prints one progress line, and appends a row to ``DIR/<suite>.csv``. At the
end it writes ``DIR/<suite>.md``: the machine, the command, the aggregates and every row.

Definitions used in the CSV and the summary:

- ``simple_bound``: :func:`.highs_model.peak_floor`, the peak no layout can beat (the
  heaviest copy; the total work spread evenly; the shared models' work spread over the cores the
  exclusive ones leave); an optimum equal to it needs no search to prove;
- ``headroom = 1 / peak_load``; ``ratio_default = default_peak / opt_peak`` (the headroom the
  optimizer buys over the runtime's default placement, >1 is better); ``ratio_best`` the same
  against the best *feasible* baseline and ``ratio_best_same`` against the best feasible baseline
  that keeps the mix's copy counts (``multicore`` replicates every model on every core, so it can
  beat any fixed-replica layout on peak load at the price of maximal overlap);
- ``opt_status``, ``opt_objective``, ``opt_bound``, ``opt_gap``, ``opt_time`` are the plan's (what a
  user gets; ``opt_source`` says whether CP-SAT or a baseline produced the layout: the optimizer
  returns a baseline that places copies apart when that beats the block model);
  ``opt_block_status/peak/bound`` and ``opt_peak_time`` are CP-SAT's first lexicographic level on
  the block model, the problem HiGHS solves too;
- ``highs_time`` is HiGHS's model building plus its peak level, ``highs_solve_time`` the solver
  alone; ``time_ratio = highs_solve_time / opt_peak_time`` (solver time to the proven peak, model
  building excluded on both sides) when both proved optimality;
- ``agree``: both proved the block optimum and the two values are equal within 1e-6
  (``yes``/``NO``); ``consistent``: neither method's bound exceeds the other's objective by more
  than 1e-6, neither calls a mix infeasible that the other solved, and HiGHS's rescored layout
  keeps every hard rule (``highs_feasible``); ``NO`` would mean a bug.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shlex
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ncplace
from ncplace import Mix

from .highs_model import peak_floor, solve_highs
from .suites import SUITES, Case
from .summary import TOLERANCE, gap_text, machine, num, short, summary

DEFAULT_OUT = Path("benchmarks") / "out"
"""Where runs are written by default: ``benchmarks/out`` under the current directory."""


def _policies() -> dict[str, Any]:
    registry: Any = getattr(ncplace, "POLICIES", None)
    if registry is None:
        try:
            from ncplace.policies import POLICIES as registry
        except ImportError:
            return {}
    return dict(registry)


def _optimizer() -> Callable[..., Any] | None:
    fn = getattr(ncplace, "optimize", None)
    if callable(fn):
        return fn
    try:
        from ncplace.optimize import optimize
    except ImportError:
        return None
    return optimize


def columns(policies: Iterable[str]) -> list[str]:
    """The CSV header for a registry of baseline ``policies``."""
    head = ["group", "family", "instance", "cores", "models", "seed", "time_limit", "simple_bound"]
    for name in policies:
        head += [f"{name}_peak", f"{name}_headroom", f"{name}_feasible"]
    head += ["best_baseline", "best_peak", "best_same_baseline", "best_same_peak"]
    head += [
        "opt_status",
        "opt_objective",
        "opt_bound",
        "opt_gap",
        "opt_time",
        "opt_peak_time",
        "opt_headroom",
        "opt_overlap",
        "opt_scored_peak",
        "opt_source",
        "opt_block_status",
        "opt_block_peak",
        "opt_block_bound",
        "highs_status",
        "highs_objective",
        "highs_bound",
        "highs_gap",
        "highs_time",
        "highs_solve_time",
        "highs_total_time",
        "highs_overlap",
        "highs_feasible",
        "highs_rows",
        "highs_columns",
        "ratio_default",
        "ratio_best",
        "ratio_best_same",
        "time_ratio",
        "agree",
        "consistent",
    ]
    return head


def _copies_match(layout: ncplace.Layout, mix: Mix) -> bool:
    counts: dict[str, int] = defaultdict(int)
    for model, _ in layout.copies():
        counts[model] += 1
    return all(counts[m.name] == m.min_replicas for m in mix.models if m.fixed_replicas)


def _baselines(mix: Mix, policies: dict[str, Any], row: dict[str, Any]) -> None:
    best: tuple[float, str] | None = None
    best_same: tuple[float, str] | None = None
    for name, policy in policies.items():
        try:
            layout = policy(mix)
            s = ncplace.score(layout, mix)
        except ncplace.Error:
            row[f"{name}_peak"] = row[f"{name}_headroom"] = row[f"{name}_feasible"] = "n/a"
            continue
        row[f"{name}_peak"] = s.peak_load
        row[f"{name}_headroom"] = s.headroom
        row[f"{name}_feasible"] = s.feasible
        if s.feasible:
            best = min(best or (math.inf, ""), (s.peak_load, name))
            if _copies_match(layout, mix):
                best_same = min(best_same or (math.inf, ""), (s.peak_load, name))
    row["best_baseline"], row["best_peak"] = (best[1], best[0]) if best else ("n/a", None)
    row["best_same_baseline"], row["best_same_peak"] = (
        (best_same[1], best_same[0]) if best_same else ("n/a", None)
    )


def _optimize(mix: Mix, case: Case, time_limit: float, row: dict[str, Any]) -> None:
    optimize = _optimizer()
    if optimize is None:
        row["opt_status"] = "n/a"
        return
    try:
        plan = optimize(mix, time_limit=time_limit, seed=case.seed, deterministic=True)
    except Exception as exc:  # a crash is a benchmark result, not a reason to stop the suite
        row["opt_status"] = f"error: {type(exc).__name__}: {exc}".replace("\n", " ")[:200]
        return
    row["opt_status"] = str(getattr(plan.status, "value", plan.status))
    row["opt_time"] = plan.runtime_s
    row["opt_source"] = getattr(plan, "source", "")
    levels = [lv for lv in getattr(plan, "levels", ()) if lv.name == "peak"]
    if levels:
        first = levels[0]
        row["opt_peak_time"] = first.runtime_s
        row["opt_block_status"] = _LEVEL_STATUS.get(first.status.split(" (")[0], "unknown")
        row["opt_block_peak"] = first.value if math.isfinite(first.value) else None
        row["opt_block_bound"] = first.bound if math.isfinite(first.bound) else None
    else:
        row["opt_peak_time"] = plan.runtime_s
        row["opt_block_status"] = row["opt_status"]
        if row["opt_status"] != "infeasible":
            row["opt_block_bound"] = plan.bound if math.isfinite(plan.bound) else None
    if plan.layout is None:
        row["opt_bound"] = plan.bound if math.isfinite(plan.bound) else None
        return
    row["opt_objective"] = plan.objective
    row["opt_bound"] = plan.bound
    row["opt_gap"] = plan.gap
    scored = ncplace.score(plan.layout, mix)
    row["opt_scored_peak"] = scored.peak_load
    row["opt_headroom"] = scored.headroom
    row["opt_overlap"] = scored.overlap


_LEVEL_STATUS = {"optimal": "optimal", "time limit": "feasible", "infeasible": "infeasible"}


def _highs(mix: Mix, case: Case, time_limit: float, row: dict[str, Any]) -> None:
    try:
        result = solve_highs(mix, time_limit=time_limit, seed=case.seed, overlap=True)
    except Exception as exc:
        row["highs_status"] = f"error: {type(exc).__name__}: {exc}".replace("\n", " ")[:200]
        return
    row["highs_status"] = result.status
    if result.status == "unsupported":
        return
    row["highs_objective"] = result.objective
    row["highs_bound"] = result.bound
    row["highs_gap"] = result.gap
    row["highs_time"] = result.peak_runtime_s
    row["highs_solve_time"] = result.peak_runtime_s - result.build_s
    row["highs_total_time"] = result.runtime_s
    row["highs_overlap"] = result.overlap
    row["highs_feasible"] = result.feasible
    row["highs_rows"] = result.rows
    row["highs_columns"] = result.columns


def _compare(row: dict[str, Any]) -> None:
    opt = num(row.get("opt_objective"))
    if opt and opt > 0:
        default = num(row.get("default_peak"))
        row["ratio_default"] = default / opt if default is not None else None
        best = num(row.get("best_peak"))
        row["ratio_best"] = best / opt if best is not None else None
        same = num(row.get("best_same_peak"))
        row["ratio_best_same"] = same / opt if same is not None else None
    _agreement(row)


def _agreement(row: dict[str, Any]) -> None:
    """Compare the two exact methods on the block model (CP-SAT's first level vs HiGHS)."""
    block, h = num(row.get("opt_block_peak")), num(row.get("highs_objective"))
    block_status, h_status = row.get("opt_block_status"), row.get("highs_status")
    if block_status == "optimal" and h_status == "optimal" and block is not None and h is not None:
        row["agree"] = "yes" if abs(block - h) <= TOLERANCE else "NO"
        t_opt, t_h = num(row.get("opt_peak_time")), num(row.get("highs_solve_time"))
        if t_opt and t_h is not None:
            row["time_ratio"] = t_h / t_opt
    ob, hb = num(row.get("opt_block_bound")), num(row.get("highs_bound"))
    checks = []
    if ob is not None and h is not None:
        checks.append(ob <= h + TOLERANCE)
    if hb is not None and block is not None:
        checks.append(hb <= block + TOLERANCE)
    if block_status == "infeasible" or h_status == "infeasible":
        checks.append(block is None and h is None)
    if row.get("highs_feasible") is False:
        checks.append(False)
    if checks:
        row["consistent"] = "yes" if all(checks) else "NO"


def run_case(
    case: Case, policies: dict[str, Any], time_limit: float | None, highs: bool
) -> dict[str, Any]:
    """Every measurement of one instance, as a CSV row (values not yet formatted)."""
    limit = case.time_limit if time_limit is None else time_limit
    mix = case.mix()
    row: dict[str, Any] = {
        "group": case.group,
        "family": case.family,
        "instance": case.size,
        "cores": mix.instance.cores,
        "models": len(mix),
        "seed": case.seed,
        "time_limit": limit,
        "simple_bound": peak_floor(mix),
    }
    _baselines(mix, policies, row)
    _optimize(mix, case, limit, row)
    if highs:
        _highs(mix, case, limit, row)
    else:
        row["highs_status"] = "skipped"
    _compare(row)
    return row


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        return f"{value:.10g}"
    return str(value)


def progress_line(index: int, total: int, row: dict[str, Any]) -> str:
    """One line per instance: what was solved and how each method did."""
    source = str(row.get("opt_source") or "")
    via = f" via {source.removeprefix('baseline:')}" if source.startswith("baseline:") else ""
    parts = [
        f"[{index:>3}/{total}] {row['family']:<9} {row['instance']:<13} n={row['models']:<4} "
        f"s={row['seed']}",
        f"opt {row.get('opt_status', '-')} {short(row.get('opt_objective'))}{via} "
        f"bound {short(row.get('opt_bound'))} gap {gap_text(row.get('opt_gap'))} "
        f"{short(row.get('opt_time'), 2)}s (block {row.get('opt_block_status', '-')} "
        f"{short(row.get('opt_block_peak'))} {short(row.get('opt_peak_time'), 2)}s)",
        f"highs {row.get('highs_status', '-')} {short(row.get('highs_objective'))} "
        f"{short(row.get('highs_time'), 2)}s",
        f"best baseline {row.get('best_baseline', '-')} {short(row.get('best_peak'))}",
    ]
    return " | ".join(parts)


def run(
    suite: str,
    out_dir: Path,
    time_limit: float | None = None,
    highs: bool = True,
    first: int | None = None,
    command: str = "",
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run ``suite``; write ``out_dir/<suite>.csv``, ``.meta.json`` and ``.md``; return the rows.

    The CSV is written row by row (flushed), so an interrupted run keeps what it measured.
    """
    cases = SUITES[suite]()
    if first is not None:
        cases = cases[:first]
    policies = _policies()
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{suite}.csv"
    header = columns(policies)
    rows = []
    began = time.perf_counter()
    if _optimizer() is None:
        echo("note: ncplace.optimize is not available; optimizer columns are n/a")
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        for i, case in enumerate(cases, 1):
            row = run_case(case, policies, time_limit, highs)
            rows.append(row)
            writer.writerow({k: _fmt(row.get(k)) for k in header})
            handle.flush()
            echo(progress_line(i, len(cases), row))
    meta = {
        "suite": suite,
        "command": command,
        "elapsed_s": time.perf_counter() - began,
        "finished": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "policies": list(policies),
    }
    (out_dir / f"{suite}.meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    md_path = write_summary(out_dir, suite)
    echo(f"wrote {csv_path} and {md_path} ({meta['elapsed_s']:.0f} s)")
    return rows


def read_rows(csv_path: Path) -> list[dict[str, Any]]:
    """Rows of a results CSV, with the ``*_feasible`` cells back as booleans."""
    with csv_path.open(encoding="utf-8", newline="") as handle:
        rows: list[dict[str, Any]] = list(csv.DictReader(handle))
    for row in rows:
        for key, value in row.items():
            if key.endswith("_feasible") and value in ("yes", "no"):
                row[key] = value == "yes"
    return rows


def write_summary(out_dir: Path, suite: str) -> Path:
    """(Re)write ``out_dir/<suite>.md`` from the suite's CSV and ``.meta.json``."""
    rows = read_rows(out_dir / f"{suite}.csv")
    meta_path = out_dir / f"{suite}.meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    md_path = out_dir / f"{suite}.md"
    md_path.write_text(summary(rows, suite, meta), encoding="utf-8")
    return md_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ncplace.benchmarking.run",
        description="Benchmark ncplace's optimizer against the baselines and a HiGHS MIP.",
    )
    parser.add_argument("--suite", choices=sorted(SUITES), default="quick")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument(
        "--time-limit", type=float, default=None, help="seconds per solve (default: per case)"
    )
    parser.add_argument("--no-highs", action="store_true", help="skip the HiGHS MIP")
    parser.add_argument("--first", type=int, default=None, help="run only the first N cases")
    parser.add_argument(
        "--summarize",
        action="store_true",
        help="only rewrite DIR/<suite>.md from an earlier run's CSV",
    )
    args = parser.parse_args(argv)
    if args.time_limit is not None and not args.time_limit > 0:
        parser.error(f"--time-limit: must be a number of seconds > 0, got {args.time_limit}")
    if args.first is not None and args.first < 1:
        parser.error(f"--first: must be >= 1, got {args.first}")
    if args.summarize:
        if not (args.out / f"{args.suite}.csv").exists():
            parser.error(f"--summarize: no {args.out / (args.suite + '.csv')} to summarize")
        print(f"wrote {write_summary(args.out, args.suite)}")
        return 0
    argv_list = list(sys.argv[1:] if argv is None else argv)
    command = "python -m ncplace.benchmarking.run " + " ".join(shlex.quote(a) for a in argv_list)

    def echo(line: str) -> None:
        print(line, flush=True)

    run(args.suite, args.out, args.time_limit, not args.no_highs, args.first, command, echo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
