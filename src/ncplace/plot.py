"""Pictures of layouts, comparisons and benchmark results (matplotlib).

Every function builds a :class:`matplotlib.figure.Figure` directly instead of going through
pyplot: no backend is selected globally, nothing is shown, and pyplot's registry does not keep the
figures alive. The same code therefore runs headless (tests, CI, ``path=`` saves a PNG) and in
notebooks, where the inline backend displays a returned Figure. Pass ``ax=`` to :func:`layout` to
draw into an axes of a figure of your own.

Text that comes from users (model names, policy names, titles, reasons) is made safe before it is
drawn: control characters become spaces, long text is cut with an ellipsis, and mathtext is off, so
a name such as ``"$x^"`` or ``"a\\nb"`` can neither break a figure nor wrap it.

Colours: :func:`model_colors` gives each model a colour that depends only on its name and on the
set of names drawn together (a hash picks a slot of the palette, collisions move to the next free
slot in name order; with a mix, the set is the mix's names), so every policy's picture of the same
mix colours a model alike.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.transforms import blended_transform_factory

from .errors import ConfigError
from .layout import Layout
from .mix import Mix
from .score import Score, score

__all__ = ["compare", "latency", "layout", "model_colors", "scaling"]

RGBA = tuple[float, float, float, float]
PALETTE: tuple[RGBA, ...] = tuple(
    to_rgba(colormaps["tab20"](i)) for i in [*range(0, 20, 2), *range(1, 20, 2)]
)
"""tab20 with its ten strong colours first, then their light companions."""

MAX_LEGEND_ENTRIES = 40
LEGEND_CHARS = 28
TITLE_CHARS = 90
FONT_SIZE = 7.0
_PAD_X = 0.06
_PAD_Y = 0.08
_BAND = 0.6
STATUS_MARKERS = {"optimal": "o", "feasible": "^", "infeasible": "X", "unknown": "s"}


def clean(text: object, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters (an ellipsis marks a cut)."""
    flat = "".join(ch if ch.isprintable() else " " for ch in str(text))
    flat = " ".join(flat.split())
    if limit < 1:
        return ""
    if len(flat) > limit:
        return flat[: limit - 1] + "\u2026"
    return flat


def model_colors(names: Iterable[str]) -> dict[str, RGBA]:
    """An RGBA colour per model name, stable for a given set of names.

    Up to 10 names use the palette's ten strong colours, more use all 20 (light companions
    included). Slot of a name: ``crc32(name) mod size``; names are placed in sorted order and a
    name whose slot is taken moves to the next free one. With more than 20 names colours repeat,
    by hash alone.
    """
    unique = sorted(dict.fromkeys(names))
    size = 10 if len(unique) <= 10 else len(PALETTE)
    taken: set[int] = set()
    out: dict[str, RGBA] = {}
    for name in unique:
        slot = zlib.crc32(name.encode("utf-8", "surrogatepass")) % size
        if len(unique) <= size:
            while slot in taken:
                slot = (slot + 1) % size
            taken.add(slot)
        out[name] = PALETTE[slot]
    return out


