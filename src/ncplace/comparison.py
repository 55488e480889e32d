"""Every placement technique scored side by side: :func:`compare` and :class:`Comparison`.

Each baseline policy lays the mix out through the runtime emulator; the optimizer (when asked)
adds a row ``optimized``; every layout is judged by the same pure :func:`~ncplace.score.score`.
A technique that cannot express the mix keeps its row, marked ``n/a`` with the reason.

Rows are sorted by feasibility (feasible, then infeasible layouts, then ``n/a``), then headroom
(highest first), then overlap, then chip crossings (lowest first), then name: the optimizer's own
priorities, so the first feasible row is the best.

When latency is judged (by default when the mix gives any latency field), every row with a layout
also gets two columns from :mod:`ncplace.latency`, measured the same way for every technique
(multicore's queueing gain and its switching cost both count): ``worst p99/slo``, the largest
simulated p99 over its target at today's traffic, and ``max scale``, alpha* from
:func:`~ncplace.latency.max_scale` (``-`` for an infeasible layout). Feasible rows are then sorted
by max scale (highest first), then worst p99/slo, before headroom.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import ConfigError, Error, check_deadline, check_type
from .layout import Layout, layout_to_dict
from .mix import Mix, Model
from .policies import POLICIES, describe, ends_past, run_order
from .processes import worker_slice_instance
from .score import Score, broken_rules, score

OPTIMIZED = "optimized"
COLUMNS = (
    "policy",
    "feasible",
    "peak load",
    "headroom",
    "worst p99/slo",
    "max scale",
    "overlap",
    "max copies/core",
    "idle cores",
    "chip crossings",
    "handles",
    "note",
)


LATENCY_COLUMNS = ("worst p99/slo", "max scale")


@dataclass(frozen=True)
class RowLatency:
    """A layout judged by latency: ``worst_ratio`` is the largest simulated ``p99 / slo`` over
    the models at today's traffic; ``max_scale`` is alpha* (None when the layout is infeasible,
    inf when no model has traffic). ``settled`` is False when a deadline stopped alpha*'s
    search: ``max_scale`` is then only the largest scale simulated to meet every target."""

    worst_ratio: float
    max_scale: float | None
    settled: bool = True

    def to_dict(self) -> dict[str, Any]:
        alpha = self.max_scale
        return {
            "worst_p99_slo": self.worst_ratio,
            "max_scale": None if alpha is None or math.isinf(alpha) else alpha,
            "max_scale_settled": self.settled,
        }


@dataclass(frozen=True)
class Row:
    """One technique's result: its layout and score, or the reason it cannot express the mix.

    ``plan`` holds the optimizer's ``Plan`` on the ``optimized`` row (status, bound, gap).
    """

    name: str
    layout: Layout | None
    score: Score | None
    reason: str | None = None
    description: str = ""
    plan: Any = None
    copies_note: str = ""
    latency: RowLatency | None = None

    @property
    def available(self) -> bool:
        """True when the technique produced a layout."""
        return self.layout is not None and self.score is not None

    @property
    def feasible(self) -> bool:
        """True when the layout breaks no hard rule (see :class:`~ncplace.score.Score`)."""
        return self.score is not None and self.score.feasible

    @property
    def note(self) -> str:
        """What a reader should know beyond the numbers: why ``n/a``, rules broken, plan status."""
        parts: list[str] = []
        if self.plan is not None:
            parts.append(_plan_note(self.plan))
        if self.score is None:
            parts.append(self.reason or "no layout")
            return "; ".join(p for p in parts if p)
        s = self.score
        if self.copies_note:
            parts.append(self.copies_note)
        parts += broken_rules(s)
        if s.peak_load > 1.0 + 1e-9:
            parts.append("overloaded (peak load > 1)")
        return "; ".join(p for p in parts if p)

    def sort_key(self, by_latency: bool = False) -> tuple[int, float, float, float, int, int, str]:
        """(feasible 0 / infeasible 1 / n/a 2, [-max scale, worst p99/slo,] -headroom, overlap,
        chip crossings, name): the optimizer's own priorities, so a row above another is better
        by the first that differs. The latency terms count only ``by_latency``."""
        if self.score is None:
            return (2, 0.0, 0.0, 0.0, 0, 0, self.name)
        alpha, worst = 0.0, 0.0
        if by_latency and self.latency is not None:
            alpha = -(self.latency.max_scale or 0.0)
            worst = self.latency.worst_ratio
        return (
            0 if self.score.feasible else 1,
            alpha,
            worst,
            -self.score.headroom,
            self.score.overlap,
            self.score.chip_crossings,
            self.name,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (``headroom`` of an empty layout is ``None``)."""
        return {
            "policy": self.name,
            "description": self.description,
            "available": self.available,
            "feasible": self.feasible if self.available else None,
            "reason": self.reason,
            "note": self.note,
            "score": self.score.to_dict() if self.score is not None else None,
            "layout": layout_to_dict(self.layout) if self.layout is not None else None,
            "plan": _plan_to_dict(self.plan) if self.plan is not None else None,
            "latency": self.latency.to_dict() if self.latency is not None else None,
        }


