"""The placement problem in integers: what the CP-SAT model is built from.

Loads and memory are fractions; CP-SAT needs integers. :func:`build_problem` scales them:

- Loads. Model ``m`` with ``r`` copies puts ``d_m / r`` on each core of each copy. When every
  ``d_m`` is a small rational (``Fraction(d).limit_denominator(10**6)`` gives the same float back,
  e.g. ``900 / 2000 = 9/20``), the scale ``S`` is the least common multiple of the denominators of
  all ``d_m / r`` and the integer loads ``D_{m,r} = S d_m / r`` are exact. Otherwise (or when that
  LCM is too large) ``S = 2**40 / sum_m d_m`` and ``D_{m,r} = floor(S d_m / r)``. Rounding down
  makes every integer load at most ``S`` times the true load, so any lower bound ``B`` on the
  integer peak gives the valid lower bound ``B / S`` on the true peak (never above the optimum),
  while a layout's reported peak is always recomputed by the scorer.
- Memory. A copy's ``memory_gib`` is split evenly over its ``k`` cores. Per-core memory and the
  chip size are scaled exactly the same way when rational and small, else by ``10**6`` with the
  per-core memory rounded up and the chip size rounded down, so the integer rule implies the real
  one (a plan never overflows a chip).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from ..hardware import Instance, tensor_starts
from ..mix import Mix
from ..processes import is_tensor_parallel, process_of, process_specs

Assignment = tuple[int, tuple[int, ...]]
"""A model's placement: ``(copies, starts)``; one start in block mode, one per copy in split."""

EXACT_DENOMINATOR = 10**6
"""Largest denominator tried when reading a float as a fraction."""

LOAD_RANGE = 2**40
"""Integer loads are kept below this (CP-SAT works in int64; its LP relaxation in doubles)."""

MEMORY_SCALE = 10**6
"""Fallback scale of memory (micro-GiB) when memory sizes are not small rationals."""


@dataclass(frozen=True)
class ModelData:
    """One model of the mix in integer form.

    ``replicas`` are the allowed copy counts ``r`` (ascending); ``demand[i]`` is the scaled load
    each core of a copy carries when ``replicas[i]`` copies are placed. ``memory`` is the scaled
    memory per core of a copy. ``key`` groups interchangeable models (same cores, allowed copy
    counts, demand, exclusivity and memory, no pin): the model orders their starts to break that
    symmetry.
    """

    index: int
    name: str
    cores: int
    replicas: tuple[int, ...]
    demand: tuple[int, ...]
    exclusive: bool
    memory: int
    start: int | None
    process: int | None = None
    starts: tuple[int, ...] | None = None

    @property
    def key(self) -> tuple[object, ...] | None:
        if self.start is not None or self.starts is not None:
            return None
        return (self.cores, self.replicas, self.demand, self.exclusive, self.memory, self.process)

    @property
    def min_width(self) -> int:
        return self.cores * self.replicas[0]

    @property
    def max_width(self) -> int:
        return self.cores * self.replicas[-1]

    def demand_of(self, r: int) -> int:
        return self.demand[self.replicas.index(r)]


@dataclass(frozen=True)
class ProcessData:
    """A process of the plan (:func:`ncplace.processes.process_specs`): its name, the indices of
    its models and its fixed core count (None: sized by the solver). ``anchored``: it serves a
    tensor-parallel model, whose ranks take the process's first cores, so its range starts where
    that model's copy does."""

    name: str
    models: tuple[int, ...]
    cores: int | None
    anchored: bool = False


@dataclass(frozen=True)
class Problem:
    """The integer data of one solve: models, machine, scales, and the mode (block or split)."""

    mix: Mix
    models: tuple[ModelData, ...]
    cores: int
    cores_per_chip: int
    chip_memory: int
    memory_cores: int
    load_scale: int
    load_exact: bool
    memory_scale: int
    split: bool
    processes: tuple[ProcessData, ...] = ()

    @property
    def chips(self) -> int:
        return self.cores // self.cores_per_chip

    @property
    def pools(self) -> int:
        """Memory pools of ``memory_cores`` cores, each holding ``chip_memory`` (a chip, or an HBM
        bank on Trn2)."""
        return self.cores // self.memory_cores

    def copy_starts(self, m: ModelData, copies: int, starts: Sequence[int]) -> list[int]:
        """The first core of each of ``copies`` copies of ``m`` placed at ``starts``: in split
        mode each copy's own start; in block mode ``starts[0] + j * cores``, back to back."""
        if self.split:
            return list(starts[:copies])
        return [starts[0] + j * m.cores for j in range(copies)]

    def reduced(self, keep: dict[int, set[str]]) -> Problem:
        """The problem with only the models in ``keep`` and, for each, only the named rules.

        Rules are ``"exclusive"``, ``"start"`` and ``"memory"``; used to find a small set of
        models and rules that still cannot be met (see :mod:`.explain`).
        """
        models = []
        for m in self.models:
            if m.index not in keep:
                continue
            rules = keep[m.index]
            models.append(
                replace(
                    m,
                    exclusive=m.exclusive and "exclusive" in rules,
                    start=m.start if "start" in rules else None,
                    memory=m.memory if "memory" in rules else 0,
                )
            )
        return replace(self, models=tuple(models))


