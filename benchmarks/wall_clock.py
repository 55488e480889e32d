"""Wall time of ``ncplace recommend --time-limit T`` against T, from 10 to 10,000 models.

``python -m benchmarks.wall_clock [--models 10,100,1000,10000] [--limits 1,5]
[--how api,cli,compare] [--targets] [--out DIR]``

For each model count it writes the ``scale`` family's mix on 256 cores
(:func:`benchmarks.generator.generate`, ``synthetic-256``, seed 0) to a JSON file and times, from
the outside, a fresh process for each limit ``T``: ``api`` reads the mix, calls
``ncplace.optimize(mix, time_limit=T)`` and writes the placement code (:data:`API_RUN`); ``cli``
runs the real console script ``ncplace recommend MIX --time-limit T --format json -o OUT``
(start-up, reading the mix, the baselines and their latency columns, the solve, the plan, the
latency report, the placement code and the output); ``compare`` runs ``ncplace compare`` the
same way (the policies, the optimizer row, the latency columns when the mix has targets).
``--targets`` gives every model ``slo_ms: 20``, so the plan is the SLO objective's. The promise
checked is ``wall <= T + 1``;
the CPU time of the process is shown beside it (on a loaded machine the wall time includes
waiting for a core).
It prints one Markdown row per run (models, limit, wall seconds, over the promise or not, the
plan's own ``runtime_s``, status, stop reason) and writes them to ``DIR/wall_clock.md``.

Timings depend on the machine and on what else runs on it: say so beside any number quoted.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.generator import generate

SLACK_S = 1.0
"""The promise: a command given ``--time-limit T`` returns within ``T + SLACK_S`` seconds."""


def console_script() -> str:
    local = Path(sys.executable).parent / "ncplace"
    found = str(local) if local.exists() else shutil.which("ncplace")
    if not found:
        raise SystemExit("the ncplace console script is not installed (pip install -e .)")
    return found


API_RUN = """
import json, sys, ncplace
mix = ncplace.Mix.from_file(sys.argv[1])
plan = ncplace.optimize(mix, time_limit=float(sys.argv[2]))
plan.code()
open(sys.argv[3], "w").write(json.dumps(plan.to_dict()))
"""
"""The API path: a fresh interpreter reads the mix, optimises it and writes its placement code."""


def run_one(mix_path: Path, limit: float, out: Path, how: str) -> dict[str, object]:
    """One timed run (``how``: ``cli``, the recommend command, or ``api``, :data:`API_RUN`): its
    wall time, exit code and the plan's certificate."""
    if how == "api":
        argv = [sys.executable, "-c", API_RUN, str(mix_path), f"{limit:g}", str(out)]
    else:
        command = "compare" if how == "compare" else "recommend"
        argv = [console_script(), command, str(mix_path), "--time-limit", f"{limit:g}"]
        argv += ["--format", "json", "-o", str(out)]
    started = time.perf_counter()
    cpu_before = _children_cpu()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    row: dict[str, object] = {
        "wall_s": wall,
        "cpu_s": _children_cpu() - cpu_before,
        "code": done.returncode,
        "error": done.stderr.strip(),
    }
    if done.returncode == 0:
        data = json.loads(out.read_text())
        if how == "compare":
            plan = next(r for r in data["rows"] if r["policy"] == "optimized")["plan"] or {}
            note = data.get("note") or "every row judged"
            row.update(runtime_s=plan.get("runtime_s") or 0.0, status=plan.get("status"), stop=note)
        else:
            certificate = data["certificate"]
            row.update(
                runtime_s=certificate["runtime_s"],
                status=certificate["status"],
                stop=certificate["stop_reason"],
            )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="10,100,1000,3000,10000")
    parser.add_argument("--limits", default="1,5")
    parser.add_argument("--out", default="benchmarks/out")
    parser.add_argument("--how", default="api,cli", help="api, cli (recommend), compare")
    parser.add_argument(
        "--targets", action="store_true", help="give every model slo_ms: 20 (the SLO objective)"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "| run | models | time limit | wall s | CPU s | within T + 1 s | plan runtime_s | status "
        "| stop |",
        "|---|---:|---:|---:|---:|:---:|---:|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for n in (int(x) for x in args.models.split(",")):
        mix_path = out / f"wall-clock-{n}.json"
        data = generate("scale", "synthetic-256", n, 0).to_dict()
        if args.targets:
            for model in data["models"]:
                model["slo_ms"] = 20
        mix_path.write_text(json.dumps(data))
        for how in args.how.split(","):
            for limit in (float(x) for x in args.limits.split(",")):
                line = _row(how, n, limit, run_one(mix_path, limit, out / "plan.json", how))
                lines.append(line)
                print(line, flush=True)
    (out / "wall_clock.md").write_text("\n".join(lines) + "\n")
    return 0


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: on a loaded machine the
    wall time of a run is inflated by waiting for a core, its CPU time much less."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _row(how: str, n: int, limit: float, row: dict[str, object]) -> str:
    wall = float(row["wall_s"])  # type: ignore[arg-type]
    kept = "yes" if wall <= limit + SLACK_S else "NO"
    head = f"| {how} | {n} | {limit:g} | {wall:.2f} | {row['cpu_s']:.2f} | {kept} |"
    if row["code"] != 0:
        return f"{head} | exit {row['code']} | {str(row['error'])[-80:]} |"
    return f"{head} {row['runtime_s']:.2f} | {row['status']} | {row['stop']} |"


if __name__ == "__main__":
    sys.exit(main())