@dataclass(frozen=True)
class Comparison:
    """The rows of :func:`compare`, best first; ``latency`` when rows were judged (and sorted)
    by latency too; ``note`` says what a deadline left out (empty when nothing)."""

    mix: Mix
    rows: tuple[Row, ...]
    latency: bool = False
    note: str = ""

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rows)

    def row(self, name: str) -> Row:
        """The row called ``name`` (``KeyError`` listing the rows when there is none)."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r}; rows: {', '.join(self.names)}")

    def best(self, feasible_only: bool = True) -> Row | None:
        """The first row in sort order with a layout (a feasible one unless told otherwise).

        ``None`` when no row qualifies: nothing found is explicit, never a silent fallback.
        """
        for r in self.rows:
            if r.available and (r.feasible or not feasible_only):
                return r
        return None

    def to_markdown(self) -> str:
        """A markdown table: one line per row, ``n/a`` with the reason where a technique fails."""
        columns = [c for c in COLUMNS if self.latency or c not in LATENCY_COLUMNS]
        lines = [
            "| " + " | ".join(columns) + " |",
            "| " + " | ".join(["---", "---"] + ["---:"] * (len(columns) - 3) + ["---"]) + " |",
        ]
        for r in self.rows:
            if r.score is None:
                cells = [r.name, "n/a", *["-"] * (len(columns) - 3), r.note]
            else:
                s = r.score
                judged = _latency_cells(r.latency) if self.latency else []
                cells = [
                    r.name,
                    "yes" if s.feasible else "no",
                    f"{s.peak_load:.3f}",
                    "inf" if math.isinf(s.headroom) else f"{s.headroom:.2f}",
                    *judged,
                    str(s.overlap),
                    str(s.max_copies_per_core),
                    str(s.idle_cores),
                    str(s.chip_crossings),
                    str(s.handles),
                    r.note,
                ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        if self.note:
            lines += ["", f"Note: {self.note}."]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The mix (as a mix file writes it) and every row, JSON-ready."""
        rows = [r.to_dict() for r in self.rows]
        return {"mix": self.mix.to_dict(), "rows": rows, "note": self.note or None}

    def to_dataframe(self) -> Any:
        """A pandas DataFrame indexed by policy, one column per metric (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "Comparison.to_dataframe needs pandas; install it with: pip install pandas"
            ) from None
        records = []
        for r in self.rows:
            s = r.score
            record: dict[str, Any] = {
                "policy": r.name,
                "available": r.available,
                "feasible": r.feasible if r.available else None,
            }
            for key in _FRAME_METRICS:
                record[key] = getattr(s, key) if s is not None else None
            if self.latency:
                judged = r.latency.to_dict() if r.latency is not None else {}
                record["worst_p99_slo"] = judged.get("worst_p99_slo")
                record["max_scale"] = judged.get("max_scale")
            record["note"] = r.note
            records.append(record)
        return pd.DataFrame.from_records(records, index="policy")


_FRAME_METRICS = (
    "peak_load",
    "headroom",
    "overlap",
    "max_copies_per_core",
    "idle_cores",
    "exclusive_violations",
    "chip_crossings",
    "memory_overflow_gib",
    "handles",
    "largest_free_block",
)


def compare(
    mix: Mix,
    *,
    policies: Iterable[str] | Mapping[str, Callable[[Mix], Layout]] | None = None,
    optimizer: bool = True,
    time_limit: float = 5.0,
    seed: int = 0,
    latency: bool | None = None,
    switch_ms: float | None = None,
    deadline: float | None = None,
) -> Comparison:
    """Lay ``mix`` out with each policy (and the optimizer), score each, best first.

    ``policies``: ``None`` for every registered baseline (:data:`~ncplace.policies.POLICIES`),
    names of registered baselines, or a mapping ``name -> callable(mix) -> Layout`` of your own.
    A policy raising an :class:`~ncplace.errors.Error` gets an ``n/a`` row with the message as
    reason; any other exception is a bug and propagates. ``optimizer=True`` adds the row
    ``optimized`` from ``ncplace.optimize.optimize(mix, time_limit=..., seed=...)``.

    ``latency``: judge every layout by simulation too (``worst p99/slo`` and ``max scale``, see
    the module docstring) and sort by it; ``None`` (the default) does so when any model gives a
    latency field. ``switch_ms`` and ``seed`` go to the simulation.

    ``deadline`` (``time.perf_counter()`` seconds, as ``--time-limit`` sets it for ``ncplace
    compare`` and ``recommend``): when the whole comparison should end. Once a policy has given
    a feasible layout, no policy starts after :data:`TABLE_SHARE` of the time to it (those get
    an ``n/a`` row saying so; the likeliest to be feasible runs first,
    :func:`ncplace.policies.run_order`, and the optimizer does not start after the deadline
    either); the optimizer gets at most what is left, less
    :data:`JUDGE_SHARE` of it when latency is judged, and reuses the policies' layouts
    (``optimize(baselines=...)``); rows are judged by latency, best by busy time first, while
    the deadline has not passed (one row's judgement is not cut), and :attr:`Comparison.note`
    counts those left unjudged.
    """
    check_type(mix, Mix, "compare: mix")
    if latency is not None and not isinstance(latency, bool):
        raise ConfigError(f"compare: latency must be True, False or None, got {latency!r}")
    deadline = check_deadline(deadline, "compare")
    chosen = _resolve(policies)
    start = time.perf_counter()
    rows = _run_policies(chosen, mix, _at_share(start, deadline, TABLE_SHARE))
    if latency is None:
        latency = any(m.gives_latency for m in mix.models)
    late = deadline is not None and time.perf_counter() > deadline
    if optimizer and late and any(r.feasible for r in rows):
        rows.append(Row(OPTIMIZED, None, None, reason=NOT_RUN, description=OPTIMIZED_TEXT))
    elif optimizer:
        limit = time_limit
        if deadline is not None:
            from .optimize.limits import NO_TIME_S

            left = (deadline - time.perf_counter()) * (1.0 - (JUDGE_SHARE if latency else 0.0))
            limit = min(time_limit, max(NO_TIME_S, left))
        made = {r.name: r.layout for r in rows if r.layout is not None and _registered(r, chosen)}
        rows.append(_optimized_row(mix, limit, seed, made))
    note = ""
    if latency:
        rows.sort(key=lambda r: r.sort_key(False))
        rows = [_judge(r, mix, switch_ms, seed, deadline) for r in rows]
        unjudged = sum(r.layout is not None and r.latency is None for r in rows)
        if unjudged:
            note = f"{unjudged} layout(s) not judged by latency: the time limit had passed"
        if any(r.latency is not None and not r.latency.settled for r in rows):
            cut = "max scale >= x: the time limit stopped that layout's search for alpha* above x"
            note = f"{note}; {cut}" if note else cut
    ordered = sorted(rows, key=lambda r: r.sort_key(bool(latency)))
    return Comparison(mix, tuple(ordered), bool(latency), note)


TABLE_SHARE = 0.5
"""The part of the time to :func:`compare`'s deadline after which no further policy starts,
once one has a feasible layout."""
JUDGE_SHARE = 0.3
"""The part of the time left after the policies that :func:`compare` keeps for judging
latency, when it does."""


def _at_share(start: float, deadline: float | None, share: float) -> float | None:
    return None if deadline is None else start + share * (deadline - start)


def _run_policies(
    chosen: Mapping[str, Callable[[Mix], Layout]], mix: Mix, deadline: float | None
) -> list[Row]:
    """Every chosen policy's row, in the order given; once a row is feasible, ``n/a`` rows
    for the policies that would start after ``deadline`` or whose copies alone would take them
    past it (:func:`.policies.ends_past`). With a deadline the policies run in
    :func:`.policies.run_order`."""
    rows: dict[str, Row] = {}
    order = list(chosen) if deadline is None else run_order(chosen)
    for name in order:
        policy = chosen[name]
        feasible = any(r.feasible for r in rows.values())
        if deadline is not None and feasible and ends_past(policy, mix, deadline):
            late = time.perf_counter() > deadline
            reason = NOT_RUN if late else NOT_RUN_COPIES
            rows[name] = Row(name, None, None, reason=reason, description=describe(policy))
        else:
            rows[name] = _run(name, policy, mix)
    return [rows[name] for name in chosen]


def _registered(row: Row, chosen: Mapping[str, Callable[[Mix], Layout]]) -> bool:
    """The row's layout is the registered policy's, which the optimizer would run itself."""
    return POLICIES.get(row.name) is chosen[row.name]


NOT_RUN = "not run: the time limit had passed, and another policy had a feasible layout"
NOT_RUN_COPIES = (
    "not run: loading its copies would take it past the time limit, and another policy had a "
    "feasible layout"
)
OPTIMIZED_TEXT = "CP-SAT: explicit neuron_cores_context blocks minimising peak load, then overlap"


def _judge(
    row: Row, mix: Mix, switch_ms: float | None, seed: int, deadline: float | None = None
) -> Row:
    """``row`` with its :class:`RowLatency` (unchanged when it has no layout, or when the
    ``deadline`` has passed)."""
    from .latency.evaluate import first_run_fits, judge

    if row.layout is None or not first_run_fits(mix, deadline):
        return row
    today, bracket = judge(row.layout, mix, switch_ms, seed, deadline)
    if bracket is None:
        return replace(row, latency=RowLatency(today.worst_ratio, None))
    return replace(row, latency=RowLatency(today.worst_ratio, bracket.low, bracket.complete))


def _latency_cells(judged: RowLatency | None) -> list[str]:
    if judged is None:
        return ["-", "-"]
    alpha = judged.max_scale
    shown = "-" if alpha is None else "inf" if math.isinf(alpha) else f"{alpha:.2f}"
    if not judged.settled:
        shown = f">={shown}"
    return [f"{judged.worst_ratio:.2f}", shown]


def _resolve(
    policies: Iterable[str] | Mapping[str, Callable[[Mix], Layout]] | None,
) -> dict[str, Callable[[Mix], Layout]]:
    if policies is None:
        return dict(POLICIES)
    if isinstance(policies, Mapping):
        out = dict(policies)
    else:
        if isinstance(policies, str):
            policies = [policies]
        out = {}
        for name in policies:
            if name not in POLICIES:
                raise ConfigError(f"unknown policy {name!r}; known policies: {', '.join(POLICIES)}")
            out[name] = POLICIES[name]
    if OPTIMIZED in out:
        raise ConfigError(f"policy name {OPTIMIZED!r} is reserved for the optimizer's row")
    return out


def _run(name: str, policy: Callable[[Mix], Layout], mix: Mix) -> Row:
    description = describe(policy)
    try:
        layout = policy(mix)
    except Error as exc:
        return Row(name, None, None, reason=str(exc), description=description)
    return Row(
        name,
        layout,
        score(layout, mix),
        description=description,
        copies_note=copies_note(layout, mix),
    )


def copies_note(layout: Layout, mix: Mix, shown: int = 3) -> str:
    """Say which models a layout gives a copy count the mix does not allow (``""`` when none).

    A technique such as ``multicore`` replicates every model over every core whatever the mix
    asks; its lower peak load then comes from copies (and device memory) the user did not plan.
    In a pool of ``N`` workers each worker loads what the mix asks, on its slice of the cores.
    """
    placed = {name: 0 for name in mix.names}
    for p in layout.placements:
        if p.model in placed:
            placed[p.model] += len(p.replicas)
    workers = mix.workers or 1
    n = worker_slice_instance(mix).cores if mix.workers else mix.instance.cores
    each = f" in {workers} workers" if mix.workers else ""
    off = [
        f"{m.name} {placed[m.name]}{each} (asks {_asked(m, n)}{' each' if each else ''})"
        for m in mix.models
        if not workers * m.min_replicas <= placed[m.name] <= workers * m.max_replicas(n)
    ]
    if not off:
        return ""
    more = f" and {len(off) - shown} more" if len(off) > shown else ""
    return f"copies not as the mix asks: {', '.join(off[:shown])}{more}"


def _asked(model: Model, cores: int) -> str:
    low, high = model.min_replicas, model.max_replicas(cores)
    return str(low) if low == high else f"{low}-{high}"


def _optimized_row(
    mix: Mix, time_limit: float, seed: int, made: dict[str, Layout] | None = None
) -> Row:
    description = OPTIMIZED_TEXT
    try:
        from .optimize import optimize
    except ModuleNotFoundError as exc:
        if exc.name not in ("ncplace.optimize", "ortools"):
            raise
        return Row(
            OPTIMIZED, None, None, reason=f"optimizer unavailable: {exc}", description=description
        )
    try:
        given = made if made and mix.workers is None else None
        plan = optimize(mix, time_limit=time_limit, seed=seed, baselines=given)
    except Error as exc:
        return Row(OPTIMIZED, None, None, reason=str(exc), description=description)
    layout = plan.layout
    if layout is None:
        explanation = getattr(plan, "explanation", None)
        reason = f"no layout found ({_status(plan)})" + (f": {explanation}" if explanation else "")
        return Row(OPTIMIZED, None, None, reason=reason, description=description, plan=plan)
    return Row(OPTIMIZED, layout, score(layout, mix), description=description, plan=plan)


def _status(plan: Any) -> str:
    status = getattr(plan, "status", None)
    return str(getattr(status, "value", status))


def _plan_note(plan: Any) -> str:
    status = _status(plan)
    gap = getattr(plan, "gap", None)
    if status != "optimal" and isinstance(gap, (int, float)) and math.isfinite(gap) and gap > 0:
        return f"{status}, gap {gap:.1%}"
    scope = getattr(plan, "bound_scope", "every layout")
    if status == "optimal" and scope != "every layout":
        return f"optimal among layouts with {scope}"
    return status


def _plan_to_dict(plan: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"status": _status(plan)}
    for key in ("objective", "bound", "gap", "runtime_s"):
        value = getattr(plan, key, None)
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
