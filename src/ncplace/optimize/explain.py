"""Why a mix cannot be placed: the models and the rule, with the arithmetic.

Two steps. :func:`precheck` catches the rules a single model breaks on its own (a block wider
than the instance, a pinned block running past the last core) without any solve. Otherwise, once
CP-SAT proves the mix infeasible, :func:`diagnose` shrinks it by deletion: it drops each model,
then each remaining rule (``exclusive``, ``start``, ``memory``) in turn, and keeps the drop when
the rest is still infeasible. What remains is a minimal set of models and rules that cannot all
hold (minimal as far as each check finished within its time share), and :func:`describe` states
it with the numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .problem import ModelData, Problem

Keep = dict[int, set[str]]
RULES = ("exclusive", "start", "memory")


def _width_text(m: ModelData) -> str:
    r = m.replicas[0]
    text = f"{r} cop{'y' if r == 1 else 'ies'} x {m.cores} core(s) = {m.min_width} cores"
    return ("at least " + text) if len(m.replicas) > 1 else text


def precheck(problem: Problem) -> str | None:
    """A one-model reason the mix cannot fit, or None."""
    n = problem.cores
    name = problem.mix.instance.name
    mode = "side by side" if problem.split else "in one block"
    for m in problem.models:
        if m.min_width > n:
            return (
                f"model {m.name!r}: block width: {_width_text(m)} {mode}, but {name} has {n} "
                f"cores"
            )
        if m.start is not None and m.start + m.min_width > n:
            return (
                f"model {m.name!r}: start: pinned at core {m.start}, its {m.min_width}-core "
                f"block would end at core {m.start + m.min_width - 1}, past core {n - 1}, the "
                f"last of {name}"
            )
    return None


def _rules_of(m: ModelData) -> set[str]:
    rules = set()
    if m.exclusive:
        rules.add("exclusive")
    if m.start is not None:
        rules.add("start")
    if m.memory:
        rules.add("memory")
    return rules


def diagnose(
    problem: Problem,
    infeasible: Callable[[Problem], bool],
    deadline: float,
) -> Keep:
    """A small set of models and their rules that is still infeasible (see module doc).

    ``infeasible(p)`` must return True only when ``p`` is proven infeasible. Stops shrinking at
    ``deadline`` (a ``time.perf_counter()`` value) and returns what it has.
    """
    keep: Keep = {m.index: _rules_of(m) for m in problem.models}
    for m in reversed(problem.models):
        if time.perf_counter() >= deadline:
            return keep
        trial = {i: set(r) for i, r in keep.items() if i != m.index}
        if trial and infeasible(problem.reduced(trial)):
            keep = trial
    for i in sorted(keep):
        for rule in sorted(keep[i]):
            if time.perf_counter() >= deadline:
                return keep
            trial = {j: set(r) for j, r in keep.items()}
            trial[i].discard(rule)
            if infeasible(problem.reduced(trial)):
                keep = trial
    return keep


def describe(problem: Problem, keep: Keep) -> str:
    """The models and rules of ``keep`` and the arithmetic that rules them out together."""
    inst = problem.mix.instance
    models = [m for m in problem.models if m.index in keep]
    mix_models = {m.name: problem.mix.models[m.index] for m in models}
    items = []
    for m in models:
        rules = keep[m.index]
        bits = [_width_text(m)]
        if "exclusive" in rules:
            bits.append("exclusive")
        if "start" in rules and m.start is not None:
            bits.append(f"pinned at core {m.start}")
        if "memory" in rules:
            gib = mix_models[m.name].memory_gib or 0.0
            bits.append(f"{gib:g} GiB per copy = {gib / m.cores:g} GiB per core")
        items.append(f"{m.name!r} ({', '.join(bits)})")
    used_rules = sorted({r for m in models for r in keep[m.index]})
    text = (
        f"no layout of {inst.name} ({inst.cores} cores) meets the {'/'.join(used_rules) or 'block'} "
        f"rule(s) of {', '.join(items)}"
    )
    facts = []
    exclusive = [m for m in models if "exclusive" in keep[m.index]]
    if exclusive:
        others = [m for m in models if m not in exclusive]
        widths = [m.min_width for m in exclusive]
        need = sum(widths)
        fact = (
            f"exclusive blocks need {' + '.join(map(str, widths))} = {need} core(s) to "
            f"themselves"
        )
        if others:
            widest = max(others, key=lambda m: m.min_width)
            fact += (
                f", and {widest.name!r} needs {widest.min_width} more: {need + widest.min_width}"
                f" {'>' if need + widest.min_width > inst.cores else '<='} {inst.cores} cores"
            )
        else:
            fact += f" of {inst.cores}"
        facts.append(fact)
    pinned = [m for m in models if "start" in keep[m.index] and m.start is not None]
    if pinned:
        facts.append(
            "pinned blocks occupy "
            + ", ".join(
                f"{m.name!r} cores {m.start}..{m.start + m.min_width - 1}"  # type: ignore[operator]
                for m in pinned
            )
        )
    memory = [m for m in models if "memory" in keep[m.index]]
    if memory:
        parts = []
        total = 0.0
        for m in memory:
            gib = mix_models[m.name].memory_gib or 0.0
            total += gib * m.replicas[0]
            parts.append(f"{m.replicas[0]} x {gib:g}")
        facts.append(
            f"memory: {' + '.join(parts)} = {total:g} GiB to spread over chips of "
            f"{inst.cores_per_chip} cores and {inst.chip_memory_gib:g} GiB each, at "
            f"{', '.join(f'{(mix_models[m.name].memory_gib or 0.0) / m.cores:g}' for m in memory)}"
            f" GiB per core"
        )
    if facts:
        text += ": " + "; ".join(facts)
    return text
