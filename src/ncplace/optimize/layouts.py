"""Between layouts and assignments: reading a layout into the block model, writing one out.

An *assignment* maps a model index to ``(copies, starts)``: the block start in block mode, or the
start of each copy (ascending) in split mode. The optimizer's layout is one process owning the
span from the lowest to the highest used core (``NEURON_RT_VISIBLE_CORES="a-b"``), with one
placement per model (its copies round-robin behind one handle) or, in split mode, one per copy.
A mix with processes (declared, or tensor-parallel servers) gets one process per range instead
(:func:`.processes.process_layout`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from ..layout import Layout, Placement, ProcessSpan
from ..mix import Mix
from .problem import Assignment, Problem
from .processes import process_env, process_layout


def visible_cores(lo: int, hi: int) -> str:
    """``NEURON_RT_VISIBLE_CORES`` for cores ``lo..hi``."""
    return str(lo) if lo == hi else f"{lo}-{hi}"


def one_process(mix: Mix, placements: list[Placement]) -> Layout:
    """A layout of one process owning the used span, with ``placements`` in it."""
    used = [c for p in placements for c in p.cores]
    lo, hi = (min(used), max(used)) if used else (0, mix.instance.cores - 1)
    span = ProcessSpan(tuple(range(lo, hi + 1)), (), process_env(mix.instance, range(lo, hi + 1)))
    return Layout(mix.instance, (span,), tuple(placements))


def layout_from(problem: Problem, assignment: Mapping[int, Assignment]) -> Layout:
    """The layout of an assignment (see the module doc)."""
    placements = []
    for m in problem.models:
        copies, starts = assignment[m.index]
        blocks = [tuple(range(s, s + m.cores)) for s in problem.copy_starts(m, copies, starts)]
        process = m.process or 0
        if problem.split:
            placements += [Placement(m.name, (block,), process) for block in blocks]
        else:
            placements.append(Placement(m.name, tuple(blocks), process))
    if problem.processes:
        return process_layout(problem.mix, problem.processes, placements)
    return one_process(problem.mix, placements)


def assignment_of(layout: Layout, problem: Problem) -> dict[int, Assignment] | None:
    """Read ``layout`` as an assignment of the block model, or None when it does not fit it.

    It fits when every model's copies are runs of ``k`` consecutive cores, their number is
    allowed, they do not share cores, and (block mode) they are back to back.
    """
    out: dict[int, Assignment] = {}
    for m in problem.models:
        copies = sorted(r for p in layout.placements_of(m.name) for r in p.replicas)
        if len(copies) not in m.replicas:
            return None
        starts = []
        for r in copies:
            if len(r) != m.cores or list(r) != list(range(r[0], r[0] + m.cores)):
                return None
            starts.append(r[0])
        if any(b < a + m.cores for a, b in itertools.pairwise(starts)):
            return None
        if not starts or starts[0] < 0 or starts[-1] + m.cores > problem.cores:
            return None
        if problem.split:
            out[m.index] = (len(copies), tuple(starts))
        else:
            if any(b != a + m.cores for a, b in itertools.pairwise(starts)):
                return None
            out[m.index] = (len(copies), (starts[0],))
    return out


def sort_symmetric(problem: Problem, assignment: dict[int, Assignment]) -> dict[int, Assignment]:
    """Permute the assignments of interchangeable models so their starts ascend in mix order
    (the order the symmetry-breaking constraints impose)."""
    groups: dict[tuple[object, ...], list[int]] = {}
    for m in problem.models:
        if m.key is not None:
            groups.setdefault(m.key, []).append(m.index)
    out = dict(assignment)
    for members in groups.values():
        values = sorted((assignment[i] for i in members), key=lambda a: (a[1][0], a))
        for i, value in zip(members, values, strict=True):
            out[i] = value
    return out


def explicit(layout: Layout, mix: Mix) -> Layout:
    """``layout`` rewritten as one process of explicit placements, keeping every copy's cores.

    Each model's copies that are back to back become one placement (one handle); the rest one
    placement per run. Core loads, and so the score's loads, are unchanged.
    """
    placements = []
    for name in mix.names:
        copies = sorted(r for p in layout.placements_of(name) for r in p.replicas)
        run: list[tuple[int, ...]] = []
        for r in copies:
            contiguous = list(r) == list(range(r[0], r[0] + len(r))) if r else False
            if run and contiguous and r[0] == run[-1][-1] + 1 and len(r) == len(run[-1]):
                run.append(r)
                continue
            if run:
                placements.append(Placement(name, tuple(run)))
            run = [r]
        if run:
            placements.append(Placement(name, tuple(run)))
    return one_process(mix, placements)
