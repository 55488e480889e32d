"""Greedy packings of copies onto instances, core by core: the baselines and the starting point.

A :class:`Fill` is one instance of a type with every copy on it at a start core. It is built by
placing copies on consecutive cores so that each core's load stays within
:data:`~.copies.CAPACITY` and each chip's memory within the chip's, so a fill is a layout that
meets the target, not an estimate.

Baselines (what a user would do without a planner):

- :func:`one_per_model`: every model on instances of its own, the cheapest way one type holds its
  copies alone (one instance of the smallest type that fits, when one does);
- :func:`first_fit_decreasing`: copies largest first, each on the first open instance with room,
  else on a new instance of one type (the cheapest type the copy fits when it does not fit that
  one); the cheapest over the choice of type.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .copies import CAPACITY, CopyItem, TypeSpec


@dataclass(frozen=True)
class Fill:
    """One instance: ``specs[type]`` holding ``(item index, start core)`` pairs."""

    type: int
    copies: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Assignment:
    """A fleet: instances with their copies, and its price in micro-dollars per hour."""

    fills: tuple[Fill, ...]
    cost: int


class Bin:
    """An instance being filled: per-core load and per-chip memory in units."""

    def __init__(self, type_index: int, spec: TypeSpec) -> None:
        self.type = type_index
        self.spec = spec
        self.load = [0] * spec.cores
        self.memory = [0] * spec.instance.chips
        self.copies: list[tuple[int, int]] = []
        self.spare = CAPACITY
        """The most load any one core can still take: a copy heavier than this fits nowhere."""

    def start_for(self, item: CopyItem) -> int | None:
        """The lowest start core where ``item`` fits, or None."""
        cpc = self.spec.instance.cores_per_chip
        limit = CAPACITY - item.load
        chip_memory = self.spec.chip_memory
        for s in range(self.spec.cores - item.cores + 1):
            if any(self.load[c] > limit for c in range(s, s + item.cores)):
                continue
            if item.memory and any(
                self.memory[h] + item.memory * _overlap(s, item.cores, h, cpc) > chip_memory
                for h in range(s // cpc, (s + item.cores - 1) // cpc + 1)
            ):
                continue
            return s
        return None

    def add(self, index: int, item: CopyItem, start: int) -> None:
        cpc = self.spec.instance.cores_per_chip
        for c in range(start, start + item.cores):
            self.load[c] += item.load
        for h in range(start // cpc, (start + item.cores - 1) // cpc + 1):
            self.memory[h] += item.memory * _overlap(start, item.cores, h, cpc)
        self.copies.append((index, start))
        self.spare = CAPACITY - min(self.load)

    def fill(self) -> Fill:
        return Fill(self.type, tuple(self.copies))


def _overlap(start: int, cores: int, chip: int, cores_per_chip: int) -> int:
    lo = max(start, chip * cores_per_chip)
    hi = min(start + cores, (chip + 1) * cores_per_chip)
    return max(0, hi - lo)


def decreasing(items: Sequence[CopyItem], indices: Iterable[int]) -> list[int]:
    """``indices`` largest copy first: by energy, then memory, then catalogue order."""
    return sorted(indices, key=lambda i: (-items[i].energy, -items[i].memory, items[i].model, i))


def widest_first(items: Sequence[CopyItem], indices: Iterable[int]) -> list[int]:
    """``indices`` by cores per copy, then as :func:`decreasing`: multi-core copies claim the
    wide instances before one-core copies fill what is left."""
    return sorted(
        indices,
        key=lambda i: (-items[i].cores, -items[i].energy, -items[i].memory, items[i].model, i),
    )


def memory_first(items: Sequence[CopyItem], indices: Iterable[int]) -> list[int]:
    """``indices`` by memory per copy, then as :func:`decreasing`."""
    return sorted(
        indices,
        key=lambda i: (-items[i].cores * items[i].memory, -items[i].energy, items[i].model, i),
    )


ORDERS = {"largest first": decreasing, "widest first": widest_first, "memory first": memory_first}
"""The orders the fleet planner tries with first fit; the baseline is ``"largest first"``."""


def fits_type(fit: Sequence[int], items: Sequence[CopyItem], index: int, t: int) -> bool:
    return bool(fit[items[index].model] >> t & 1)


def cost_of(fills: Iterable[Fill], specs: Sequence[TypeSpec]) -> int:
    return sum(specs[f.type].price for f in fills)


def pack(
    items: Sequence[CopyItem],
    order: Sequence[int],
    specs: Sequence[TypeSpec],
    fit: Sequence[int],
    opener: int | None,
) -> list[Bin] | None:
    """First fit of ``order`` onto open instances; a copy that fits none opens an instance of
    type ``opener`` (of the cheapest type it fits when ``opener`` is None or does not take it).
    None when ``opener`` is given and a copy fits no new instance of it."""
    bins: list[Bin] = []
    for i in order:
        item = items[i]
        for b in bins:
            if b.spare >= item.load and fits_type(fit, items, i, b.type):
                start = b.start_for(item)
                if start is not None:
                    b.add(i, item, start)
                    break
        else:
            t = opener if opener is not None and fits_type(fit, items, i, opener) else None
            if t is None:
                t = cheapest_type(items, i, specs, fit)
            b = Bin(t, specs[t])
            start = b.start_for(item)
            if start is None:
                return None
            b.add(i, item, start)
            bins.append(b)
    return bins


def cheapest_type(
    items: Sequence[CopyItem], i: int, specs: Sequence[TypeSpec], fit: Sequence[int]
) -> int:
    """The cheapest type (then fewest cores, then first given) a copy fits on."""
    allowed = [t for t in range(len(specs)) if fits_type(fit, items, i, t)]
    return min(allowed, key=lambda t: (specs[t].price, specs[t].cores, t))


def assignment(bins: Iterable[Bin], specs: Sequence[TypeSpec]) -> Assignment:
    fills = tuple(b.fill() for b in bins)
    return Assignment(fills, cost_of(fills, specs))


def first_fit_decreasing(
    items: Sequence[CopyItem],
    specs: Sequence[TypeSpec],
    fit: Sequence[int],
    order_name: str = "largest first",
    subset: Sequence[int] | None = None,
) -> Assignment:
    """First fit decreasing of the copies ``subset`` (default all), opening one type: the
    cheapest result over the choice of type (types that another type dominates skipped: same
    chips, no less memory, no dearer)."""
    order = ORDERS[order_name](items, range(len(items)) if subset is None else subset)
    results = []
    for t in range(len(specs)):
        if _dominated(t, specs):
            continue
        bins = pack(items, order, specs, fit, t)
        if bins is not None:
            results.append(assignment(bins, specs))
    return min(results, key=lambda a: a.cost)


def _dominated(t: int, specs: Sequence[TypeSpec]) -> bool:
    a = specs[t].instance
    for u, other in enumerate(specs):
        b = other.instance
        same = (b.cores, b.cores_per_chip, b.framework) == (a.cores, a.cores_per_chip, a.framework)
        if (
            u != t
            and same
            and other.chip_memory >= specs[t].chip_memory
            and (other.price, u) < (specs[t].price, t)
        ):
            return True
    return False


def tighter(item: CopyItem, factor: float) -> CopyItem:
    """``item`` with its load divided by ``factor`` (at most a whole core): packing such copies
    leaves each core ``1 - factor`` of the target free."""
    load = min(CAPACITY, math.ceil(item.load / factor))
    return CopyItem(item.model, item.cores, load, item.memory, item.exclusive)


def one_per_model(
    items: Sequence[CopyItem], specs: Sequence[TypeSpec], fit: Sequence[int]
) -> Assignment:
    """Each model on instances of its own: for each model, the cheapest first-fit packing of its
    copies onto one type (a single instance of the cheapest type holding them all, when one
    does)."""
    by_model: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        by_model.setdefault(item.model, []).append(i)
    fills: list[Fill] = []
    for indices in by_model.values():
        best: Assignment | None = None
        for t in range(len(specs)):
            if not fits_type(fit, items, indices[0], t):
                continue
            bins = pack(items, indices, specs, fit, t)
            if bins is not None and all(b.type == t for b in bins):
                candidate = assignment(bins, specs)
                if best is None or candidate.cost < best.cost:
                    best = candidate
        assert best is not None  # the model fits some type, and copies fit an empty instance
        fills.extend(best.fills)
    return Assignment(tuple(fills), cost_of(fills, specs))


def downsize(
    current: Assignment, items: Sequence[CopyItem], specs: Sequence[TypeSpec], fit: Sequence[int]
) -> Assignment:
    """Each instance replaced by the cheapest type whose one instance holds its copies (first
    fit, largest first), when that is cheaper."""
    fills = []
    for f in current.fills:
        order = decreasing(items, (i for i, _ in f.copies))
        best = f
        for t in sorted(range(len(specs)), key=lambda t: specs[t].price):
            if specs[t].price >= specs[best.type].price:
                break
            if not all(fits_type(fit, items, i, t) for i in order):
                continue
            b = Bin(t, specs[t])
            placed = True
            for i in order:
                start = b.start_for(items[i])
                if start is None:
                    placed = False
                    break
                b.add(i, items[i], start)
            if placed:
                best = b.fill()
                break
        fills.append(best)
    return Assignment(tuple(fills), cost_of(fills, specs))
