"""Time to proof on the dense ``target-6xl`` mixes: the optimizer against HiGHS.

``python -m benchmarks.proofs [--time-limit 60] [--models 20,30,40] [--seeds 0-4] [--no-highs]
[--highs-only] [--wall-factor F] [--out DIR]``

For each ``scale`` mix on inf1.6xlarge (:func:`benchmarks.generator.generate`) it runs
``ncplace.optimize(mix, time_limit=T, deterministic=True)`` and, unless ``--no-highs``, the HiGHS
MIP of the block model (:func:`benchmarks.highs_model.solve_highs`) with the same limit, and writes
one row per mix to ``DIR/proofs.csv`` and a markdown table to ``DIR/proofs.md``. Columns: the
optimizer's status, peak (rescored by ``ncplace.score``, which must equal the plan's), bound, the
seconds of its first level (time to proof when proven: the level stops at the proof), the stop
reason, the LP bound and the integer floor it started from (``lp_lift``: units of ``1 / load_scale``
above the floor), the core sweep's search steps in the whole plan and its backend (``native`` or
``python``, ``NCPLACE_SWEEP``); HiGHS's status, peak, bound and seconds to the end of its peak
level. ``consistent`` checks that no method's bound exceeds the
other's peak. Steps are the measure that does not depend on how loaded the machine is; seconds do.
On a machine shared with other work, ``--wall-factor`` widens the optimizer's wall-clock safety
limit (:data:`ncplace.optimize.budget.WALL_FACTOR`) so that the load does not cut its deterministic
budget short: the plan is then the one an idle machine computes in about ``--time-limit`` seconds,
and only the seconds reported are inflated.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ncplace
from ncplace.optimize import arcflow, budget, stages
from ncplace.optimize import sweep as sweep_module
from ncplace.optimize.problem import build_problem

from .generator import generate
from .highs_model import solve_highs

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
COLUMNS = (
    "models",
    "seed",
    "load_scale",
    "status",
    "peak",
    "bound",
    "proof_s",
    "total_s",
    "stop",
    "floor",
    "lp_bound",
    "lp_lift",
    "sweep_steps",
    "sweep_backend",
    "highs_status",
    "highs_peak",
    "highs_bound",
    "highs_s",
    "consistent",
)


class _StepCounter:
    """Counts the core sweep's steps over one plan (wraps the two functions the stages call:
    ``sweep`` for the search below the best layout, ``prove`` for the probe)."""

    def __init__(self) -> None:
        self.steps = 0
        self.originals = {"sweep": stages.sweep, "prove": stages.prove}

    def __enter__(self) -> _StepCounter:
        for name, original in self.originals.items():
            setattr(stages, name, self._counted(original))
        return self

    def _counted(self, original: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> sweep_module.SweepResult:
            result = original(*args, **kwargs)
            self.steps += result.steps
            return result

        return counted

    def __exit__(self, *exc: object) -> None:
        for name, original in self.originals.items():
            setattr(stages, name, original)


def floor_and_lp(mix: ncplace.Mix) -> tuple[int, int, int]:
    """The load scale, the integer floor (the heaviest copy, the shared work over the shared
    cores) and the LP bound from it, in units of ``1 / load_scale``."""
    problem = build_problem(mix, False)
    items = arcflow.items_of(problem)
    assert items is not None
    work = sum(s * b for s, b in zip(items.sizes, items.demand, strict=True))
    floor = max(math.ceil(work / items.cores), max(m.demand[0] for m in problem.models))
    return problem.load_scale, floor, arcflow.lp_bound(problem, floor, 2 * floor).bound


def run_mix(
    n: int, seed: int, time_limit: float, highs: bool, optimizer: bool = True
) -> dict[str, Any]:
    mix = generate("scale", "inf1.6xlarge", n, seed)
    scale, floor, lp = floor_and_lp(mix)
    row: dict[str, Any] = {
        "models": n,
        "seed": seed,
        "load_scale": scale,
        "floor": floor / scale,
        "lp_bound": lp / scale,
        "lp_lift": lp - floor,
    }
    peak, bound = math.inf, -math.inf
    if optimizer:
        began = time.perf_counter()
        with _StepCounter() as counter:
            plan = ncplace.optimize(mix, time_limit=time_limit, seed=0, deterministic=True)
        total = time.perf_counter() - began
        assert plan.layout is not None
        peak, bound = ncplace.score(plan.layout, mix).peak_load, plan.bound
        assert abs(peak - plan.objective) < 1e-9, (peak, plan.objective)
        row.update(
            status=plan.status.value,
            peak=peak,
            bound=bound,
            proof_s=plan.levels[0].runtime_s,
            total_s=total,
            stop=plan.stop_reason,
            sweep_steps=counter.steps,
            sweep_backend=plan.sweep_backend,
        )
    consistent = bound <= peak + 1e-9
    if highs:
        result = solve_highs(mix, time_limit=time_limit, seed=seed, threads=1)
        row.update(
            highs_status=result.status,
            highs_peak=result.objective,
            highs_bound=result.bound,
            highs_s=result.peak_runtime_s,
        )
        if result.objective is not None:
            consistent = consistent and bound <= result.objective + 1e-9
        if result.bound is not None:
            consistent = consistent and result.bound <= peak + 1e-9
    row["consistent"] = "yes" if consistent else "NO"
    return row


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if value < 10 else f"{value:.1f}"
    return str(value)


def markdown(rows: list[dict[str, Any]], time_limit: float) -> str:
    shown = [
        "models",
        "seed",
        "status",
        "peak",
        "bound",
        "proof_s",
        "lp_lift",
        "sweep_steps",
        "sweep_backend",
        "highs_status",
        "highs_peak",
        "highs_bound",
        "highs_s",
        "consistent",
    ]
    lines = ["| " + " | ".join(shown) + " |", "|" + " --- |" * len(shown)]
    for row in rows:
        lines.append("| " + " | ".join(_text(row.get(c)) for c in shown) + " |")
    proven = [r for r in rows if r.get("status") == "optimal"]
    highs = [r for r in rows if r.get("highs_status") == "optimal"]
    lines.append("")
    lines.append(
        f"Proven within {time_limit:g} s: the optimizer {len(proven)}/{len(rows)}"
        + (f", HiGHS {len(highs)}/{len(rows)}" if any("highs_status" in r for r in rows) else "")
        + "."
    )
    return "\n".join(lines) + "\n"


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.proofs", description=__doc__)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--models", default="20,30,40")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--no-highs", action="store_true")
    parser.add_argument("--highs-only", action="store_true", help="skip the optimizer")
    parser.add_argument(
        "--wall-factor",
        type=float,
        default=budget.WALL_FACTOR,
        help="the optimizer's wall-clock safety factor (raise it on a loaded machine)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    budget.WALL_FACTOR = args.wall_factor
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    csv_path = args.out / "proofs.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for n in (int(x) for x in args.models.split(",")):
            for seed in _seeds(args.seeds):
                row = run_mix(n, seed, args.time_limit, not args.no_highs, not args.highs_only)
                rows.append(row)
                writer.writerow({c: row.get(c) for c in COLUMNS})
                f.flush()
                print(" ".join(f"{c}={_text(row.get(c))}" for c in COLUMNS), flush=True)
    (args.out / "proofs.md").write_text(markdown(rows, args.time_limit))
    print((args.out / "proofs.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