@functools.lru_cache(maxsize=4096)
def _rational(x: float) -> Fraction | None:
    """``x`` as a fraction with a small denominator, None when it is none (cached: a mix of
    thousands of models repeats few rates, throughputs and memory sizes)."""
    q = Fraction(x).limit_denominator(EXACT_DENOMINATOR)
    return q if float(q) == x else None


def allowed_replicas(mix: Mix, index: int) -> tuple[int, ...]:
    """The copy counts model ``index`` may take: its integer, or ``min..max`` when chosen."""
    return tuple(replica_range(mix, index))


def replica_range(mix: Mix, index: int) -> range:
    """:func:`allowed_replicas` as a range (membership in constant time)."""
    model = mix.models[index]
    n = mix.instance.cores
    low = model.min_replicas
    high = model.max_replicas(n)
    high = max(low, min(high, max(1, n // model.cores)))
    return range(low, high + 1)


def _load_scale(demands: list[float], replicas: list[tuple[int, ...]]) -> tuple[int, bool]:
    total = max(sum(demands), 1e-12)
    exact = _exact_load_scale(demands, replicas, LOAD_RANGE / total)
    if exact is not None:
        return exact, True
    return max(1, int(LOAD_RANGE / total)), False


def _exact_load_scale(
    demands: list[float], replicas: list[tuple[int, ...]], most: float
) -> int | None:
    """The LCM of the denominators of every ``d_m / r``, or None as soon as it passes ``most``
    (or a demand is no small rational): compared as integers, so a mix of thousands of models
    never builds a float out of a huge LCM."""
    limit = math.floor(most)
    lcm = 1
    for d, rs in zip(demands, replicas, strict=True):
        q = _rational(d)
        if q is None:
            return None
        for r in rs:
            lcm = math.lcm(lcm, (q / r).denominator)
            if lcm > limit:
                return None
    return lcm


def _memory_scale(per_core: list[float], chip: float) -> tuple[int, bool]:
    values = [*per_core, chip]
    rationals = [_rational(v) for v in values]
    if all(q is not None for q in rationals):
        lcm = 1
        for q in rationals:
            assert q is not None
            lcm = math.lcm(lcm, q.denominator)
        if lcm * max(values) <= LOAD_RANGE:
            return lcm, True
    return MEMORY_SCALE, False


def build_problem(mix: Mix, split: bool) -> Problem:
    """Scale ``mix`` to integers (see the module docstring for the rounding rules)."""
    inst = mix.instance
    replicas = [allowed_replicas(mix, i) for i in range(len(mix.models))]
    demands = [m.demand for m in mix.models]
    scale, exact = _load_scale(demands, replicas)
    per_core = [(m.memory_gib or 0.0) / m.cores for m in mix.models]
    chip = float(inst.pool_memory_gib)
    mem_scale, mem_exact = _memory_scale(per_core, chip)
    specs = process_specs(mix)
    process_index = process_of(specs)
    models = []
    for i, m in enumerate(mix.models):
        q = _rational(m.demand) if exact else None
        if q is not None:
            loads = tuple(int(q * scale / r) for r in replicas[i])
        else:
            loads = tuple(math.floor(scale * m.demand / r) for r in replicas[i])
        if mem_exact:
            mem = _rational(per_core[i])
            assert mem is not None
            memory = int(mem * mem_scale)
        else:
            memory = math.ceil(per_core[i] * mem_scale)
        models.append(
            ModelData(
                index=i,
                name=m.name,
                cores=m.cores,
                replicas=replicas[i],
                demand=loads,
                exclusive=m.exclusive,
                memory=memory,
                start=m.start,
                process=process_index.get(m.name),
                starts=_block_starts(inst, m.cores, m.min_replicas, split)
                if is_tensor_parallel(m)
                else None,
            )
        )
    if mem_exact:
        chip_q = _rational(chip)
        assert chip_q is not None
        chip_memory = int(chip_q * mem_scale)
    else:
        chip_memory = math.floor(chip * mem_scale)
    return Problem(
        mix=mix,
        models=tuple(models),
        cores=inst.cores,
        cores_per_chip=inst.cores_per_chip,
        chip_memory=chip_memory,
        memory_cores=inst.memory_cores,
        load_scale=scale,
        load_exact=exact,
        memory_scale=mem_scale,
        split=split,
        processes=tuple(
            ProcessData(
                spec.name,
                tuple(mix.names.index(n) for n in spec.models),
                spec.cores,
                any(is_tensor_parallel(mix[n]) for n in spec.models),
            )
            for spec in specs
        ),
    )


def _block_starts(inst: Instance, cores: int, copies: int, split: bool) -> tuple[int, ...]:
    """Where a tensor-parallel model's block (or, in split mode, its first copy) may start: every
    one of its first ``copies`` back-to-back copies at a start :func:`~ncplace.hardware.
    tensor_starts` allows (in split mode, the first copy alone)."""
    allowed = tensor_starts(inst, cores)
    if split or copies == 1:
        return allowed
    ok = set(allowed)
    return tuple(s for s in allowed if all(s + j * cores in ok for j in range(copies)))
