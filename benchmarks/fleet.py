"""Fleet benchmark: a model zoo over the inf2 types, cost against the baselines and the lower
bound, and wall time of the per-instance solves with 1 worker, 2 workers and Ray.

    python -m benchmarks.fleet                      # 1,000 models, seed 0, the three executors
    python -m benchmarks.fleet --models 200 --no-ray

The catalogue comes from :mod:`benchmarks.fleet_catalogue`. Each executor plans the same fleet
(same seed, single-worker solves), so the costs agree and only the wall time differs; the
benchmark checks that the plans agree. Prints a Markdown table for ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from ncplace.fleet import FleetPlan, plan_fleet

from .fleet_catalogue import catalogue

INF2 = "inf2.xlarge,inf2.8xlarge,inf2.24xlarge,inf2.48xlarge"


def _run(args: argparse.Namespace, executor: str, workers: int) -> FleetPlan:
    return plan_fleet(
        catalogue(args.models, args.seed),
        INF2,
        target_scale=args.target_scale,
        time_limit=args.time_limit,
        instance_time_limit=args.instance_time_limit,
        seed=args.seed,
        workers=workers,
        executor=executor,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-scale", type=float, default=1.25)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--instance-time-limit", type=float, default=1.0)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--out", default="benchmarks/out/fleet.json")
    args = parser.parse_args()

    runs = [("local", 1), ("local", 2)] + ([] if args.no_ray else [("ray", 2)])
    rows = []
    plans = []
    for executor, workers in runs:
        start = time.perf_counter()
        plan = _run(args, executor, workers)
        wall = time.perf_counter() - start
        plans.append(plan)
        stages = plan.stage_s or {}
        rows.append(
            {
                "executor": executor if executor == "ray" else f"local, {workers} worker(s)",
                "wall_s": round(wall, 1),
                "assignment_s": round(stages.get("assignment", 0.0), 1),
                "instances_s": round(stages.get("instances", 0.0), 1),
            }
        )
        print(f"{rows[-1]}", flush=True)
    first = plans[0]
    differences = [
        f"{executor}: instance {p.index} ({p.optimizer_summary} / {q.optimizer_summary})"
        for (executor, _), plan in zip(runs[1:], plans[1:], strict=True)
        for p, q in zip(first.instances, plan.instances, strict=False)
        if p.layout.canonical() != q.layout.canonical()
    ]
    same = not differences and all(
        [p.copies for p in q.instances] == [p.copies for p in first.instances] for q in plans[1:]
    )
    summary = {
        "models": args.models,
        "seed": args.seed,
        "target_scale": args.target_scale,
        "copies": sum(first.copies.values()),
        "counts": first.counts,
        "instances": len(first.instances),
        "cost_per_hour": first.cost_per_hour,
        "bound_per_hour": first.bound_per_hour,
        "gap": first.gap,
        "baselines": first.baselines,
        "cost_per_million": first.cost_per_million,
        "method": first.method,
        "same_plan_on_every_executor": same,
        "differences": differences,
        "instance_solve_s_total": round(sum(p.runtime_s for p in first.instances), 1),
        "runs": rows,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print()
    print("| fleet | $/h | vs. lower bound |")
    print("| --- | ---: | ---: |")
    print(f"| lower bound (proven) | {first.bound_per_hour:.3f} | |")
    for name, cost in [("ncplace fleet", first.cost_per_hour), *first.baselines.items()]:
        print(f"| {name} | {cost:.3f} | +{100 * (cost / first.bound_per_hour - 1):.1f}% |")
    print()
    print("| executor | wall s | assignment s | instance solves s |")
    print("| --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['executor']} | {r['wall_s']} | {r['assignment_s']} | {r['instances_s']} |")


if __name__ == "__main__":
    main()
