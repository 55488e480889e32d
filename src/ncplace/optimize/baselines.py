"""The baseline policies as a floor for the optimizer.

Every policy of :data:`ncplace.policies.POLICIES` that can express the mix gives a layout. A
baseline counts when the scorer finds it feasible, it honours every pinned ``start`` (the scorer
does not know pins) and it places the copy counts the mix allows (``replicas``: the integer, or
within the range). The last rule leaves out ``multicore``, which replicates every model on every
core whatever ``replicas`` says: its lower peak is bought with copies the user did not ask for
(and their memory and model switching); with ``replicas="auto"`` the optimizer may choose as many.

The best baseline, in the order of the chosen objective, hints the solver when it fits the block
model, and is returned instead of the solver's layout whenever that layout is worse (a time-out,
or a mix whose best layout needs copies apart).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import Error
from ..layout import Layout
from ..mix import Mix
from ..score import Score, score


@dataclass(frozen=True)
class Baseline:
    name: str
    layout: Layout
    score: Score


def rank(s: Score, objective: str) -> tuple[float, float]:
    """The lexicographic key of the first two objectives (smaller is better)."""
    if objective == "overlap":
        return (float(s.overlap), s.peak_load)
    return (s.peak_load, float(s.overlap))


def better(a: Score, b: Score, objective: str, tol: float = 1e-9) -> bool:
    """True when ``a`` beats ``b`` on the first two objectives by more than ``tol``."""
    ka, kb = rank(a, objective), rank(b, objective)
    if ka[0] < kb[0] - tol:
        return True
    if ka[0] > kb[0] + tol:
        return False
    return ka[1] < kb[1] - tol


def pins_kept(layout: Layout, mix: Mix) -> bool:
    """Every pinned model's lowest core is its ``start``."""
    for m in mix.models:
        if m.start is None:
            continue
        cores = [c for p in layout.placements_of(m.name) for c in p.cores]
        if not cores or min(cores) != m.start:
            return False
    return True


def copies_allowed(layout: Layout, mix: Mix) -> bool:
    """Every model has as many copies as its ``replicas`` allows."""
    from .problem import replica_range

    counts = dict.fromkeys(mix.names, 0)
    for p in layout.placements:
        if p.model in counts:
            counts[p.model] += len(p.replicas)
    return all(counts[m.name] in replica_range(mix, i) for i, m in enumerate(mix.models))


def run_baselines(
    mix: Mix, deadline: float | None = None, given: Mapping[str, Layout] | None = None
) -> list[Baseline]:
    """The feasible baselines of ``mix``, in registry order. With a ``deadline``
    (``time.perf_counter()`` seconds) no policy is started after it once one feasible baseline
    is found, nor one whose copies alone would take it past the deadline
    (:func:`ncplace.policies.ends_past`): on the wall clock a big mix keeps time for the search
    (the plan is then never worse than the baselines tried), and still has a layout to fall back
    on; the policies then run in :func:`ncplace.policies.run_order`, the likeliest to be
    feasible first. ``given``: the
    policies' layouts already made (name to layout, as ``ncplace recommend``'s comparison table
    has them), used instead of running those policies again."""
    try:
        from ..policies import (  # type: ignore[import-not-found,unused-ignore]
            POLICIES,
            ends_past,
            run_order,
        )
    except ImportError:
        return []
    registry = dict(POLICIES)
    found: dict[str, Baseline] = {}
    for name in registry if deadline is None else run_order(registry):
        policy = registry[name]
        if given is not None and name not in given:
            continue
        if deadline is not None and found:
            if time.perf_counter() > deadline:
                break
            if given is None and ends_past(policy, mix, deadline):
                continue
        try:
            layout = policy(mix) if given is None else given[name]
            # The cheap checks first: scoring a layout the optimizer cannot use is wasted (on
            # 10,000 models on 256 cores, multicore's 2.56 million copies took seconds to score).
            if not (pins_kept(layout, mix) and copies_allowed(layout, mix)):
                continue
            s = score(layout, mix)
        except Error:
            continue
        if s.feasible:
            found[name] = Baseline(str(name), layout, s)
    return [found[name] for name in registry if name in found]


def best(baselines: list[Baseline], objective: str) -> Baseline | None:
    """The best baseline on the first two objectives (first in registry order on ties)."""
    top: Baseline | None = None
    for b in baselines:
        if top is None or better(b.score, top.score, objective):
            top = b
    return top