def _text_color(face: tuple[float, ...]) -> str:
    r, g, b = face[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _runs(cores: Iterable[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive cores as ``(first, last)``."""
    out: list[tuple[int, int]] = []
    for c in sorted(set(cores)):
        if out and c == out[-1][1] + 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


def _levels(copies: Sequence[tuple[str, tuple[int, ...]]], n: int) -> list[int]:
    """First-fit stacking: each copy takes the lowest level free on every core it uses."""
    used: list[set[int]] = [set() for _ in range(n)]
    levels = []
    for _, cores in copies:
        level = 0
        while any(level in used[c] for c in cores):
            level += 1
        for c in cores:
            used[c].add(level)
        levels.append(level)
    return levels


def _tick_step(n: int, per_chip: int) -> int:
    if n <= 16:
        return 1
    step = math.ceil(n / 16)
    return per_chip * math.ceil(step / per_chip) if per_chip <= step else step


def _save(fig: Figure, path: str | Path | None) -> None:
    if path is None:
        return
    target = Path(path)
    supported = fig.canvas.get_supported_filetypes()
    fmt = None if target.suffix.lower().lstrip(".") in supported else "png"
    try:
        fig.savefig(target, format=fmt, dpi=110)
    except OSError as exc:
        raise ConfigError(f"cannot write plot to {str(path)!r}: {exc.strerror or exc}") from None


def _legend(ax: Axes, colors: Mapping[str, RGBA], names: Sequence[str]) -> None:
    shown = list(names[:MAX_LEGEND_ENTRIES])
    handles: list[Any] = [Patch(facecolor=colors[name]) for name in shown]
    labels = [clean(name, LEGEND_CHARS) or "?" for name in shown]
    if len(names) > len(shown):
        handles.append(Patch(facecolor="none", edgecolor="none"))
        labels.append(f"+{len(names) - len(shown)} more")
    legend = ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        fontsize=FONT_SIZE,
        frameon=False,
        ncols=_legend_columns(len(names)),
        title="models",
        title_fontsize=FONT_SIZE,
    )
    legend.set_gid("models-legend")
    for text in legend.get_texts():
        text.set_parse_math(False)


def _legend_columns(entries: int) -> int:
    return 1 if entries <= 20 else 2


def _summary(s: Score) -> str:
    head = "inf" if math.isinf(s.headroom) else f"{s.headroom:.3g}x"
    text = f"peak load {s.peak_load:.3g}, headroom {head}, overlap {s.overlap}"
    return text if s.feasible else text + ", INFEASIBLE"


def layout(
    layout: Layout,
    mix: Mix | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    path: str | Path | None = None,
    measured: Sequence[float | None] | None = None,
) -> Figure:
    """Draw a layout: cores along x grouped by chip, copies as coloured blocks, processes above.

    Each model copy is one block per core it uses (``gid="copy"``, label = the model name), at a
    stacking level chosen first-fit, so copies sharing a core stack up. Above them: one band of
    process spans (``proc<i>``; hatched where no process owns a core) and, when any process has
    NeuronCore Groups, one band of groups (``ncg<j>``). Chip boundaries are vertical lines
    (``gid="chip-boundary"``) with ``chip <k>`` labels along the top.

    With a ``mix``, the layout is scored (so a mix that does not match raises the scorer's
    :class:`~ncplace.errors.Error`) and per-core load is drawn: as a panel of stacked bars, one
    colour per model, with a dashed line at load 1.0 (saturation); or, when drawing into a given
    ``ax``, as red shading behind each core. ``measured`` (a busy fraction per core, ``None``
    where unknown, as :attr:`ncplace.Observation.utilization` gives it) adds the load panel if
    needed and draws each core's measured load on it as a black bar (``gid="measured"``) beside
    the prediction. ``path`` saves a PNG.
    """
    if measured is not None and len(measured) != layout.instance.cores:
        raise ConfigError(
            f"plot.layout: measured has {len(measured)} value(s), the instance "
            f"{layout.instance.cores} cores"
        )
    inst = layout.instance
    n = inst.cores
    result = score(layout, mix) if mix is not None else None
    names = list(mix.names) if mix is not None else list(layout.models())
    colors = model_colors(names)

    if ax is None:
        copies = layout.copies()
        depth = max(_levels(copies, n), default=-1) + 1
        width = min(20.0, max(7.0, 3.5 + 0.22 * n))
        height = min(9.0, max(2.6, 1.4 + 0.32 * (depth + 2)))
        panel = mix is not None or measured is not None
        fig = Figure(figsize=(width, height + (1.8 if panel else 0.0)), layout="constrained")
        if panel:
            ax, load_ax = fig.subplots(
                2, 1, sharex=True, gridspec_kw={"height_ratios": [height, 1.8]}
            )
        else:
            ax, load_ax = fig.add_subplot(), None
    else:
        fig = ax.get_figure(root=True)  # type: ignore[assignment]
        load_ax = None

    _draw_layout(ax, layout, colors, _axes_width_inches(ax, _legend_columns(len(names))))
    if result is not None and load_ax is None:
        _shade_load(ax, result.loads)
    if load_ax is not None:
        _draw_load(load_ax, layout, mix, colors, result, measured)
    _legend(ax, colors, names)

    default = f"{inst.name}: {n} cores on {inst.chips} chip(s)"
    if result is not None:
        default += f"; {_summary(result)}"
    ax.set_title(
        clean(title if title is not None else default, TITLE_CHARS),
        fontsize=9,
        loc="left",
        parse_math=False,
        pad=14,
    )
    _save(fig, path)
    return fig


def _axes_width_inches(ax: Axes, legend_columns: int) -> float:
    """The axes' width on paper, less the room the legend outside it will take."""
    fig = ax.get_figure(root=True)
    assert fig is not None
    width = float(ax.get_position().width * fig.get_figwidth())
    return max(0.5, width - 1.9 * legend_columns)


def _draw_layout(ax: Axes, layout: Layout, colors: Mapping[str, RGBA], width_in: float) -> None:
    inst = layout.instance
    n, per_chip = inst.cores, inst.cores_per_chip
    copies = layout.copies()
    levels = _levels(copies, n)
    depth = max(levels, default=-1) + 1
    chars_per_core = (width_in / n) / (0.72 * FONT_SIZE / 72.0)

    for chip in range(inst.chips):
        if chip % 2:
            ax.axvspan(chip * per_chip - 0.5, (chip + 1) * per_chip - 0.5, color="0.95", zorder=0)
    for (model, cores), level in zip(copies, levels, strict=True):
        mine = set(cores)
        face = colors[model]
        for c in sorted(mine):
            left = c - 0.5 + (0.0 if c - 1 in mine else _PAD_X)
            right = c + 0.5 - (0.0 if c + 1 in mine else _PAD_X)
            rect = Rectangle(
                (left, level + _PAD_Y),
                right - left,
                1 - 2 * _PAD_Y,
                facecolor=face,
                edgecolor="none",
                label=model,
                gid="copy",
                zorder=2,
            )
            ax.add_patch(rect)
        for first, last in _runs(mine):
            chars = int(chars_per_core * (last - first + 1))
            text = clean(model, chars)
            if chars >= 3 and text:
                ax.text(
                    (first + last) / 2,
                    level + 0.5,
                    text,
                    ha="center",
                    va="center",
                    fontsize=FONT_SIZE,
                    color=_text_color(face),
                    parse_math=False,
                    clip_on=True,
                    gid="copy-label",
                    zorder=5,
                )

    top = max(depth, 1) + 0.3
    proc_y = top
    _draw_processes(ax, layout, proc_y, chars_per_core)
    ticks, tick_labels = [max(depth, 1) / 2, proc_y + _BAND / 2], ["copies", "processes"]
    top = proc_y + _BAND
    if any(p.groups for p in layout.processes):
        group_y = top + 0.15
        for proc in layout.processes:
            for j, group in enumerate(proc.groups):
                for first, last in _runs(group):
                    _band_span(
                        ax, first, last, group_y, f"ncg{j}", "group", "#fff3cd", chars_per_core
                    )
        ticks.append(group_y + _BAND / 2)
        tick_labels.append("groups")
        top = group_y + _BAND

    for k in range(1, inst.chips):
        ax.axvline(k * per_chip - 0.5, color="0.35", linewidth=1.0, gid="chip-boundary", zorder=4)
    label_every = max(1, math.ceil(inst.chips / 24))
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for chip in range(0, inst.chips, label_every):
        ax.text(
            chip * per_chip + (per_chip - 1) / 2,
            1.005,
            f"chip {chip}",
            transform=trans,
            ha="center",
            va="bottom",
            fontsize=FONT_SIZE,
            color="0.3",
            gid="chip-label",
        )

    step = _tick_step(n, per_chip)
    ax.set_xticks(range(n), minor=True)
    ax.set_xticks(range(0, n, step), [f"nc{c}" for c in range(0, n, step)], fontsize=FONT_SIZE)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(0, top + 0.15)
    ax.set_yticks(ticks, tick_labels, fontsize=FONT_SIZE)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _band_span(
    ax: Axes,
    first: int,
    last: int,
    y: float,
    text: str,
    gid: str,
    face: str,
    chars_per_core: float,
    hatch: str | None = None,
) -> None:
    ax.add_patch(
        Rectangle(
            (first - 0.5 + _PAD_X, y),
            last - first + 1 - 2 * _PAD_X,
            _BAND,
            facecolor=face,
            edgecolor="0.4",
            linewidth=0.8,
            hatch=hatch,
            gid=gid,
            zorder=2,
        )
    )
    label = clean(text, int(chars_per_core * (last - first + 1)))
    if label:
        ax.text(
            (first + last) / 2,
            y + _BAND / 2,
            label,
            ha="center",
            va="center",
            fontsize=FONT_SIZE,
            parse_math=False,
            clip_on=True,
            gid=f"{gid}-label",
            zorder=5,
        )


def _env_note(env: Mapping[str, str]) -> str:
    parts = [
        f"{k.removeprefix('NEURON_RT_').removeprefix('NEURONCORE_')}={v}"
        for k, v in sorted(env.items())
    ]
    return " ".join(parts)


def _draw_processes(ax: Axes, layout: Layout, y: float, chars_per_core: float) -> None:
    n = layout.instance.cores
    for i, proc in enumerate(layout.processes):
        note = _env_note(proc.env)
        text = f"proc{i} {note}" if note else f"proc{i}"
        for first, last in _runs(c for c in proc.cores if 0 <= c < n):
            _band_span(ax, first, last, y, text, "process", "#dde7f3", chars_per_core)
    owners = layout.owner()
    free = [c for c, o in enumerate(owners) if o is None]
    for first, last in _runs(free):
        _band_span(ax, first, last, y, "unallocated", "unallocated", "white", chars_per_core, "///")


def _shade_load(ax: Axes, loads: Sequence[float]) -> None:
    """Red shading behind each core, opacity growing with its load (full at load 1.5)."""
    for c, load in enumerate(loads):
        if load > 0:
            ax.axvspan(
                c - 0.5,
                c + 0.5,
                color="tab:red",
                alpha=0.35 * min(load, 1.5) / 1.5,
                linewidth=0,
                gid="load-shade",
                zorder=1,
            )


def _draw_load(
    ax: Axes,
    layout: Layout,
    mix: Mix | None,
    colors: Mapping[str, RGBA],
    result: Score | None,
    measured: Sequence[float | None] | None,
) -> None:
    """Stacked bars: core ``c``'s bar is the sum over copies on ``c`` of ``demand / copies``;
    ``measured`` loads as thin black bars to their right."""
    n = layout.instance.cores
    width = 0.9 if measured is None else 0.6
    offset = 0.0 if measured is None else -0.15
    if mix is not None:
        copies_of: dict[str, int] = {}
        for model, _ in layout.copies():
            copies_of[model] = copies_of.get(model, 0) + 1
        share: dict[str, list[float]] = {name: [0.0] * n for name in mix.names}
        for model, cores in layout.copies():
            for c in cores:
                if 0 <= c < n:
                    share[model][c] += mix[model].demand / copies_of[model]
        bottom = [0.0] * n
        for name in mix.names:
            xs = [c for c in range(n) if share[name][c] > 0]
            if xs:
                ax.bar(
                    [c + offset for c in xs],
                    [share[name][c] for c in xs],
                    bottom=[bottom[c] for c in xs],
                    width=width,
                    color=colors[name],
                    gid="load",
                )
                for c in xs:
                    bottom[c] += share[name][c]
    known = [] if measured is None else [(c, v) for c, v in enumerate(measured) if v is not None]
    if known:
        beside = mix is not None
        ax.bar(
            [c + (0.3 if beside else 0.0) for c, _ in known],
            [v for _, v in known],
            width=0.25 if beside else 0.6,
            color="0.15",
            gid="measured",
        )
    ax.axhline(1.0, color="tab:red", linestyle="--", linewidth=1.0, gid="load-limit")
    for k in range(1, layout.instance.chips):
        ax.axvline(
            k * layout.instance.cores_per_chip - 0.5,
            color="0.35",
            linewidth=1.0,
            gid="chip-boundary",
        )
    top = max([v for _, v in known], default=0.0)
    if result is not None:
        over = [c for c, load in enumerate(result.loads) if load > 1.0 + 1e-9]
        if over:
            ax.plot(
                [c + offset for c in over],
                [result.loads[c] for c in over],
                "v",
                color="tab:red",
                ms=4,
                gid="overload",
            )
        top = max(top, result.peak_load)
    ax.set_ylim(0, max(1.15, top * 1.12))
    label = "core load" if measured is None else "core load (black: measured)"
    ax.set_ylabel(label, fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _row_field(row: Any, name: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def compare(comparison: Any, path: str | Path | None = None, title: str | None = None) -> Figure:
    """Headroom and overlap per policy, side by side, one row per policy in the table's order.

    Takes a :class:`~ncplace.comparison.Comparison` (or any sequence of rows with ``name``,
    ``score`` and ``reason``). Headroom bars (``gid="headroom"``) carry a dashed line at 1.0: below
    it the busiest core is overloaded. An infeasible layout's bars are hatched grey and labelled
    ``infeasible``; a policy that cannot express the mix (no score) gets no bar and an ``n/a`` note
    with its reason (``gid="n/a"``). A row holding an optimizer ``plan`` shows the plan's status.
    """
    rows = list(getattr(comparison, "rows", comparison))
    if not rows:
        raise ConfigError("plot.compare: the comparison has no rows; expected at least one policy")
    names = [clean(_row_field(r, "name") or "?", 24) for r in rows]
    scores: list[Score | None] = [_row_field(r, "score") for r in rows]
    finite = [s.headroom for s in scores if s is not None and not math.isinf(s.headroom)]
    cap = max([1.0, *finite]) * 1.15

    fig = Figure(figsize=(9.0, 1.2 + 0.38 * len(rows)), layout="constrained")
    head_ax, over_ax = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    ys = list(range(len(rows)))
    max_overlap = max([1, *(s.overlap for s in scores if s is not None)])
    for y, row, s in zip(ys, rows, scores, strict=True):
        if s is None:
            reason = clean(_row_field(row, "reason") or "cannot express the mix", 60)
            for ax, xmax in ((head_ax, cap), (over_ax, max_overlap)):
                ax.text(
                    0.02 * xmax,
                    y,
                    f"n/a: {reason}" if ax is head_ax else "n/a",
                    va="center",
                    fontsize=FONT_SIZE,
                    color="0.4",
                    parse_math=False,
                    clip_on=True,
                    gid="n/a",
                )
            continue
        head = cap if math.isinf(s.headroom) else s.headroom
        style: dict[str, Any] = {"color": "tab:blue"}
        if not s.feasible:
            style = {"color": "0.75", "hatch": "///", "edgecolor": "0.3"}
        head_ax.barh(y, head, height=0.7, gid="headroom", **style)
        over_ax.barh(y, s.overlap, height=0.7, gid="overlap", **style)
        label = "inf" if math.isinf(s.headroom) else f"{s.headroom:.3g}x"
        if not s.feasible:
            label += "  infeasible"
        plan = _row_field(row, "plan")
        if plan is not None:
            label += f"  ({clean(_status(getattr(plan, 'status', '?')), 20)})"
        head_ax.text(head, y, " " + label, va="center", fontsize=FONT_SIZE, gid="headroom-value")
        over_ax.text(s.overlap, y, f" {s.overlap}", va="center", fontsize=FONT_SIZE)
    head_ax.axvline(1.0, color="tab:red", linestyle="--", linewidth=1.0, gid="headroom-limit")
    head_ax.set_xlim(0, cap * 1.25)
    over_ax.set_xlim(0, max_overlap * 1.3)
    head_ax.set_yticks(ys, names, fontsize=FONT_SIZE)
    for label in head_ax.get_yticklabels():
        label.set_parse_math(False)
    head_ax.set_ylim(len(rows) - 0.5, -0.5)
    head_ax.set_xlabel("headroom (1 / peak load; higher is better)", fontsize=FONT_SIZE)
    over_ax.set_xlabel(
        "overlap (extra copies on shared cores; lower is better)", fontsize=FONT_SIZE
    )
    for ax in (head_ax, over_ax):
        ax.tick_params(labelsize=FONT_SIZE)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.suptitle(clean(title or "policies compared", TITLE_CHARS), fontsize=9)
    _save(fig, path)
    return fig


SCALING_COLUMNS = ("cores", "models", "runtime_s", "status")


def _records(results: Any) -> list[dict[str, Any]]:
    if hasattr(results, "to_dict") and hasattr(results, "columns"):
        return [dict(r) for r in results.to_dict("records")]
    out = []
    for item in results:
        if isinstance(item, Mapping):
            out.append(dict(item))
        elif is_dataclass(item) and not isinstance(item, type):
            out.append(asdict(item))
        else:
            out.append({k: getattr(item, k) for k in dir(item) if not k.startswith("_")})
    return out


@dataclass(frozen=True)
class _WideMethod:
    """Where one method's solve sits in a ``benchmarks.run`` row: first present key wins."""

    name: str
    status: tuple[str, ...]
    time: tuple[str, ...]
    objective: str
    bound: str
    gap: str


WIDE_METHODS = (
    _WideMethod(
        "cp-sat",
        ("opt_block_status", "opt_status"),
        ("opt_peak_time", "opt_time"),
        "opt_block_peak",
        "opt_block_bound",
        "opt_gap",
    ),
    _WideMethod(
        "highs",
        ("highs_status",),
        ("highs_solve_time", "highs_time"),
        "highs_objective",
        "highs_bound",
        "highs_gap",
    ),
)


def _first(row: Mapping[str, Any], keys: Sequence[str]) -> Any:
    return next((row[k] for k in keys if k in row), None)


def _long_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``benchmarks.run`` rows (one per instance, columns per method) as one row per solve.

    A solve's gap is ``(objective - bound) / objective`` from its own columns when both are
    numbers, else its ``*_gap`` column.
    """
    if not rows or "runtime_s" in rows[0] or "opt_status" not in rows[0]:
        return rows
    out = []
    for row in rows:
        for method in WIDE_METHODS:
            status = _first(row, method.status)
            if status is None:
                continue
            objective, bound = _number(row.get(method.objective)), _number(row.get(method.bound))
            gap = _number(row.get(method.gap))
            if objective is not None and bound is not None and objective > 0:
                gap = max(0.0, (objective - bound) / objective)
            out.append(
                {
                    "cores": row.get("cores"),
                    "models": row.get("models"),
                    "runtime_s": _first(row, method.time),
                    "status": status,
                    "gap": gap,
                    "method": method.name,
                }
            )
    return out


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _status(value: Any) -> str:
    """A status as text: an Enum's value, else its string, lower case."""
    return str(getattr(value, "value", value)).lower()


def scaling(results: Any, path: str | Path | None = None, title: str | None = None) -> Figure:
    """Solve time against instance size, for benchmark results.

    ``results``: a pandas DataFrame or a sequence of dicts (or dataclasses), in one of two shapes:

    - long: one row per solve with ``cores``, ``models``, ``runtime_s`` and ``status`` (``gap``
      optional; a ``method`` or ``solver`` column, when present, gets its own colour);
    - the rows of ``benchmarks.run`` (or its CSV): one row per instance with ``opt_*`` and
      ``highs_*`` columns. Each becomes a ``cp-sat`` solve (the block model's first level:
      ``opt_block_status``, ``opt_peak_time``, ``opt_block_peak`` and ``opt_block_bound``;
      ``opt_status`` and ``opt_time`` when those are absent) and a ``highs`` solve
      (``highs_status``, ``highs_solve_time`` else ``highs_time``), both timed to the proven peak
      load, the time the two methods are compared on.

    Left: time (log scale) against the number of models; right: against cores (both on a log
    scale too when they span a factor of 8 or more). Marker by status
    (``o`` optimal, ``^`` feasible, ``X`` infeasible, ``s`` unknown); solves without a finite time
    or with another status (skipped, errors) are left out.
    """
    rows = _long_rows(_records(results))
    if not rows:
        raise ConfigError(
            "plot.scaling: no results; expected rows with " + ", ".join(SCALING_COLUMNS)
        )
    missing = [c for c in SCALING_COLUMNS if c not in rows[0]]
    if missing:
        raise ConfigError(
            f"plot.scaling: results lack column(s) {', '.join(missing)}; "
            f"expected {', '.join(SCALING_COLUMNS)} (gap optional)"
        )
    method_key = next((k for k in ("method", "solver") if k in rows[0]), None)
    methods = sorted({str(r[method_key]) for r in rows}) if method_key else [""]
    method_colors = {m: PALETTE[i % 10] for i, m in enumerate(methods)}
    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    models_ax, cores_ax = fig.subplots(1, 2, sharey=True)
    statuses: set[str] = set()
    plotted = 0
    for method in methods:
        for status, marker in STATUS_MARKERS.items():
            picked = [
                r
                for r in rows
                if _status(r["status"]) == status
                and (method_key is None or str(r[method_key]) == method)
                and _number(r["runtime_s"]) is not None
                and _number(r["cores"]) is not None
                and _number(r["models"]) is not None
            ]
            if not picked:
                continue
            statuses.add(status)
            plotted += len(picked)
            times = [max(float(r["runtime_s"]), 1e-4) for r in picked]
            for ax, key in ((models_ax, "models"), (cores_ax, "cores")):
                ax.scatter(
                    [float(r[key]) for r in picked],
                    times,
                    marker=marker,
                    color=method_colors[method],
                    alpha=0.75,
                    s=24,
                    gid=f"status-{status}",
                )
    for ax, key in ((models_ax, "models"), (cores_ax, "cores")):
        ax.set_yscale("log")
        values = sorted({v for r in rows if (v := _number(r[key])) is not None and v > 0})
        if values and values[-1] >= 8 * values[0]:
            ax.set_xscale("log", base=2)
        if 0 < len(values) <= 12:
            ax.set_xticks(values, [f"{v:g}" for v in values])
            ax.minorticks_off()
        ax.set_xlabel(key, fontsize=8)
        ax.tick_params(labelsize=FONT_SIZE)
        ax.grid(True, which="major", alpha=0.3)
    models_ax.set_ylabel("solve time (s, log)", fontsize=8)
    handles: list[Any] = [
        Line2D([], [], marker=STATUS_MARKERS[s], linestyle="", color="0.3", label=s)
        for s in STATUS_MARKERS
        if s in statuses
    ]
    if method_key:
        handles += [
            Line2D([], [], marker="o", linestyle="", color=method_colors[m], label=clean(m, 20))
            for m in methods
        ]
    if handles:
        legend = cores_ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=FONT_SIZE,
            frameon=False,
        )
        for text in legend.get_texts():
            text.set_parse_math(False)
    gaps = [_number(r.get("gap")) for r in rows]
    open_gaps = [g for g in gaps if g is not None and g > 1e-9]
    note = f"{plotted} solve(s)"
    if any(g is not None for g in gaps):
        worst = max(open_gaps, default=0.0)
        note += f"; {len(open_gaps)} with an open gap (worst {worst:.2%})"
    fig.suptitle(clean(title or f"solve time against size: {note}", TITLE_CHARS), fontsize=9)
    _save(fig, path)
    return fig


def latency(
    layout: Layout,
    mix: Mix,
    comparison: Any = None,
    *,
    scales: Sequence[float] | None = None,
    switch_ms: float | None = None,
    seed: int = 0,
    path: str | Path | None = None,
    title: str | None = None,
) -> Figure:
    """Each model's simulated p99 against traffic scale for ``layout``, and alpha* per policy.

    Left (``gid="p99"`` lines): p99 / target for each model at each of ``scales`` (default 12
    points up to the busy-time headroom, at most 1.5x or 1.3 alpha*), with the target (1.0,
    dashed) and today's traffic (scale 1, dotted); ratios above 3 are drawn at 3. Right
    (``gid="max-scale"`` bars): alpha* of each row of ``comparison`` (a
    :class:`~ncplace.comparison.Comparison` judged by latency; by default the baseline
    policies, judged here), ``n/a`` for a row without one. ``switch_ms`` and ``seed`` go to
    :func:`ncplace.simulate`.
    """
    from .comparison import compare as compare_policies
    from .latency import max_scale, simulate

    headroom = score(layout, mix).headroom
    if all(m.rate is None for m in mix.models):
        raise ConfigError("plot.latency: no model has rate and throughput; nothing to simulate")
    alpha = max_scale(layout, mix, switch_ms=switch_ms, seed=seed)
    if scales is None:
        top = min(headroom, max(1.5, 1.3 * alpha)) * 0.98
        scales = [top * (i + 1) / 12 for i in range(12)]
    runs = [simulate(layout, mix, switch_ms=switch_ms, seed=seed, scale=s) for s in scales]
    if comparison is None:
        comparison = compare_policies(
            mix, optimizer=False, latency=True, switch_ms=switch_ms, seed=seed
        )
    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    curve_ax, bar_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    colors = model_colors(mix.names)
    for i, model in enumerate(runs[0].models):
        ratios = [min(run.models[i].ratio, 3.0) for run in runs]
        curve_ax.plot(
            list(scales),
            ratios,
            marker=".",
            color=colors[model.name],
            gid="p99",
            label=clean(model.name, LEGEND_CHARS),
        )
    curve_ax.axhline(1.0, color="tab:red", linestyle="--", linewidth=1.0, gid="target")
    curve_ax.axvline(1.0, color="0.4", linestyle=":", linewidth=1.0, gid="today")
    curve_ax.axvline(alpha, color="tab:green", linewidth=1.0, gid="alpha")
    curve_ax.set_ylim(0, 3.1)
    curve_ax.set_xlabel(f"traffic scale (alpha* = {alpha:.2f}x, green)", fontsize=FONT_SIZE)
    curve_ax.set_ylabel("simulated p99 / target", fontsize=FONT_SIZE)
    legend = curve_ax.legend(fontsize=FONT_SIZE, frameon=False, loc="upper left")
    for text in legend.get_texts():
        text.set_parse_math(False)
    _draw_max_scales(bar_ax, list(getattr(comparison, "rows", comparison)))
    for ax in (curve_ax, bar_ax):
        ax.tick_params(labelsize=FONT_SIZE)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.suptitle(clean(title or "latency against traffic", TITLE_CHARS), fontsize=9)
    _save(fig, path)
    return fig


def _draw_max_scales(ax: Axes, rows: list[Any]) -> None:
    """Horizontal bars of alpha* per row (rows without a layout or latency say so)."""
    names = [clean(_row_field(r, "name") or "?", 24) for r in rows]
    values = []
    for r in rows:
        judged = _row_field(r, "latency")
        alpha = None if judged is None else judged.max_scale
        values.append(alpha if alpha is not None and math.isfinite(alpha) else None)
    top = max([1.0, *(v for v in values if v is not None)]) * 1.3
    for y, value in enumerate(values):
        if value is None:
            ax.text(0.02 * top, y, "n/a", va="center", fontsize=FONT_SIZE, color="0.4", gid="n/a")
            continue
        ax.barh(y, value, height=0.7, color="tab:blue", gid="max-scale")
        ax.text(value, y, f" {value:.2f}x", va="center", fontsize=FONT_SIZE)
    ax.axvline(1.0, color="0.4", linestyle=":", linewidth=1.0)
    ax.set_xlim(0, top)
    ax.set_yticks(range(len(rows)), names, fontsize=FONT_SIZE)
    for label in ax.get_yticklabels():
        label.set_parse_math(False)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("max scale alpha* (simulated; higher is better)", fontsize=FONT_SIZE)
