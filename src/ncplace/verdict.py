"""What a layout's peak load means for the traffic, in words every output shares.

A core is busy ``load`` of the time (see :class:`~ncplace.score.Score`), so the busiest core at
``peak`` leaves all traffic room to grow by ``1 / peak - 1`` before it saturates. Past 1 the
layout is *overloaded*: requests queue without bound, whatever the solver proved about it being
the best of its kind. Then a model of demand ``d`` (``rate / throughput``) needs at least
``ceil(d)`` copies, each carrying ``d / copies <= 1`` even on a core of its own; and the mix as a
whole needs ``sum_m cores_m d_m`` cores' worth of busy time, more than the instance has when the
traffic cannot fit however the copies are placed.
"""

from __future__ import annotations

import math

from .errors import one_line
from .layout import Layout
from .mix import Mix
from .score import OVERLOAD_TOLERANCE, Score

SHOWN_MODELS = 3


def short_copies(layout: Layout, mix: Mix) -> list[tuple[str, int, int]]:
    """``(model, copies needed, copies placed)`` for each model with fewer copies in ``layout``
    than ``ceil(demand)``, the fewest that keep each copy at most fully busy."""
    placed: dict[str, int] = {}
    for model, _ in layout.copies():
        placed[model] = placed.get(model, 0) + 1
    short = []
    for m in mix.models:
        needed = math.ceil(m.demand - OVERLOAD_TOLERANCE)
        if m.name in placed and placed[m.name] < needed:
            short.append((m.name, needed, placed[m.name]))
    return short


def overload_text(score: Score, layout: Layout, mix: Mix) -> str | None:
    """``OVERLOADED: peak core load 4.17; resnet50 needs at least 9 copies; try replicas:
    auto``, or None when ``score`` is not overloaded. Says which models have too few copies
    and, when the instance cannot carry the traffic at all, by how much."""
    if not score.overloaded:
        return None
    parts = [f"OVERLOADED: peak core load {score.peak_load:.3g}"]
    short = short_copies(layout, mix)
    for name, needed, _ in short[:SHOWN_MODELS]:
        parts.append(f"{one_line(name)} needs at least {needed} copies")
    if len(short) > SHOWN_MODELS:
        parts.append(f"{len(short) - SHOWN_MODELS} more model(s) need more copies")
    need = sum(m.cores * m.demand for m in mix.models)
    inst = mix.instance
    if need > inst.cores * (1 + OVERLOAD_TOLERANCE):
        parts.append(
            f"the traffic needs {need:.3g} cores' worth of busy time (cores x rate / throughput "
            f"summed) but {inst.name} has {inst.cores} cores: a larger instance or less traffic"
        )
    elif any(mix[name].fixed_replicas for name, _, _ in short):
        parts.append("try replicas: auto")
    else:
        parts.append("spread the busiest models over more cores")
    return "; ".join(parts)


def room_text(score: Score, layout: Layout, mix: Mix) -> str:
    """The absolute room the layout leaves: ``the busiest core is at 75%: all traffic can grow
    33% before it saturates``, or the :func:`overload_text` when there is none."""
    peak = score.peak_load
    overload = overload_text(score, layout, mix)
    if overload is not None:
        return overload + "."
    if peak <= 0:
        return "No core carries load: the mix gives no traffic (rate) to measure room by."
    if peak >= 1 - OVERLOAD_TOLERANCE:
        return "The busiest core is at 100%: any more traffic saturates it."
    growth = 100 * (1 / peak - 1)
    return (
        f"The busiest core is at {100 * peak:.0f}%: all traffic can grow "
        f"{growth:.{0 if growth >= 1 else 1}f}% before it saturates."
    )
