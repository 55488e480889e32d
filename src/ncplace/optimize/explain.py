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

from collections.abc import Callable

from .problem import ModelData, Problem

Keep = dict[int, set[str]]
RULES = ("exclusive", "start", "memory")


def _n(count: int, word: str) -> str:
    if count == 1:
        return f"1 {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"


def _width_text(m: ModelData) -> str:
    r = m.replicas[0]
    text = f"{_n(r, 'copy')} x {_n(m.cores, 'core')} = {_n(m.min_width, 'core')}"
    return ("at least " + text) if len(m.replicas) > 1 else text


def precheck(problem: Problem) -> str | None:
    """A one-model reason the mix cannot fit, or None."""
    n = problem.cores
    name = problem.mix.instance.name
    mode = "side by side" if problem.split else "in one block"
    for m in problem.models:
        if m.min_width > n:
            return (
                f"model {m.name!r}: block width: {_width_text(m)} {mode}, but {name} has {n} cores"
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
    exhausted: Callable[[], bool],
) -> Keep:
    """A small set of models and their rules that is still infeasible (see module doc).

    ``infeasible(p)`` must return True only when ``p`` is proven infeasible. Stops shrinking as
    soon as ``exhausted()`` (its time budget, see :class:`.budget.Budget`) and returns what it has.
    """
    keep: Keep = {m.index: _rules_of(m) for m in problem.models}
    for m in reversed(problem.models):
        if exhausted():
            return keep
        trial = {i: set(r) for i, r in keep.items() if i != m.index}
        if trial and infeasible(problem.reduced(trial)):
            keep = trial
    for i in sorted(keep):
        for rule in sorted(keep[i]):
            if exhausted():
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
    rule_text = "/".join(used_rules) or "block"
    text = (
        f"no layout of {inst.name} ({inst.cores} cores) meets the {rule_text} rule(s) of "
        f"{', '.join(items)}"
    )
    facts = []
    n = inst.cores
    exclusive = [m for m in models if "exclusive" in keep[m.index]]
    others = [m for m in models if m not in exclusive]
    if exclusive:
        widths = [m.min_width for m in exclusive]
        need = sum(widths)
        sum_text = " + ".join(map(str, widths)) + (f" = {need}" if len(widths) > 1 else "")
        if others:
            widest = max(others, key=lambda m: m.min_width)
            total = need + widest.min_width
            if total > n:
                facts.append(
                    f"exclusive blocks need {sum_text} core(s) to themselves and {widest.name!r} "
                    f"needs {widest.min_width} more: {total} > {n} cores"
                )
        elif need > n:
            facts.append(f"exclusive blocks need {sum_text} > {n} cores")
    walls = [m for m in exclusive if "start" in keep[m.index] and m.start is not None]
    if walls:
        taken = {c for m in walls for c in range(m.start or 0, (m.start or 0) + m.min_width)}
        runs, run = [], 0
        for c in range(n):
            if c in taken:
                if run:
                    runs.append(run)
                run = 0
            else:
                run += 1
        if run:
            runs.append(run)
        held = ", ".join(
            f"{m.name!r} holds cores {m.start}..{m.start + m.min_width - 1}"  # type: ignore[operator]
            for m in walls
        )
        free = " and ".join(map(str, runs)) if runs else "no"
        fact = f"pinned and exclusive, {held}, leaving runs of {free} free core(s)"
        movable = [m for m in others if m.start is None]
        if movable:
            widest = max(movable, key=lambda m: m.min_width)
            fact += f"; {widest.name!r} needs {widest.min_width} consecutive cores"
        facts.append(fact)
    pinned = [
        m for m in models if "start" in keep[m.index] and m.start is not None and m not in walls
    ]
    if pinned:
        facts.append(
            "pinned blocks: "
            + ", ".join(
                f"{m.name!r} on cores {m.start}..{m.start + m.min_width - 1}"  # type: ignore[operator]
                for m in pinned
            )
        )
    memory = [m for m in models if "memory" in keep[m.index]]
    if memory:
        parts = []
        gib_total = 0.0
        for m in memory:
            gib = mix_models[m.name].memory_gib or 0.0
            gib_total += gib * m.replicas[0]
            parts.append(f"{m.replicas[0]} x {gib:g}")
        per_core = ", ".join(
            f"{(mix_models[m.name].memory_gib or 0.0) / m.cores:g}" for m in memory
        )
        facts.append(
            f"memory: {' + '.join(parts)} = {gib_total:g} GiB to fit on "
            f"{'chips' if inst.memory_cores == inst.cores_per_chip else 'memory banks'} of "
            f"{_n(inst.memory_cores, 'core')} holding {inst.pool_memory_gib:g} GiB each, at "
            f"{per_core} GiB per core"
        )
    if facts:
        text += ": " + "; ".join(facts)
    return text
