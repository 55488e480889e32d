"""The ``ncplace`` command line.

Commands::

    ncplace recommend [MIX]            the optimised layout, its proof, and the code that makes it
    ncplace compare MIX                every placement technique scored side by side
    ncplace emulate SCENARIO           the layout a deployment recipe produces
    ncplace replay SCRIPT --mix MIX    what an existing script does, scored, beside the optimizer
    ncplace observe REPORT [--mix MIX] what runs now, from a neuron-monitor report
    ncplace instances                  the instance catalogue
    ncplace fleet CATALOGUE --types T  the cheapest set of instances for many models

Exit status: 0 success; 1 the mix is infeasible (the solver proved that no layout meets the hard
rules, or found none in the time limit); 2 bad input (unreadable or malformed files, unknown
instance, bad options); 3 an internal error (a bug: please report it with ``--debug`` output);
4 ``recommend --strict`` made an overloaded plan (peak core load above 1), after writing it.
Errors are one line on stderr, ``ncplace: error: ...``; ``--debug`` adds the traceback.

Long solves show progress on stderr (elapsed time, and the incumbent and bound when the optimizer
reports them) only when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.resources
import inspect
import json
import math
import os
import re
import shlex
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .codegen import comment_text, grid_lines
from .errors import (
    VALUE_TEXT_LIMIT,
    ConfigError,
    Error,
    InfeasibleMix,
    json_printable,
    one_line,
    printable_text,
    value_text,
)
from .hardware import FRAMEWORKS, INSTANCES, Instance, with_lnc
from .hardware import instance as find_instance
from .layout import Layout, core_span, layout_from_dict, layout_to_dict
from .mix import Mix
from .optimize.limits import MAX_SEED, MAX_TIME_LIMIT, NO_TIME_S
from .score import Score, broken_rules, score
from .verdict import overload_text, room_text

EXIT_OK = 0
EXIT_INFEASIBLE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

BUNDLED_MIX = "mix.yaml"
"""The example mix shipped in ``ncplace/data``: what ``ncplace recommend`` uses without MIX."""

OBJECTIVES = ("peak", "overlap", "slo")
GRID_WIDTH = 120
DEFAULT_POLICY = "default"


class UsageError(Exception):
    """A bad command line (argparse's complaints included): exit status 2."""


class Infeasible(Exception):
    """The mix cannot be laid out: exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --- shared helpers -----------------------------------------------------------------------------


# --time-limit and --seed take the range optimize() accepts (MAX_TIME_LIMIT, MAX_SEED).


def _positive_float(text: str) -> float:
    accepted = f"expected seconds from 0 to {MAX_TIME_LIMIT:g}, got {value_text(text)}"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(accepted) from None
    if not math.isfinite(value) or not 0 <= value <= MAX_TIME_LIMIT:
        raise argparse.ArgumentTypeError(accepted)
    return value


def _milliseconds(text: str) -> float:
    """An argparse type for ``--switch-ms``: milliseconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected milliseconds >= 0, got {text!r}")
    return value


def _integer_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``, or a message saying so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value

    return parse


def _env_item(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key.strip(), value


def _replay_env_item(text: str) -> tuple[int | None, str, str]:
    """``replay --env``: ``NAME=VALUE`` for every process, ``K:NAME=VALUE`` for process K."""
    head, sep, rest = text.partition(":")
    if sep and head.isdigit() and "=" in rest:
        key, value = _env_item(rest)
        return int(head), key, value
    key, value = _env_item(text)
    return None, key, value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def _name_item(text: str) -> tuple[str, str]:
    key, sep, name = text.partition("=")
    if not sep or not key.strip() or not name.strip():
        raise argparse.ArgumentTypeError(f"expected UUID=MODEL, got {text!r}")
    return key.strip(), name.strip()


def _integer_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high``, or a message saying so (a value
    of thousands of digits included, which ``int()`` refuses)."""

    def parse(text: str) -> int:
        digits = text.strip().lstrip("+-")
        value = int(text) if digits.isdigit() and digits.isascii() and len(digits) < 30 else None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {low} to {high}, got {value_text(text)}"
            )
        return value

    return parse


@contextlib.contextmanager
def _bundled_mix_path() -> Iterator[Path]:
    resource = importlib.resources.files("ncplace").joinpath("data").joinpath(BUNDLED_MIX)
    with importlib.resources.as_file(resource) as path:
        yield path


def load_mix(path: str | None, instance: str | None = None, framework: str | None = None) -> Mix:
    """The mix at ``path`` (the bundled example when None), on ``instance`` when given."""
    if instance is not None:
        try:
            find_instance(instance)
        except ConfigError as exc:
            raise ConfigError(f"--instance: {exc}") from None
    if path is None:
        with _bundled_mix_path() as bundled:
            mix = Mix.from_file(bundled, instance, label=f"bundled example {BUNDLED_MIX}")
    else:
        mix = Mix.from_file(path, instance)
    if framework is not None and framework != mix.framework:
        try:
            mix = Mix(mix.models, mix.instance, framework, mix.processes, mix.workers)
        except ConfigError as exc:
            raise ConfigError(f"--framework {framework}: {exc}") from None
    return mix


@contextlib.contextmanager
def _atomic_target(output: str) -> Iterator[str]:
    """A temporary path beside ``output`` to write to; renamed over ``output`` when the block
    ends, deleted when it fails. The rename is atomic, so ``output`` holds either its old content
    or the whole new one, never a part. A target that exists and is no regular file
    (``/dev/stdout``, a FIFO) is written directly; a symbolic link is followed, so the file it
    points to is replaced. A file system error is a :class:`ConfigError` naming ``output``."""
    try:
        target = Path(os.path.realpath(output))
        if os.path.exists(target) and not os.path.isfile(target):
            yield str(target)
            return
        mode = target.stat().st_mode & 0o7777 if os.path.exists(target) else None
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{target.name[:100]}.", suffix=f".tmp{target.suffix[:20]}", dir=target.parent
        )
        os.close(descriptor)
        try:
            yield temporary
            if mode is None:
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            os.chmod(temporary, mode)
            os.replace(temporary, target)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    except OSError as exc:
        raise ConfigError(f"cannot write {output!r}: {exc.strerror or exc}") from None


def _write(text: str, output: str | None) -> None:
    """Write ``text`` (made terminal-safe: :func:`~ncplace.errors.printable_text`) to stdout or
    to ``output``. A file is written atomically (:func:`_atomic_target`): a failed write leaves
    the old file as it was."""
    text = printable_text(text)
    if not text.endswith("\n"):
        text += "\n"
    if output is None or output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with _atomic_target(output) as path, open(path, "wb") as handle:
        handle.write(text.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


_INPUTS = ("mix", "scenario", "script", "report", "current", "catalogue", "prices")
_OUTPUTS = {"output": "-o", "plot": "--plot"}


def _check_outputs(args: argparse.Namespace) -> None:
    """Before any work, that every file the command writes can be written and is none of its
    inputs: a solve is not run only to fail at the end, and ``recommend mix.yaml -o mix.yaml``
    does not replace the mix with its plan. Options that need another are checked first
    (:func:`_check_options`)."""
    _check_options(args)
    inputs = [Path(v) for k in _INPUTS if isinstance(v := getattr(args, k, None), str)]
    for option, flag in _OUTPUTS.items():
        target = getattr(args, option, None)
        if target is None or target == "-":
            continue
        path = Path(target)
        if option == "plot" and _same_target(target, getattr(args, "output", None)):
            raise ConfigError(f"--plot {target!r} is also the -o output; give two files")
        for source in inputs:
            if os.path.exists(source) and _same_target(target, str(source)):
                raise ConfigError(
                    f"{flag} {target!r} is the input file {str(source)!r}; write elsewhere"
                )
        if os.path.isdir(path):
            raise ConfigError(f"{flag} {target!r}: cannot write: it is a directory")
        if not os.path.isdir(path.parent):
            raise ConfigError(f"{flag} {target!r}: cannot write: no directory {str(path.parent)!r}")
        if not os.access(path if os.path.exists(path) else path.parent, os.W_OK):
            raise ConfigError(f"{flag} {target!r}: cannot write: permission denied")


def _check_options(args: argparse.Namespace) -> None:
    """Options that only mean something with another, refused before any work."""
    if getattr(args, "calibrate", False) and getattr(args, "current", None) is None:
        raise ConfigError(
            "--calibrate uses the rates a --current report measured; give --current too"
        )


def _same_target(one: str, other: str | None) -> bool:
    """Whether two output names are one file (the same path, or one file by two names)."""
    if other is None or other == "-":
        return False
    if os.path.abspath(one) == os.path.abspath(other):
        return True
    try:
        return os.path.samefile(one, other)
    except OSError:  # either does not exist, or its name is too long to look up
        return False


JSON_INDENT_MAX_BYTES = 1 << 20
"""JSON output up to this size is indented; larger output (a plan of thousands of models) is
written on one line, since Python's JSON encoder is several times slower when indenting."""


def _json(data: object) -> str:
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    if len(text) <= JSON_INDENT_MAX_BYTES:
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    return json_printable(text)


def _plot_layout(
    layout: Layout,
    mix: Mix | None,
    path: str,
    title: str | None = None,
    measured: Sequence[float | None] | None = None,
) -> None:
    from . import plot

    with _atomic_target(path) as temporary:
        plot.layout(layout, mix, title=title, path=temporary, measured=measured)


def _grid(layout: Layout) -> str:
    return "\n".join(grid_lines(layout, GRID_WIDTH))


def _mix_title(label: str, mix: Mix) -> str:
    inst = mix.instance
    return (
        f"{label}: {len(mix.models)} model(s) on {inst.name} ({inst.cores} NeuronCores on "
        f"{inst.chips} chip(s) of {inst.cores_per_chip}), {mix.framework}"
    )


_SCORE_ROWS: tuple[tuple[str, Callable[[Score], str]], ...] = (
    ("peak load", lambda s: f"{s.peak_load:.3f}"),
    ("headroom", lambda s: "inf" if math.isinf(s.headroom) else f"{s.headroom:.2f}x"),
    ("overlap", lambda s: str(s.overlap)),
    ("max copies/core", lambda s: str(s.max_copies_per_core)),
    ("idle cores", lambda s: str(s.idle_cores)),
    ("chip crossings", lambda s: str(s.chip_crossings)),
    ("exclusive violations", lambda s: str(s.exclusive_violations)),
    ("memory overflow GiB", lambda s: f"{s.memory_overflow_gib:g}"),
    ("handles", lambda s: str(s.handles)),
    ("feasible", lambda s: "yes" if s.feasible else "NO"),
)


def score_table(columns: Sequence[tuple[str, Score | None]]) -> str:
    """Scores side by side: one metric per line, one column per layout."""
    header = ["", *(one_line(name)[:30] for name, _ in columns)]
    rows = [header]
    for label, fmt in _SCORE_ROWS:
        rows.append([label, *("n/a" if s is None else fmt(s) for _, s in columns)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _ratio_text(
    better: Score, worse: Score, what: str, proven: str | None = None, copies: str = ""
) -> str:
    """``proven``: the plan's :attr:`~ncplace.optimize.Plan.bound_scope` when it is optimal;
    ``copies``: how the other layout's copy counts differ from the mix's (a comparison row's
    ``copies_note``), which explains a lower peak the plan could not reach."""
    if better.peak_load <= 0 or worse.peak_load <= 0:
        return ""
    ratio = worse.peak_load / better.peak_load
    if ratio > 1 + 1e-9:
        return (
            f"{what}: {ratio:.{2 if ratio >= 1.01 else 3}f}x the headroom (peak core load "
            f"{better.peak_load:.3f} instead of {worse.peak_load:.3f})."
        )
    if better.overlap < worse.overlap and abs(better.peak_load - worse.peak_load) <= 1e-9:
        return (
            f"{what}: the same peak core load with less overlap "
            f"({better.overlap} vs {worse.overlap})."
        )
    if abs(better.peak_load - worse.peak_load) <= 1e-9:
        proof = ""
        if proven == "every layout":
            proof = "; the solver proved that no lower peak exists"
        elif proven:
            proof = f"; the solver proved that no layout with {proven} has a lower peak"
        return f"{what}: the same peak core load ({better.peak_load:.3f}){proof}."
    lower = f"{what}: its peak core load is lower ({worse.peak_load:.3f} vs {better.peak_load:.3f})"
    if better.feasible and not worse.feasible:
        broken = ", ".join(broken_rules(worse))
        return f"{lower} but it breaks hard rules ({broken}), which this layout keeps."
    if copies:
        return (
            f"{lower} with {copies}; give those models `replicas: auto` (or a range) to let the "
            "optimizer choose copy counts too."
        )
    return f"{what}: not better (peak core load {better.peak_load:.3f} vs {worse.peak_load:.3f})."


# --- progress -----------------------------------------------------------------------------------


class Progress:
    """Progress of a solve on a terminal: elapsed time, and incumbent and bound when known.

    Active only when ``stream`` is a terminal; a daemon thread redraws one line every 0.2 s and
    :meth:`close` erases it. :meth:`update` is the ``progress=(elapsed_s, incumbent, bound)``
    callback of :func:`ncplace.optimize` (see :mod:`ncplace.optimize.progress`): it keeps the last
    incumbent and bound, in the plan's units, which :meth:`line` shows beside the elapsed time.
    """

    def __init__(self, label: str, time_limit: float | None, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.label = label
        self.time_limit = time_limit
        self.active = bool(getattr(self.stream, "isatty", lambda: False)())
        self.incumbent: float | None = None
        self.bound: float | None = None
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._width = 0

    def __enter__(self) -> Progress:
        if self.active:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(
        self,
        elapsed: float | None = None,
        incumbent: float | None = None,
        bound: float | None = None,
        *_: object,
    ) -> None:
        if incumbent is not None:
            self.incumbent = incumbent
        if bound is not None:
            self.bound = bound

    def line(self) -> str:
        elapsed = time.monotonic() - self._start
        text = f"ncplace: {self.label}: {elapsed:.1f} s"
        if self.time_limit is not None:
            text += f" of {self.time_limit:g} s"
        if self.incumbent is not None:
            text += f", incumbent {self.incumbent:.4g}"
        if self.bound is not None:
            text += f", bound {self.bound:.4g}"
        return text

    def _draw(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._draw(self.line())

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            if self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()


# --- solver time and interrupts (helper solver) --------------------------------------------------

OUTPUT_RESERVE_MIN_S = 0.1
"""Wall seconds ``--time-limit`` keeps for writing the output after the solve (layout text,
placement code, JSON), plus about what one baseline policy cost (see :func:`_solve_seconds`)."""

REPORT_SHARE = 0.2
"""The part of ``--time-limit`` the solve leaves for the latency report when the mix has
traffic (the report runs until ``--time-limit`` plus :data:`REPORT_SLACK_S`, see
:func:`_report_deadline`)."""
REPORT_SLACK_S = 0.25
"""How far past ``--time-limit`` the latency report may start its last simulation; the rest
of the promised second is for writing the output."""


def _limit_deadline(args: argparse.Namespace) -> float | None:
    """When ``--time-limit`` ends (None with ``--deterministic``, which makes no promise on the
    wall time): ``recommend``'s comparison table stops starting policies halfway to it
    (:data:`ncplace.comparison.TABLE_SHARE`)."""
    if getattr(args, "deterministic", False):
        return None
    return float(getattr(args, "started", time.perf_counter()) + args.time_limit)


def _report_deadline(args: argparse.Namespace) -> float | None:
    """When the latency report stops starting simulations (None with ``--deterministic``: the
    report is then complete, and the same on every run)."""
    end = _limit_deadline(args)
    return None if end is None else end + REPORT_SLACK_S


def _solve_seconds(
    args: argparse.Namespace, one_layout_s: float = 0.0, report: bool = False
) -> float:
    """The ``time_limit`` the solve gets: ``--time-limit`` as given with ``--deterministic``
    (nominal seconds, reproducible); otherwise what is left of it on the wall clock since the
    command started (reading the mix, the baselines), less a reserve for the output (and, with
    ``report``, :data:`REPORT_SHARE` for the latency report), so that the whole command returns
    within about ``--time-limit`` seconds."""
    if getattr(args, "deterministic", False):
        return float(args.time_limit)
    started = getattr(args, "started", time.perf_counter())
    elapsed = time.perf_counter() - started
    reserve = min(0.2 * args.time_limit, OUTPUT_RESERVE_MIN_S + one_layout_s)
    if report:
        reserve += REPORT_SHARE * args.time_limit
    left = args.time_limit - elapsed - reserve
    if args.time_limit > 0 and left <= 0:
        return NO_TIME_S  # not 0, which the plan would report as "time limit 0"
    return max(0.0, left)


class _Interrupts:
    """SIGINT and SIGTERM during a command: the first raises ``KeyboardInterrupt``, which stops a
    running solve (:func:`ncplace.optimize` returns its best layout so far, marked interrupted,
    and the command prints it and exits 130); a second one exits at once with one line."""

    def __init__(self) -> None:
        self.count = 0
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.count > 1:
            erase = b"\r\x1b[K" if os.isatty(2) else b""  # the progress line, on a terminal
            os.write(2, erase + b"ncplace: interrupted again: stopped at once\n")
            os._exit(EXIT_INTERRUPTED)
        raise KeyboardInterrupt


def _optimize(
    mix: Mix,
    args: argparse.Namespace,
    label: str,
    current: Layout | None = None,
    one_layout_s: float = 0.0,
    baselines: dict[str, Layout] | None = None,
    report: bool = False,
) -> Any:
    """Run the optimizer as the flags say; ``baselines``: the policies' layouts the command
    already made (its comparison table), which the optimizer then does not make again;
    ``report``: a latency report follows, whose share of the time the solve leaves."""
    from .optimize import optimize
    from .policies import POLICIES

    kwargs: dict[str, Any] = {
        "time_limit": _solve_seconds(args, one_layout_s, report),
        "seed": args.seed,
        "workers": getattr(args, "threads", None),
    }
    if getattr(args, "deterministic", False):
        if (kwargs["workers"] or 1) > 1:
            raise Error("--deterministic needs one thread: drop --threads or give --threads 1")
        kwargs["deterministic"] = True
    for key in ("objective", "split_replicas", "switch_ms"):
        if hasattr(args, key):
            kwargs[key] = getattr(args, key)
    if current is not None:
        kwargs["current"] = current
    if baselines is not None and mix.workers is None:
        kwargs["baselines"] = {name: baselines[name] for name in POLICIES if name in baselines}
    with Progress(label, args.time_limit) as progress:
        if progress.active and "progress" in inspect.signature(optimize).parameters:
            kwargs["progress"] = progress.update
        return optimize(mix, **kwargs)


def _status(plan: Any) -> str:
    return str(getattr(plan.status, "value", plan.status))


def _certificate_text(plan: Any) -> str:
    if plan.objective_name == "slo":
        return _slo_certificate_text(plan)
    objective = {"peak": "peak load", "overlap": "overlap"}.get(plan.objective_name, "objective")
    status = _status(plan)
    proof = ""
    if status == "optimal":
        scope = plan.bound_scope
        proof = " (proven)" if scope == "every layout" else f" among layouts with {scope} (proven)"
    gap = "n/a" if not math.isfinite(plan.gap) else f"{100 * plan.gap:.3g}%"
    bound = "n/a" if not math.isfinite(plan.bound) else f"{plan.bound:.4g}"
    text = (
        f"Plan: {status}{proof}: {objective} {plan.objective:.4g}, bound {bound}, gap {gap}, "
        f"{plan.runtime_s:.2f} s ({one_line(plan.stop_reason)}), CP-SAT "
        f"(OR-Tools {plan.ortools_version}), seed {plan.seed}"
    )
    if getattr(plan, "source", "cp-sat") != "cp-sat":
        text += f", layout from {plan.source}"
    return text + "."


def _slo_certificate_text(plan: Any) -> str:
    """The SLO plan's line: alpha* as simulated and estimated, the busy-time bound as proven."""
    gap = "n/a" if not math.isfinite(plan.gap) else f"{100 * plan.gap:.3g}%"
    bound = "n/a" if not math.isfinite(plan.bound) else f"{plan.bound:.4g}"
    return (
        f"Plan: {_status(plan)}: {plan.slo_text()}; peak load {plan.objective:.4g}, busy-time "
        f"bound {bound} (proven over layouts with {plan.bound_scope}), gap {gap}, "
        f"{plan.runtime_s:.2f} s ({one_line(plan.stop_reason)}), CP-SAT "
        f"(OR-Tools {plan.ortools_version}), seed {plan.seed}."
    )


def _infeasible_message(plan: Any) -> str:
    status = _status(plan)
    why = plan.explanation or plan.stop_reason
    if status == "infeasible":
        return f"the mix is infeasible: {one_line(why)}"
    return f"no layout found ({status}, {one_line(why)}); try a longer --time-limit"


# --- commands -----------------------------------------------------------------------------------


def _current_layout(path: str, mix: Mix, names: dict[str, str]) -> Layout:
    """``--current``: a neuron-monitor report (:func:`ncplace.read_monitor`), or a layout as
    ncplace writes it (a ``--format json`` output with a ``layout``, or the layout itself)."""
    return _current(path, mix, names)[0]


def _current(path: str, mix: Mix, names: dict[str, str]) -> tuple[Layout, Any]:
    """:func:`_current_layout` and, for a neuron-monitor report, its Observation (else None):
    what the measured-rate check of ``recommend --current`` reads."""
    from .monitor import read_json, read_monitor

    label, data = read_json(Path(path), "neuron-monitor report or layout")
    if "neuron_runtime_data" in data:
        seen = read_monitor(data, mix, names=names, label=label)
        return seen.layout, seen
    if names:
        raise Error(f"{path}: --name names the models of a neuron-monitor report; this is a layout")
    layout = layout_from_dict(data.get("layout", data), mix.instance, label)
    unknown = [m for m in layout.models() if m not in mix.names]
    if unknown:
        raise Error(
            f"{label}: model(s) {', '.join(map(repr, unknown))} of the layout are not in the mix"
        )
    return layout, None


@contextlib.contextmanager
def _name_option_words(names: dict[str, str]) -> Iterator[None]:
    """Errors about :func:`ncplace.read_monitor`'s ``names`` in the words of the command line:
    ``--name KEY=MODEL``, not ``read_monitor: names: 'KEY' -> 'MODEL'``."""
    try:
        yield
    except ConfigError as exc:
        text = str(exc).removeprefix("read_monitor: ")
        for key, name in names.items():
            pair = f"names: {value_text(key)} -> {value_text(name)}"
            text = text.replace(pair, f"--name {value_text(f'{key}={name}')}")
        if text == str(exc):
            raise
        raise type(exc)(text) from None


def _measured_rates(
    args: argparse.Namespace, mix: Mix, seen: Any
) -> tuple[Mix, tuple[Any, ...] | None]:
    """``recommend --current REPORT``: the measured-rate check ``observe`` makes (the readings,
    None when ``--current`` is a layout, which measures nothing) and the mix to plan for, with
    the measured rates when ``--calibrate`` asks for them."""
    from .monitor import calibrate, calibrated_mix

    if seen is None:
        if args.calibrate:
            raise Error(
                f"--calibrate: {args.current!r} is a layout, which measures nothing; give a "
                "neuron-monitor report as --current"
            )
        return mix, None
    running = set(seen.layout.models())
    readings = calibrate(seen, mix) if running else ()
    return (calibrated_mix(mix, readings) if args.calibrate else mix), readings


@dataclass(frozen=True)
class _Recommendation:
    """What ``recommend`` computed, for its text and JSON outputs."""

    args: argparse.Namespace
    mix: Mix
    given: Mix
    current: Layout | None
    readings: Sequence[Any] | None
    baselines: Any
    plan: Any
    code: str | None
    code_error: str | None
    scripts: dict[str, str]
    overload: str | None
    latency: Any = None
    latency_note: str | None = None

    @property
    def best(self) -> Any:
        return self.baselines.best() or self.baselines.best(feasible_only=False)


def cmd_recommend(args: argparse.Namespace) -> int:
    from .comparison import compare

    mix = given = _with_processes(load_mix(args.mix, args.instance, args.framework), args.processes)
    current = readings = None
    if args.current is not None:
        with _name_option_words(dict(args.name or [])):
            current, seen = _current(args.current, mix, dict(args.name or []))
        mix, readings = _measured_rates(args, given, seen)
    elif args.name:
        raise Error("--name names the models of a --current report; give --current too")
    before = time.perf_counter()
    baselines = compare(mix, optimizer=False, latency=False, deadline=_limit_deadline(args))
    one_layout_s = (time.perf_counter() - before) / max(1, len(baselines.rows))
    made = {r.name: r.layout for r in baselines.rows if r.layout is not None}
    report = args.format in ("text", "json") and any(m.rate is not None for m in mix.models)
    plan = _optimize(mix, args, "solving", current, one_layout_s, made, report)
    if plan.layout is None:
        raise Infeasible(_infeasible_message(plan))
    code, code_error, scripts = _plan_code(plan, args.framework)
    if args.plot:
        _plot_layout(plan.layout, mix, args.plot, title=f"ncplace recommend: {mix.instance.name}")
    if args.format == "code" and code is None:
        raise Error(f"no placement code for this plan: {code_error}")
    overload, done = _verdict(plan, mix, args)
    if args.format in ("launch", "k8s"):
        _write(_deployment(plan, args), args.output)
        return done
    if args.format == "code" and code is not None:
        warning = "" if overload is None else f"# {comment_text(overload, limit=300)}\n"
        _write(warning + code, args.output)
        return done
    found = _Recommendation(
        args, mix, given, current, readings, baselines, plan, code, code_error, scripts, overload
    )
    # Interrupted: print the layout at once, without the latency report's simulations; a
    # Ctrl-C during the report prints the plan without it.
    if not plan.interrupted:
        try:
            latency, note = _latency_report(plan, mix, args)
        except KeyboardInterrupt:
            latency, note, done = None, LATENCY_INTERRUPTED, EXIT_INTERRUPTED
        found = replace(found, latency=latency, latency_note=note)
    text = _recommend_json(found) if args.format == "json" else _recommend_text(found)
    _write(text, args.output)
    return done


def _plan_code(plan: Any, framework: str | None) -> tuple[str | None, str | None, dict[str, str]]:
    """The plan's placement code (or why there is none) and its per-process scripts."""
    code: str | None
    try:
        code, code_error = plan.code(framework), None
    except Error as exc:
        code, code_error = None, one_line(exc)
    scripts = _process_scripts(plan, framework)
    if scripts:
        code_error = (
            f"the plan has {len(scripts)} processes: --format launch writes a launcher with a "
            "script per process, --format k8s Kubernetes manifests"
        )
    return code, code_error, scripts


def _recommend_json(r: _Recommendation) -> str:
    plan, mix, args = r.plan, r.mix, r.args
    data = plan.to_dict()
    data["overloaded"] = r.overload is not None
    data["verdict"] = None if plan.score is None else room_text(plan.score, plan.layout, mix)
    if r.readings is not None:
        data["calibration"] = [asdict(c) for c in r.readings]
        data["calibrated"] = bool(args.calibrate)
    data["baselines"] = [
        {"policy": b.name, "score": b.score and b.score.to_dict(), "reason": b.reason}
        for b in r.baselines.rows
    ]
    data["best_baseline"] = None if r.best is None else r.best.name
    data["framework"] = args.framework or mix.framework
    data["code"] = r.code
    data["code_error"] = r.code_error
    if r.scripts:
        data["scripts"] = r.scripts
    data["latency"] = None if r.latency is None else r.latency.to_dict()
    if r.latency_note is not None:
        data["latency_note"] = r.latency_note
    if r.current is not None:
        data["current"] = {"file": args.current, "layout": layout_to_dict(r.current)}
        data["moves"] = _moves(plan, r.current)
    return _json(data)


def _recommend_text(r: _Recommendation) -> str:
    plan, mix, args, best = r.plan, r.mix, r.args, r.best
    label = args.mix or f"bundled example {BUNDLED_MIX}"
    lines = [_mix_title(label, mix), "", _grid(plan.layout), ""]
    columns: list[tuple[str, Score | None]] = [("optimized", plan.score)]
    if r.current is not None and set(r.current.models()) == set(mix.names):
        columns.append(("current", score(r.current, mix)))
    others = _compared_baselines(r.baselines, best)
    columns += [(column, other) for column, _, other, _ in others]
    lines += [score_table(columns), ""]
    if plan.score is not None:
        lines.append(room_text(plan.score, plan.layout, mix))
    lines.append(_certificate_text(plan))
    if r.current is not None:
        lines.append(_moves_text(_moves(plan, r.current), args.current))
    if r.readings:
        lines += _rates_text(r.readings, r.given, args.calibrate)
    for _, name, other, copies in others:
        if other is not None and plan.score is not None:
            proven = plan.bound_scope if _status(plan) == "optimal" else None
            lines.append(_ratio_text(plan.score, other, f"Against {name}", proven, copies))
    if best is None:
        lines.append("No baseline policy can express this mix.")
    if r.latency is not None:
        lines += ["", *r.latency.lines()]
    elif r.latency_note is not None:
        lines += ["", f"Latency: {r.latency_note}."]
    return "\n".join([*lines, "", *_code_lines(r)])


def _compared_baselines(baselines: Any, best: Any) -> list[tuple[str, str, Score | None, str]]:
    """The default placement and the best baseline: (column, name, score, copies note)."""
    others: list[tuple[str, str, Score | None, str]] = []
    if DEFAULT_POLICY in baselines.names and baselines.row(DEFAULT_POLICY).score is not None:
        row = baselines.row(DEFAULT_POLICY)
        others.append((DEFAULT_POLICY, DEFAULT_POLICY, row.score, row.copies_note))
    if best is not None and best.name != DEFAULT_POLICY:
        column, name = f"best baseline: {best.name}", f"{best.name} (best baseline)"
        others.append((column, name, best.score, best.copies_note))
    return others


def _code_lines(r: _Recommendation) -> list[str]:
    if r.scripts:
        lines = [
            "Placement code, one script per process (--format launch writes them with a "
            "launcher, --format k8s as Kubernetes manifests):"
        ]
        for name, script in r.scripts.items():
            lines += ["", f"# ===== {name}.py =====", script]
        return lines
    if r.code is None:
        return [f"No placement code: {r.code_error}"]
    head = "Placement code (ncplace recommend --format code -o serve.py writes it alone):"
    return [head, "", r.code]


EXIT_OVERLOADED = 4
"""``recommend --strict``: the plan is overloaded (see :func:`_verdict`)."""


def _verdict(plan: Any, mix: Mix, args: argparse.Namespace) -> tuple[str | None, int]:
    """The plan's overload warning (:func:`ncplace.verdict.overload_text`, None when the peak is
    at most 1) and the exit status it means: :data:`EXIT_OVERLOADED` with ``--strict``. The
    warning also goes to stderr when the output is not text on a terminal's stdout, where the
    reader would otherwise not see it."""
    overload = None if plan.score is None else overload_text(plan.score, plan.layout, mix)
    if overload is None:
        return None, EXIT_OK
    if args.format != "text" or args.output not in (None, "-"):
        sys.stderr.write(f"ncplace: warning: {printable_text(overload)}\n")
    return overload, EXIT_OVERLOADED if args.strict else EXIT_OK


LATENCY_INTERRUPTED = "not simulated: interrupted (Ctrl-C or SIGTERM) during the latency report"

LATENCY_SKIPPED = (
    "not simulated: --time-limit left too little time for the latency report's first "
    "simulation (raise it, or give --deterministic for a complete report)"
)


def _latency_report(plan: Any, mix: Mix, args: argparse.Namespace) -> tuple[Any, str | None]:
    """The recommended layout judged by latency (``ncplace.latency.report``), or None when no
    model has traffic or the layout breaks a hard rule; and a note when the time limit left no
    time to start it (:func:`_report_deadline`)."""
    layout = plan.layout
    if all(m.rate is None for m in mix.models) or not score(layout, mix).feasible:
        return None, None
    deadline = _report_deadline(args)
    from .latency.evaluate import first_run_fits
    from .latency.report import latency_report

    if not first_run_fits(mix, deadline):
        return None, LATENCY_SKIPPED

    report = latency_report(
        layout, mix, switch_ms=args.switch_ms, seed=args.seed, deadline=deadline
    )
    return report, None


# --- several processes (machines) ---------------------------------------------------------------


class _DeprecatedWorkers(argparse.Action):
    """``--workers N``: the old name of ``--threads``; it warns, since users read "workers" as
    serving processes (``--processes``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        sys.stderr.write(
            "ncplace: warning: --workers is deprecated: it sets CP-SAT threads, now --threads; "
            "for a pool of serving processes use --processes\n"
        )
        setattr(namespace, self.dest, values)


def _with_processes(mix: Mix, processes: int | None) -> Mix:
    """``--processes N``: the mix as a pool of N workers."""
    if processes is None:
        return mix
    if mix.processes:
        raise ConfigError(
            f"--processes {processes}: the mix declares its processes; give one or the other"
        )
    try:
        return Mix(mix.models, mix.instance, mix.framework, (), processes)
    except ConfigError as exc:
        raise ConfigError(f"--processes {processes}: {exc}") from None


def _process_scripts(plan: Any, framework: str | None) -> dict[str, str]:
    """Process name -> script, for a plan of several processes (empty for one)."""
    from .codegen import generate_scripts, plan_header
    from .deploy import process_names

    layout = plan.layout
    if layout is None or len(layout.processes) < 2:
        return {}
    names = process_names(layout, plan.mix)
    codes = generate_scripts(layout, plan.mix, framework, plan_header(plan))
    return dict(zip(names, codes, strict=True))


def _deployment(plan: Any, args: argparse.Namespace) -> str:
    """``--format launch``: a launcher embedding each process's script; ``--format k8s``:
    Kubernetes manifests."""
    from .codegen import generate_scripts, plan_header
    from .deploy import k8s_manifests, launch_script

    if args.format == "k8s":
        return k8s_manifests(
            plan.layout, plan.mix, framework=args.framework, header=plan_header(plan)
        )
    scripts = generate_scripts(plan.layout, plan.mix, args.framework, plan_header(plan))
    return launch_script(plan.layout, plan.mix, scripts=scripts)


def cmd_compare(args: argparse.Namespace) -> int:
    from .comparison import OPTIMIZED, compare

    mix = load_mix(args.mix, args.instance)
    judge = {
        "latency": any(m.rate is not None for m in mix.models),
        "switch_ms": args.switch_ms,
        "seed": args.seed,
    }
    if args.no_optimizer:
        table = compare(mix, optimizer=False, **judge)
    else:
        deadline = args.started + args.time_limit - OUTPUT_RESERVE_MIN_S
        with Progress("comparing", None):
            table = compare(
                mix, optimizer=True, time_limit=args.time_limit, deadline=deadline, **judge
            )
    if args.plot:
        from . import plot

        with _atomic_target(args.plot) as temporary:
            plot.compare(table, path=temporary)
    best = table.best() or table.best(feasible_only=False)
    verdict = None
    if best is not None and best.score is not None and best.layout is not None:
        verdict = f"Best layout ({best.name}): {room_text(best.score, best.layout, mix)}"
    if args.format == "json":
        data = table.to_dict()
        data["overloaded"] = best is not None and best.score is not None and best.score.overloaded
        data["verdict"] = verdict
        _write(_json(data), args.output)
    else:
        text = _mix_title(args.mix, mix) + "\n\n" + table.to_markdown()
        _write(text + ("" if verdict is None else "\n\n" + verdict), args.output)
    if OPTIMIZED in table.names:
        plan = table.row(OPTIMIZED).plan
        if plan is not None and plan.layout is None and _status(plan) == "infeasible":
            raise Infeasible(_infeasible_message(plan))
    return EXIT_OK


def layout_metrics(layout: Layout) -> dict[str, Any]:
    """Metrics of a layout that need no mix (no traffic): copies per core, overlap, ..."""
    counts = layout.copies_per_core()
    inst = layout.instance
    largest = run = 0
    for c in counts:
        run = run + 1 if c == 0 else 0
        largest = max(largest, run)
    return {
        "copies_per_core": counts,
        "overlap": sum(max(0, c - 1) for c in counts),
        "max_copies_per_core": max(counts, default=0),
        "idle_cores": sum(1 for c in counts if c == 0),
        "unallocated_cores": sum(1 for o in layout.owner() if o is None),
        "chip_crossings": sum(
            1 for _, cores in layout.copies() if len({inst.chip_of(c) for c in cores}) > 1
        ),
        "handles": len(layout.placements),
        "largest_free_block": largest,
    }


def _processes_text(layout: Layout) -> list[str]:
    lines = []
    for i, p in enumerate(layout.processes):
        cores = core_span(p.cores)
        env = " ".join(f"{k}={one_line(v)}" for k, v in sorted(p.env.items()))
        groups = ", ".join(f"ncg{j}={len(g)}" for j, g in enumerate(p.groups))
        text = (
            f"proc{i}: {cores}"
            + (f", env {env}" if env else "")
            + (f", groups {groups}" if groups else "")
        )
        lines.append(text)
    return lines


def _metrics_text(metrics: dict[str, Any]) -> list[str]:
    counts = " ".join(str(c) for c in metrics["copies_per_core"])
    return [
        f"copies per core: {counts}",
        f"overlap {metrics['overlap']} (copies beyond the first on a core), at most "
        f"{metrics['max_copies_per_core']} per core, {metrics['idle_cores']} idle core(s), "
        f"{metrics['unallocated_cores']} unallocated, {metrics['chip_crossings']} chip "
        f"crossing(s), {metrics['handles']} handle(s), largest free block "
        f"{metrics['largest_free_block']}",
    ]


def cmd_emulate(args: argparse.Namespace) -> int:
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario)
    layout = scenario.run()
    metrics = layout_metrics(layout)
    if args.format == "json":
        data = {
            "scenario": args.scenario,
            "description": scenario.description,
            "framework": scenario.framework,
            "layout": layout_to_dict(layout),
            "metrics": metrics,
        }
        _write(_json(data), args.output)
        return EXIT_OK
    title = f"{args.scenario}: {layout.instance.describe()}"
    lines = [one_line(title)]
    if scenario.description:
        lines.append(one_line(scenario.description))
    lines += ["", _grid(layout), "", *_processes_text(layout), *_metrics_text(metrics)]
    _write("\n".join(lines), args.output)
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from .dryrun import read_script, replay_report

    paths, envs = _replay_processes(args)
    for path in dict.fromkeys(paths):
        for flag, target in (("-o", args.output), ("--plot", args.plot)):
            if target not in (None, "-") and Path(target).resolve() == Path(path).resolve():
                raise Error(f"{flag} {target!r} is the input file {path!r}; write elsewhere")
    mix = load_mix(args.mix, args.instance)
    codes = [read_script(p) for p in paths]
    report = replay_report(
        codes,
        mix,
        envs,
        args.framework,
        filename=paths,
        entry=args.entry,
        stubs=args.stub or (),
        timeout=args.timeout,
    )
    layout = report.fullest
    label = " ".join(args.script)
    loaded = set(layout.models())
    if not loaded:
        raise Error(f"{label}: the script loads no model of the mix")
    missing = [m.name for m in mix.models if m.name not in loaded]
    sub = mix.with_models(m for m in mix.models if m.name in loaded) if missing else mix
    script_score = score(layout, sub)
    plan = None
    if not args.no_optimizer:
        plan = _optimize(sub, args, "solving")
    if args.plot:
        _plot_layout(layout, sub, args.plot, title=f"{label} (replayed)")
    if args.format == "json":
        data: dict[str, Any] = {
            "script": label,
            "processes": [{"script": p, "env": e} for p, e in zip(paths, envs, strict=True)],
            "env": envs[0] if len(set(map(str, envs))) == 1 else None,
            "layout": layout_to_dict(layout),
            "at_exit": layout_to_dict(report.at_exit),
            "score": script_score.to_dict(),
            "overloaded": script_score.overloaded,
            "models_not_loaded": missing,
            "stood_in": list(report.stood_in),
            "notes": list(report.notes),
            "optimized": None if plan is None else plan.to_dict(),
        }
        _write(_json(data), args.output)
        return EXIT_OK
    lines = [
        one_line(f"{label}: replayed on {mix.instance.name} with mix {args.mix}"),
        "",
        _grid(layout),
        "",
        *_processes_text(layout),
        "",
    ]
    lines += _replay_extras(report)
    columns: list[tuple[str, Score | None]] = [("script", script_score)]
    if plan is not None:
        columns.append(("optimized", plan.score))
    lines += [score_table(columns), f"The script's layout: {room_text(script_score, layout, sub)}"]
    if missing:
        lines += [
            "",
            "Not loaded by the script (left out of both scores): "
            + ", ".join(one_line(n) for n in missing),
        ]
    if plan is not None:
        lines += ["", _certificate_text(plan)]
        if plan.score is not None:
            proven = plan.bound_scope if _status(plan) == "optimal" else None
            lines.append(_ratio_text(plan.score, script_score, "The optimizer's layout", proven))
            lines.append(f"Its code: ncplace recommend {args.mix}")
        else:
            lines.append(_infeasible_message(plan))
    _write("\n".join(lines), args.output)
    return EXIT_OK


_TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")


def _replay_processes(args: argparse.Namespace) -> tuple[list[str], list[dict[str, str]]]:
    """The script of each process (``A.py:N`` is N of them) and its environment: ``--env
    NAME=VALUE`` for all, ``--env K:NAME=VALUE`` for process K (from 0, in order); the N copies
    of ``A.py:N`` also get RANK/LOCAL_RANK = their index and WORLD_SIZE/LOCAL_WORLD_SIZE = N,
    as a launcher such as torchrun sets them."""
    paths: list[str] = []
    envs: list[dict[str, str]] = []
    for item in args.script:
        path, copies = item, 1
        head, sep, tail = item.rpartition(":")
        counted = bool(sep) and tail.isdigit()
        if counted:
            path, copies = head, int(tail)
            if copies < 1:
                raise Error(f"{item}: a script runs as at least 1 process, got {copies}")
        for i in range(copies):
            paths.append(path)
            ranks = dict.fromkeys(_TORCHRUN_VARIABLES[:2], str(i))
            ranks.update(dict.fromkeys(_TORCHRUN_VARIABLES[2:], str(copies)))
            envs.append(ranks if counted else {})
    for process, key, value in args.env or []:
        if process is not None and process >= len(paths):
            raise Error(
                f"--env {process}:{key}={value}: there are {len(paths)} process(es), "
                f"0-{len(paths) - 1}"
            )
        for i, env in enumerate(envs):
            if process is None or process == i:
                env[key] = value
    return paths, envs


def _replay_extras(report: Any) -> list[str]:
    lines = []
    if report.at_exit != report.fullest:
        lines += ["At exit (models the scripts let go unloaded):", _grid(report.at_exit), ""]
    if report.stood_in:
        lines.append("Stood in for: " + ", ".join(one_line(m) for m in report.stood_in))
    lines += [f"Note: {one_line(n)}" for n in report.notes]
    return [*lines, ""] if len(lines) and lines[-1] else lines


def _copies_by_model(layout: Layout) -> dict[str, list[tuple[int, ...]]]:
    return {
        m: sorted(c for p in layout.placements_of(m) for c in p.replicas) for m in layout.models()
    }


def _moves(plan: Any, current: Layout) -> dict[str, Any]:
    """Which models of the plan stay where ``current`` runs them (same copies on the same
    cores), which move (with their copies before and after), and which ``current`` does not
    run."""
    before, after = _copies_by_model(current), _copies_by_model(plan.layout)
    return {
        "stay": [m for m in after if before.get(m) == after[m]],
        "move": [
            {"model": m, "from": [list(c) for c in before[m]], "to": [list(c) for c in after[m]]}
            for m in after
            if m in before and before[m] != after[m]
        ],
        "not_running": [m for m in after if m not in before],
    }


def _moves_text(moves: dict[str, Any], report: str) -> str:
    total = len(moves["stay"]) + len(moves["move"]) + len(moves["not_running"])
    text = (
        f"Against the current layout ({one_line(report)}): {len(moves['stay'])} of {total} "
        f"model(s) stay where they run"
    )
    if moves["move"]:
        text += "; moved: " + ", ".join(
            f"{one_line(m['model'])} ({_copies_span(m['from'])} -> {_copies_span(m['to'])})"
            for m in moves["move"]
        )
    if moves["not_running"]:
        text += "; not running now: " + ", ".join(one_line(m) for m in moves["not_running"])
    return text + "."


def _copies_span(copies: Sequence[Sequence[int]]) -> str:
    return " ".join(core_span(c) for c in copies)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _core_table(rows: Sequence[tuple[str, Sequence[float | None]]], per_line: int = 8) -> list[str]:
    """Per-core percentages, ``per_line`` cores to a block, one line per row."""
    n = len(rows[0][1])
    label = max(4, *(len(name) for name, _ in rows))
    lines: list[str] = []
    for first in range(0, n, per_line):
        cores = range(first, min(n, first + per_line))
        if lines:
            lines.append("")
        lines.append("core".ljust(label) + "".join(f"{f'nc{c}':>8}" for c in cores))
        for name, values in rows:
            lines.append(name.ljust(label) + "".join(f"{_percent(values[c]):>8}" for c in cores))
    return lines


CALIBRATION_TOLERANCE = 0.05
"""``ncplace observe`` reports a model whose measured load is off the mix's by more than this."""


def _calibration_text(readings: Sequence[Any], mix: Mix) -> list[str]:
    """What the measured utilization says about the mix's numbers (see
    :class:`ncplace.monitor.Calibration`)."""
    if not any(c.predicted for c in readings):
        return [
            "Measured against the mix: the mix gives no rate and throughput, so it predicts no "
            "load; there is nothing to compare"
        ]
    lines = ["Measured against the mix, on the cores each model has to itself:"]
    close, unread = [], []
    unrated = [c.model for c in readings if not c.predicted]
    for c in readings:
        if not c.predicted:
            continue
        if c.ratio is None:
            unread.append(c.model)
            continue
        if abs(c.ratio - 1) <= CALIBRATION_TOLERANCE and not (c.saturated and c.ratio < 1):
            close.append(c.model)
            continue
        model = mix[c.model]
        text = (
            f"  {one_line(c.model)}: {'at least ' if c.saturated else ''}{c.ratio:.2f}x the "
            f"predicted load on {core_span(c.cores)}"
        )
        if model.rate is not None and model.throughput is not None:
            text += (
                f": rate {model.rate:g} looks like {model.rate * c.ratio:.0f} requests/s "
                f"(or throughput {model.throughput:g} like {model.throughput / c.ratio:.0f})"
            )
        if c.saturated:
            text += "; saturated (a core at 99% or more), so more traffic may be waiting"
        lines.append(text)
    if close:
        lines.append(
            f"  within {CALIBRATION_TOLERANCE:.0%} of the mix: " + ", ".join(map(one_line, close))
        )
    if unread:
        lines.append("  sharing every core (no reading): " + ", ".join(map(one_line, unread)))
    if unrated:
        lines.append(
            "  no rate and throughput in the mix (nothing to compare): "
            + ", ".join(map(one_line, unrated))
        )
    return lines


def _rates_text(readings: Sequence[Any], mix: Mix, calibrated: bool) -> list[str]:
    """What ``recommend --current`` says of the measured rates: nothing when every model is
    close to the mix, else which models look off and whether the plan used the measurements."""
    from .monitor import is_off

    if not any(is_off(c) for c in readings):
        return []
    lines = _calibration_text(readings, mix)
    if calibrated:
        lines.append("  this plan is for the measured rates (--calibrate)")
    else:
        lines.append("  this plan is for the mix's rates; --calibrate plans for the measured ones")
    return lines


def cmd_observe(args: argparse.Namespace) -> int:
    from .monitor import calibrate, read_monitor

    mix = load_mix(args.mix, args.instance) if args.mix else None
    with _name_option_words(dict(args.name or [])):
        seen = read_monitor(args.report, mix, names=dict(args.name or []), instance=args.instance)
    layout = seen.layout
    running = set(layout.models())
    sub = None
    if mix is not None and running:
        sub = mix.with_models(m for m in mix.models if m.name in running)
    observed = None if sub is None else score(layout, sub)
    not_running = [] if mix is None else [n for n in mix.names if n not in running]
    if args.plot:
        title = f"{args.report} (observed)"
        _plot_layout(layout, sub, args.plot, title, seen.utilization)
    if args.format == "json":
        data = seen.to_dict()
        data["report"] = args.report
        data["metrics"] = layout_metrics(layout)
        data["score"] = None if observed is None else observed.to_dict()
        data["overloaded"] = observed is not None and observed.overloaded
        if observed is not None and sub is not None:
            data["verdict"] = room_text(observed, layout, sub)
        data["models_not_running"] = not_running
        data["calibration"] = (
            None if mix is None or not running else [asdict(c) for c in calibrate(seen, mix)]
        )
        _write(_json(data), args.output)
        return EXIT_OK
    title = (
        f"{args.report}: {len(layout.processes)} process(es), {len(running)} model(s) on "
        f"{layout.instance.describe()}"
    )
    lines = [one_line(title), "", _grid(layout), ""]
    for i, p in enumerate(layout.processes):
        pid = seen.pids[i]
        who = f"pid {pid}" if pid is not None else "no pid (a first-format report)"
        lines.append(f"proc{i}: {who}, cores {core_span(p.cores) if p.cores else '-'}")
    table = [("model", "process", "uuid", "copies")] + [
        (
            one_line(m.model),
            f"proc{m.process}",
            m.uuid,
            f"{len(m.copies)}: " + _copies_span(m.copies),
        )
        for m in seen.models
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines += [""] + [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in table
    ]
    lines += ["", *_metrics_text(layout_metrics(layout))]
    rows = [("measured", seen.utilization)]
    if observed is not None:
        rows.append(("predicted", observed.loads))
    lines += ["", *_core_table(rows)]
    if mix is not None and running:
        lines += ["", *_calibration_text(calibrate(seen, mix), mix)]
    if observed is not None and sub is not None:
        lines += ["", score_table([("observed", observed)]), room_text(observed, layout, sub)]
        if not_running:
            lines.append(
                "Not running (left out of the score): " + ", ".join(map(one_line, not_running))
            )
        command = ["ncplace", "recommend", args.mix, "--current", args.report]
        command += [f"--name={key}={name}" for key, name in args.name or []]
        lines += [
            "",
            "A plan that keeps what it can where it runs: " + shlex.join(command),
        ]
    lines += [one_line(note) for note in seen.notes]
    _write("\n".join(lines), args.output)
    return EXIT_OK


def _catalogue_rows() -> list[Instance]:
    """The catalogue, each trn2 machine followed by its LNC=1 form."""
    out = []
    for inst in INSTANCES.values():
        out.append(inst)
        if inst.lnc == 2:
            out.append(with_lnc(inst, 1))
    return out


def cmd_instances(args: argparse.Namespace) -> int:
    machines = _catalogue_rows()
    if args.format == "json":
        data = [
            {
                "name": inst.name,
                "cores": inst.cores,
                "chips": inst.chips,
                "cores_per_chip": inst.cores_per_chip,
                "chip_memory_gib": inst.chip_memory_gib,
                "memory_gib": inst.memory_gib,
                "memory_pool_cores": inst.memory_cores,
                "memory_pool_gib": inst.pool_memory_gib,
                "topology": inst.topology,
                "framework": inst.framework,
                "lnc": inst.lnc,
            }
            for inst in machines
        ]
        _write(_json(data), None)
        return EXIT_OK
    header = (
        "instance",
        "cores",
        "chips",
        "cores/chip",
        "GiB/chip",
        "GiB/bank",
        "interconnect",
        "framework",
        "LNC",
    )
    rows = [header] + [
        (
            inst.name,
            str(inst.cores),
            str(inst.chips),
            str(inst.cores_per_chip),
            f"{inst.chip_memory_gib:g}",
            "-" if inst.bank_cores is None else f"{inst.pool_memory_gib:g}",
            inst.topology,
            inst.framework,
            "-" if inst.lnc is None else str(inst.lnc),
        )
        for inst in machines
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    right = {1, 2, 3, 4, 5, 8}
    lines = [
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]
    _write("\n".join(lines), None)
    return EXIT_OK


# --- the parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ncplace`` (every error it finds raises :class:`UsageError`)."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an error",
    )
    parser = _Parser(
        prog="ncplace",
        description="Where to put PyTorch models on AWS NeuronCores: emulate the Neuron runtime, "
        "compare placement techniques, optimise with CP-SAT, write the placement code.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"ncplace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def solver_options(p: argparse.ArgumentParser, default_limit: float) -> None:
        p.add_argument(
            "--instance", metavar="NAME", help="instance type (overrides the mix file's)"
        )
        p.add_argument(
            "--time-limit",
            type=_positive_float,
            default=default_limit,
            metavar="S",
            help=f"solver time limit in seconds (default {default_limit:g})",
        )
        p.add_argument(
            "--seed",
            type=_integer_in(0, MAX_SEED),
            default=0,
            metavar="N",
            help="solver seed (default 0)",
        )

    def deterministic_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--deterministic",
            action="store_true",
            help="spend --time-limit on CP-SAT's deterministic clock: the same mix, seed and "
            "limit give the same plan on every run, with no promise on wall time",
        )

    def output_options(p: argparse.ArgumentParser, formats: tuple[str, ...]) -> None:
        p.add_argument(
            "--format", choices=formats, default="text", help="output format (default text)"
        )
        p.add_argument(
            "-o", "--output", metavar="FILE", help="write the output to FILE instead of stdout"
        )

    def command(
        name: str, func: Callable[[argparse.Namespace], int], summary: str, description: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=summary, description=description)
        p.set_defaults(func=func)
        return p

    def switch_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--switch-ms",
            type=_milliseconds,
            metavar="MS",
            help="core time a switch to another model or copy costs, for models that set "
            "no switch_ms (default 0.25; latency reports also show 0, 0.25, 0.5 and 1)",
        )

    def plot_option(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--plot", metavar="FILE.png", help=f"also draw {what} to FILE.png")

    def name_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--name",
            action="append",
            type=_name_item,
            metavar="UUID=MODEL",
            help="the mix model a reported model is (its uuid, a unique start of it, or its "
            "reported name; repeatable); needed where copy shapes do not tell models apart",
        )

    p = command(
        "recommend",
        cmd_recommend,
        "optimise a mix: layout, proof and placement code",
        "Optimise a mix with CP-SAT and print the layout, its score beside "
        "the best baseline, the proof (status, bound, gap) and the placement code. "
        "Without MIX, the bundled example mix.",
    )
    p.add_argument(
        "mix",
        nargs="?",
        metavar="MIX",
        help="mix file (YAML or JSON); default: the bundled example",
    )
    solver_options(p, 10.0)
    deterministic_option(p)
    p.add_argument(
        "--threads",
        type=_integer_at_least(1),
        metavar="N",
        help="parallel CP-SAT threads (default 1; more need the wall clock)",
    )
    p.add_argument(
        "--workers",
        type=_integer_at_least(1),
        metavar="N",
        dest="threads",
        action=_DeprecatedWorkers,
        help="deprecated alias of --threads (serving workers: --processes)",
    )
    p.add_argument(
        "--processes",
        type=_integer_at_least(1),
        metavar="N",
        help="plan a pool of N identical serving processes that each load every model "
        "(the mix's workers: N)",
    )
    p.add_argument(
        "--framework", choices=FRAMEWORKS, help="framework of the code (default: the mix's)"
    )
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default=None,
        help="peak: peak core load first, then overlap; overlap: the reverse; slo: the most "
        "traffic within every p99 target (simulated). Default: slo when the mix gives a latency "
        "field, else peak",
    )
    p.add_argument(
        "--split-replicas",
        action="store_true",
        help="let a model's copies sit apart (one handle per copy)",
    )
    p.add_argument(
        "--current",
        metavar="FILE",
        help="what runs now: a neuron-monitor JSON report, or a layout ncplace wrote "
        "(--format json); models stay where they run unless moving them lowers the peak",
    )
    name_option(p)
    switch_option(p)
    output_options(p, ("text", "json", "code", "launch", "k8s"))
    plot_option(p, "the layout")
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="plan for the rates the --current neuron-monitor report measured where they differ "
        "from the mix's (rate x measured / predicted load)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 4 when the plan is overloaded (peak core load above 1), after the output",
    )

    p = command(
        "compare",
        cmd_compare,
        "every placement technique scored side by side",
        "Lay the mix out with every baseline policy and the optimizer, "
        "and score them side by side.",
    )
    p.add_argument("mix", metavar="MIX", help="mix file (YAML or JSON)")
    solver_options(p, 5.0)
    p.add_argument("--no-optimizer", action="store_true", help="baselines only")
    switch_option(p)
    output_options(p, ("text", "json"))
    plot_option(p, "the comparison")

    p = command(
        "emulate",
        cmd_emulate,
        "the layout a scenario file produces",
        "Replay a scenario (processes, environments, loads) through the "
        "runtime emulator and show the layout.",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (YAML or JSON)")
    output_options(p, ("text", "json"))

    p = command(
        "replay",
        cmd_replay,
        "what existing deployment scripts do, scored",
        "Run deployment scripts as written against the emulator (stand-in torch, "
        "torch_neuron, torch_neuronx, neuronx_distributed, transformers_neuronx; modules "
        "not installed stand in too), one process each, in order, on one instance; score "
        "the layout right after the last load and show the optimizer's beside it. Each "
        "script runs in a sandboxed child process (no network, no subprocess, files written "
        "to a temporary folder), but its code runs: replay only scripts you would run.",
    )
    p.add_argument(
        "script",
        nargs="+",
        metavar="SCRIPT[:N]",
        help="Python script that loads the models; SCRIPT:N runs it as N processes "
        "(workers, instances, a launcher's copies), which get RANK/LOCAL_RANK 0..N-1 and "
        "WORLD_SIZE/LOCAL_WORLD_SIZE N",
    )
    p.add_argument(
        "--mix", required=True, metavar="MIX", help="mix file naming the models the script loads"
    )
    p.add_argument(
        "--env",
        action="append",
        type=_replay_env_item,
        metavar="[K:]NAME=VALUE",
        help="environment variable of every process, or of process K only (from 0, in the "
        "order the scripts run; repeatable)",
    )
    p.add_argument(
        "--entry",
        metavar="CLASS.METHOD",
        help="drive a server handler: import the script, then call CLASS().METHOD(context) with "
        "what TorchServe (context.system_properties['gpu_id'] = worker) and Triton (args"
        "['model_instance_name'] = <model>_0_<worker>) pass, e.g. ModelHandler.initialize",
    )
    p.add_argument(
        "--stub",
        action="append",
        metavar="NAME",
        help="stand in for module NAME even when it is installed (repeatable)",
    )
    p.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=60.0,
        metavar="S",
        help="give up on a script that runs longer than S seconds (default 60)",
    )
    p.add_argument(
        "--framework",
        choices=FRAMEWORKS,
        help="runtime framework (default: what the script imports)",
    )
    solver_options(p, 10.0)
    deterministic_option(p)
    p.add_argument("--no-optimizer", action="store_true", help="score the script only")
    output_options(p, ("text", "json"))
    plot_option(p, "the replayed layout")

    p = command(
        "observe",
        cmd_observe,
        "the layout running now, from a neuron-monitor report",
        "Read a neuron-monitor JSON report (one report, or its output stream: "
        "the last report is read) and show which model copies run on which cores, each "
        "core's measured utilization and, with --mix, the load the mix predicts and the "
        "layout's score.",
    )
    p.add_argument("report", metavar="REPORT", help="neuron-monitor JSON output")
    p.add_argument("--mix", metavar="MIX", help="mix file of the running models")
    p.add_argument(
        "--instance",
        metavar="NAME",
        help="instance type (default: the mix's, else the report's)",
    )
    name_option(p)
    output_options(p, ("text", "json"))
    plot_option(p, "the layout")

    p = command(
        "instances",
        cmd_instances,
        "the instance catalogue",
        "The instance types ncplace knows.",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")

    from .fleet.cli import add_parser as add_fleet_parser

    add_fleet_parser(sub, common)
    return parser


MESSAGE_LIMIT = 1000
"""Longest error line printed; the value quoting (:func:`ncplace.errors.value_text`) keeps real
messages far shorter, this only bounds what no check foresaw."""


_LONG_WORD = re.compile(rf"\S{{{VALUE_TEXT_LIMIT + 1},}}")


def _cut_word(match: re.Match[str]) -> str:
    """A run of more than :data:`~ncplace.errors.VALUE_TEXT_LIMIT` characters without a space
    (a long value quoted by a check that does not shorten it), cut to that length."""
    return match.group()[: VALUE_TEXT_LIMIT - 3] + "..."


def _fail(message: str, debug: bool, code: int) -> int:
    if debug:
        traceback.print_exc()
    text = _LONG_WORD.sub(_cut_word, printable_text(one_line(message)))
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 3] + "..."
    sys.stderr.write(f"ncplace: error: {text}\n")
    sys.stderr.flush()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ncplace`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    started = time.perf_counter()
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(arguments)
    except UsageError as exc:
        return _fail(str(exc), False, EXIT_USAGE)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if args.command is None:
        return _fail(
            "a command is required: recommend, compare, emulate, replay, observe, instances or "
            "fleet "
            "(see 'ncplace --help')",
            False,
            EXIT_USAGE,
        )
    debug = bool(getattr(args, "debug", False))
    args.started = started
    interrupts = _Interrupts()
    try:
        with interrupts:
            _check_outputs(args)
            status = int(args.func(args))
        return EXIT_INTERRUPTED if interrupts.count else status
    except (Infeasible, InfeasibleMix) as exc:
        return _fail(str(exc), debug, EXIT_INFEASIBLE)
    except Error as exc:
        return _fail(str(exc), debug, EXIT_USAGE)
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        sys.stderr.write("ncplace: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: say so in one line, traceback with --debug
        return _fail(
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            debug,
            EXIT_INTERNAL,
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
