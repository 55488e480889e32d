"""``ncplace fleet CATALOGUE --types ...``: the cheapest fleet for a catalogue, instances placed.

Exit status as for every command: 0 a fleet was planned, 2 bad input (a catalogue that does not
read, an unknown type, a type without a price, a model that fits none of the types).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from .execute import EXECUTORS

DESCRIPTION = (
    "Choose the cheapest set of instances of the --types for a catalogue of models (a mix file "
    "without an instance), each instance's cores held to peak load <= 1/--target-scale (with "
    "latency fields: alpha* >= --target-scale); assign models and copies to instances with "
    "CP-SAT, prove a lower bound on the cost, and optimise "
    "each instance's placement (in parallel with --workers, or on Ray with --executor ray / "
    "--address). Prices: the bundled AWS benchmark figures unless --prices FILE; prices change."
)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def add_parser(sub: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register ``fleet`` on the ``ncplace`` sub-command parsers."""
    from ..cli import _integer_at_least, _name_item, _positive_float

    p: argparse.ArgumentParser = sub.add_parser(
        "fleet",
        parents=[common],
        help="the cheapest set of instances for a catalogue of models",
        description=DESCRIPTION,
    )
    p.set_defaults(func=cmd_fleet)
    p.add_argument("catalogue", metavar="CATALOGUE", help="catalogue file (YAML or JSON)")
    p.add_argument(
        "--types",
        required=True,
        metavar="T1,T2,...",
        help="candidate instance types, comma-separated (e.g. inf2.xlarge,inf2.24xlarge)",
    )
    p.add_argument("--prices", metavar="FILE", help="price file (default: the bundled one)")
    p.add_argument(
        "--target-scale",
        type=_positive,
        default=1.0,
        metavar="X",
        help="hold every core to peak load <= 1/X: traffic can grow X-fold; with latency fields, "
        "every model's p99 must stay within its target at X-fold traffic (default 1)",
    )
    p.add_argument(
        "--time-limit",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="assignment time limit in seconds (default 10)",
    )
    p.add_argument(
        "--instance-time-limit",
        type=_positive_float,
        default=1.0,
        metavar="S",
        help="each instance's optimizer time limit in seconds (default 1)",
    )
    p.add_argument(
        "--seed", type=_integer_at_least(0), default=0, metavar="N", help="seed (default 0)"
    )
    p.add_argument(
        "--workers",
        type=_integer_at_least(1),
        default=1,
        metavar="N",
        help="instances solved at once (default 1)",
    )
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        help="local: this machine (default); ray: Ray tasks (pip install 'ncplace[ray]')",
    )
    p.add_argument(
        "--address",
        metavar="RAY",
        help="address of a running Ray cluster (what 'ray start --head' prints; 'auto' finds "
        "a local one); implies --executor ray",
    )
    p.add_argument(
        "--current",
        nargs="+",
        metavar="REPORT",
        help="the fleet running now: one neuron-monitor JSON report per instance; the output "
        "adds which instances to keep, start and stop and which copies to load and unload",
    )
    p.add_argument(
        "--name",
        action="append",
        type=_name_item,
        metavar="UUID=MODEL",
        help="the catalogue model a reported model is (its uuid, a unique start of it, or its "
        "reported name; repeatable)",
    )
    p.add_argument(
        "--format", choices=("text", "json", "code"), default="text", help="output format"
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write the output to FILE instead of stdout"
    )
    return p


def cmd_fleet(args: argparse.Namespace) -> int:
    from ..cli import EXIT_OK, _json, _write
    from ..errors import ConfigError
    from .moves import plan_moves, read_current
    from .solve import plan_fleet

    current = read_current(args.current, dict(args.name or ())) if args.current else None
    executor = args.executor or ("ray" if args.address else "local")
    if args.address and executor != "ray":
        raise ConfigError(f"--address {args.address!r} needs --executor ray (or no --executor)")
    plan = plan_fleet(
        args.catalogue,
        args.types,
        prices=args.prices,
        target_scale=args.target_scale,
        time_limit=args.time_limit,
        instance_time_limit=args.instance_time_limit,
        seed=args.seed,
        workers=args.workers,
        executor=executor,
        address=args.address,
    )
    moves = None if current is None else plan_moves(plan, current)
    if args.format == "json":
        data = plan.to_dict()
        if moves is not None:
            data["moves"] = moves.to_dict()
        _write(_json(data), args.output)
    elif args.format == "code":
        _write("\n".join(_code_section(p) for p in plan.instances), args.output)
    else:
        text = _text(plan)
        if moves is not None:
            text += "\n\n" + _moves_text(moves)
        _write(text, args.output)
    return EXIT_OK


def _moves_text(moves: Any) -> str:
    from ..errors import one_line

    lines = [moves.summary()]
    for c in moves.changes:
        where = f"instance {c.planned}" if c.planned is not None else "-"
        source = f" ({one_line(c.current)})" if c.current else ""
        parts = [f"{c.action} {c.type_name}{source} -> {where}"]
        for word, counts in (("load", c.load), ("unload", c.unload)):
            if counts:
                parts.append(f"{word} {_copies_text(dict(counts))}")
        lines.append("  " + "; ".join(parts))
    return "\n".join(lines)


def _copies_text(copies: dict[str, int]) -> str:
    from ..errors import key_text

    return ", ".join(f"{key_text(name)} x{n}" for name, n in copies.items())


def _text(plan: Any) -> str:
    from ..codegen import grid_lines

    lines = [plan.summary(), ""]
    for p in plan.instances:
        alpha = "" if p.alpha is None else f", alpha* {p.alpha:.3g}"
        lines.append(
            f"instance {p.index}: {p.type_name} (${p.price:.3f}/h): {_copies_text(p.copies)}; "
            f"peak load {p.score.peak_load:.4g}{alpha}, overlap {p.score.overlap} [{p.source}]"
        )
        lines.extend("  " + line for line in grid_lines(p.layout, 118))
    return "\n".join(lines)


def _code_section(p: Any) -> str:
    return f"# ===== instance {p.index}: {p.type_name} =====\n{p.code()}"
