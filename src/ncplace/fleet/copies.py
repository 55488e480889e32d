"""What the fleet packs: model copies with integer loads, and instance types with integer
capacities.

Target. ``target_scale = X`` asks every core of every instance to stay at load ``<= 1/X``: the
fleet then absorbs traffic ``X`` times the catalogue's before its busiest core saturates
(headroom ``>= X``). Loads are counted in units of that target: one core holds
:data:`CAPACITY` units.

Copies. Model ``m`` (demand ``d_m = rate / throughput``, 1.0 when unknown, ``k_m`` cores) gets
``n_m = max(min_replicas_m, ceil(d_m X))`` copies, the fewest whose per-copy load ``d_m / n_m``
meets the target; traffic is shared evenly by its copies wherever they run (a load balancer
routes ``1/n_m`` of the requests to each), so a hot model's copies may span several instances.
A copy puts ``ceil(CAPACITY d_m X / n_m)`` units on each of its cores (rounded up, so that a
packing that fits in units fits in load), an ``exclusive`` copy all ``CAPACITY`` units (no other
copy may share its cores), and ``memory_gib / k_m`` on each core, in 2^-20 GiB rounded up
against the chip's memory rounded down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

from ..errors import ConfigError, key_text
from ..hardware import Instance
from ..mix import Mix, Model
from .catalogue import Catalogue, PriceList

CAPACITY = 57_657_600
"""Load units one core holds at the target: ``2^8 3^2 5^2 7 11 13``, divisible by every integer
up to 16 and by the small powers of 2 and 5 that rates, throughputs and targets are written in,
so that common fractions of the target (1/3, 3/8, 0.45, ...) are counted exactly."""

MEMORY_UNITS = 1 << 20
"""Memory units per GiB (binary, so that halves and quarters of a GiB are exact)."""


@dataclass(frozen=True)
class CopyItem:
    """One copy of catalogue model ``model`` (its index) as the packer sees it."""

    model: int
    cores: int
    load: int
    memory: int
    exclusive: bool

    @property
    def energy(self) -> int:
        """Load units over all its cores: ``cores x load``."""
        return self.cores * self.load


@dataclass(frozen=True)
class TypeSpec:
    """A candidate instance type with its price (micro-dollars per hour) and chip memory in
    units."""

    instance: Instance
    price: int

    @property
    def name(self) -> str:
        return self.instance.name

    @property
    def cores(self) -> int:
        return self.instance.cores

    @cached_property
    def chip_memory(self) -> int:
        mem = self.instance.chip_memory_gib or 0.0
        return math.floor(Fraction(mem) * MEMORY_UNITS)


def check_target_scale(target_scale: object) -> Fraction:
    """``target_scale`` as an exact fraction, or ConfigError: a finite number > 0."""
    if (
        not isinstance(target_scale, (int, float))
        or isinstance(target_scale, bool)
        or not math.isfinite(target_scale)
        or target_scale <= 0
    ):
        raise ConfigError(f"target_scale: must be a number > 0, got {target_scale!r}")
    return Fraction(target_scale)


def demand(model: Model) -> Fraction:
    """``rate / throughput`` exactly (1 when unknown), from the floats as written."""
    if model.rate is None or model.throughput is None:
        return Fraction(1)
    return Fraction(model.rate) / Fraction(model.throughput)


def copy_count(model: Model, scale: Fraction) -> int:
    """``max(min_replicas, ceil(d X))``: the fewest copies whose load meets the target."""
    return max(model.min_replicas, math.ceil(demand(model) * scale))


def copy_items(catalogue: Catalogue, scale: Fraction) -> tuple[CopyItem, ...]:
    """Every copy of every model, models in catalogue order."""
    items: list[CopyItem] = []
    for i, m in enumerate(catalogue.models):
        n = copy_count(m, scale)
        load = CAPACITY if m.exclusive else math.ceil(CAPACITY * demand(m) * scale / n)
        memory = math.ceil(Fraction(m.memory_gib or 0.0) * MEMORY_UNITS / m.cores)
        items.extend(CopyItem(i, m.cores, load, memory, m.exclusive) for _ in range(n))
    return tuple(items)


def type_specs(types: tuple[Instance, ...], prices: PriceList) -> tuple[TypeSpec, ...]:
    """The candidate types with their prices (ConfigError for a type with no price)."""
    return tuple(TypeSpec(t, prices.micro(t.name)) for t in types)


def one_copy_mix(model: Model, inst: Instance, framework: str | None) -> Mix:
    """A mix of one copy of ``model`` on ``inst``: building it runs every per-model rule
    (framework, tensor parallelism, width, memory per chip)."""
    single = Model(
        model.name,
        cores=model.cores,
        exclusive=model.exclusive,
        memory_gib=model.memory_gib,
        parallel=model.parallel,
    )
    return Mix((single,), inst, framework)


def fit_table(catalogue: Catalogue, specs: tuple[TypeSpec, ...]) -> tuple[int, ...]:
    """For each model, a bit mask of the types (bit ``t`` for ``specs[t]``) one copy fits on.

    A model that fits no type is a ConfigError quoting each type's reason."""
    masks = []
    for m in catalogue.models:
        mask, reasons = 0, []
        for t, spec in enumerate(specs):
            try:
                one_copy_mix(m, spec.instance, catalogue.framework)
            except ConfigError as exc:
                reasons.append(f"{spec.name}: {exc}")
            else:
                mask |= 1 << t
        if not mask:
            raise ConfigError(
                f"catalogue model {key_text(m.name)} fits none of the types ({'; '.join(reasons)})"
            )
        masks.append(mask)
    return tuple(masks)
