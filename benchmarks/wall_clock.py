"""Wall time of ``ncplace recommend --time-limit T`` against T, from 10 to 10,000 models.

``python -m benchmarks.wall_clock [--models 10,100,1000,10000] [--limits 1,5] [--out DIR]``

For each model count it writes the ``scale`` family's mix on 256 cores
(:func:`benchmarks.generator.generate`, ``synthetic-256``, seed 0) to a JSON file, runs the real
console script ``ncplace recommend MIX --time-limit T --format json -o OUT`` for each limit, and
times the whole process from the outside: start-up, reading the mix, the baselines, the solve,
the plan, the placement code and writing the output. The promise checked is ``wall <= T + 1``.
It prints one Markdown row per run (models, limit, wall seconds, over the promise or not, the
plan's own ``runtime_s``, status, stop reason) and writes them to ``DIR/wall_clock.md``.

Timings depend on the machine and on what else runs on it: say so beside any number quoted.
"""

from __future__ import annotations

import argparse
import json
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


def run_one(mix_path: Path, limit: float, out: Path) -> dict[str, object]:
    """One timed ``recommend`` run: its wall time, exit code and the plan's certificate."""
    argv = [console_script(), "recommend", str(mix_path), "--time-limit", f"{limit:g}"]
    argv += ["--format", "json", "-o", str(out)]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    row: dict[str, object] = {"wall_s": wall, "code": done.returncode, "error": done.stderr.strip()}
    if done.returncode == 0:
        certificate = json.loads(out.read_text())["certificate"]
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
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "| models | --time-limit | wall s | within T + 1 s | plan runtime_s | status | stop |",
        "|---:|---:|---:|:---:|---:|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for n in (int(x) for x in args.models.split(",")):
        mix_path = out / f"wall-clock-{n}.json"
        mix_path.write_text(json.dumps(generate("scale", "synthetic-256", n, 0).to_dict()))
        for limit in (float(x) for x in args.limits.split(",")):
            row = run_one(mix_path, limit, out / f"wall-clock-{n}-plan.json")
            wall = float(row["wall_s"])  # type: ignore[arg-type]
            kept = "yes" if wall <= limit + SLACK_S else "NO"
            if row["code"] != 0:
                line = f"| {n} | {limit:g} | {wall:.2f} | {kept} | | exit {row['code']} | "
                line += f"{str(row['error'])[:80]} |"
            else:
                line = (
                    f"| {n} | {limit:g} | {wall:.2f} | {kept} | {row['runtime_s']:.2f} | "
                    f"{row['status']} | {row['stop']} |"
                )
            lines.append(line)
            print(line, flush=True)
    (out / "wall_clock.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
