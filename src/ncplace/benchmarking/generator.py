"""Seeded benchmark instances: ``generate(family, size, n_models, seed) -> ncplace.Mix``.

The same ``(family, size, n_models, seed)`` always gives the same mix (the random stream is seeded
with that tuple as a string, which Python hashes with SHA-512, not the per-process ``hash()``).
Every generated mix is valid (``Mix`` accepts it) and *feasible*: the generator builds a witness
layout that keeps every hard rule (exclusive models packed from core 0, the others placed on the
least-weighted window of the remaining cores) and derives memory sizes and pins from it, so a
solver that reports "infeasible" on a generated mix is wrong.

Sizes (``SIZES``; any ``synthetic-<N>`` with ``N`` a multiple of 4 also works, for scaling studies):

==================  =====  ====================================================
size                cores  machine
==================  =====  ====================================================
inf1.xlarge         4      catalogue (1 chip of 4 cores, 8 GiB per chip)
inf1.2xlarge        4      catalogue
inf1.6xlarge        16     catalogue (4 chips)
inf1.24xlarge       64     catalogue (16 chips)
synthetic-128       128    ``Instance(cores=128, cores_per_chip=4)``, 8 GiB per chip
synthetic-256       256    ``Instance(cores=256, cores_per_chip=4)``, 8 GiB per chip
==================  =====  ====================================================

Families (``FAMILIES``). ``N`` is the core count, ``n`` the model count, ``k`` cores per copy, ``r``
copies; demands are drawn as relative weights, then scaled so that the total work
``sum_m d_m k_m`` is a fixed fraction of ``N`` (the load a perfect spread would put on every core),
and finally capped so that no copy carries more than ``PER_COPY_CAP = 0.95`` by itself (a user
sizes replicas so that one copy keeps up; without the cap the peak of many mixes would be one
overloaded copy, whatever the placement). Rates are whole requests/s and throughputs come from
{250, 500, 1000, 2000}, as a user would write them in a mix file.

===========  =========================  ===================================================
family       default ``n``              models
===========  =========================  ===================================================
uniform      ``max(2, N/2)``            k in {1, 2}, r in {1, 2}, every model the same
                                        demand; total work 0.6 N
skewed       ``max(3, N)``              1-core models, Zipf rates (rank^-1.1, shuffled
                                        throughputs); r = ceil(d / u), u ~ U(0.5, 1) (a user
                                        giving hot models more copies); total work 0.7 N
pipeline     ``max(2, N/4)``            k in {1, 2, 4, 8} (k <= N), r = 2 with probability
                                        0.3 when it fits; total work 0.6 N
exclusive    ``max(3, N/2)``            about half exclusive (k in {1, 2, 4}, r = 1, together
                                        at most N/2 cores), the rest k in {1, 2}, r in {1, 2};
                                        the first exclusive model pinned with probability 0.5;
                                        total work 0.6 N
memory       ``max(3, N/2)``            k in {1, 2, 4}, r in {1, 2}, memory per core drawn in
                                        [0.5, 1.5] and scaled so the witness's fullest chip is
                                        at 95 % of its memory; total work 0.6 N
scale        10 / 40 / 300 at 4 / 16 /  issue 4's scale targets: k in {1, 2, 3, 4} (weights
             64 cores, ``300 N / 64``   .4/.3/.1/.2), r = 2 with probability 0.1, about 4 %
             beyond                     exclusive (1-2 cores, at most N/4 cores together),
                                        memory at 60 % of the fullest witness chip; total
                                        work 0.7 N
===========  =========================  ===================================================

All replica counts are fixed integers, so every mix is also a valid input for the HiGHS model.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ncplace import ConfigError, Instance, Mix, Model, instance

SIZES: dict[str, int] = {
    "inf1.xlarge": 4,
    "inf1.2xlarge": 4,
    "inf1.6xlarge": 16,
    "inf1.24xlarge": 64,
    "synthetic-128": 128,
    "synthetic-256": 256,
}
FAMILIES: tuple[str, ...] = ("uniform", "skewed", "pipeline", "exclusive", "memory", "scale")
THROUGHPUTS: tuple[int, ...] = (250, 500, 1000, 2000)
PER_COPY_CAP = 0.95


@dataclass(frozen=True)
class _Spec:
    """A model before its demand, memory and pin are final."""

    cores: int
    replicas: int
    weight: float
    throughput: int
    exclusive: bool = False
    memory_per_core: float = 0.0
    pin: bool = False

    @property
    def width(self) -> int:
        return self.cores * self.replicas


def size_instance(size: str) -> Instance:
    """The machine for ``size``: a catalogue name or ``synthetic-<N>`` (N cores, 4 per chip)."""
    if size.startswith("synthetic-"):
        text = size.removeprefix("synthetic-")
        if not text.isdigit() or int(text) < 4 or int(text) % 4:
            raise ConfigError(f"benchmark size {size!r}: synthetic-<N> needs N a multiple of 4")
        return Instance(cores=int(text), cores_per_chip=4, name=size)
    return instance(size)


def default_models(family: str, size: str) -> int:
    """The model count of ``family`` on ``size`` when none is given (see the module table)."""
    _check_family(family)
    n = size_instance(size).cores
    if family == "uniform":
        return max(2, n // 2)
    if family == "skewed":
        return max(3, n)
    if family == "pipeline":
        return max(2, n // 4)
    if family in ("exclusive", "memory"):
        return max(3, n // 2)
    return {4: 10, 16: 40, 64: 300}.get(n, max(10, 300 * n // 64))


def generate(family: str, size: str, n_models: int | None = None, seed: int = 0) -> Mix:
    """The mix of ``family`` on ``size`` with ``n_models`` models (default: the family's)."""
    return generate_with_witness(family, size, n_models, seed)[0]


def generate_with_witness(
    family: str, size: str, n_models: int | None = None, seed: int = 0
) -> tuple[Mix, dict[str, int]]:
    """:func:`generate`'s mix and the witness: model name -> block start keeping every rule."""
    _check_family(family)
    inst = size_instance(size)
    n = default_models(family, size) if n_models is None else n_models
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"benchmark n_models: must be an integer >= 1, got {n_models!r}")
    rng = random.Random(f"ncplace-bench|{family}|{size}|{n}|{seed}")
    specs, work, tightness = _FAMILY_SPECS[family](rng, inst.cores, n)
    starts = _witness(specs, inst.cores)
    mix = _finish(specs, starts, inst, work, tightness)
    return mix, {m.name: a for m, a in zip(mix.models, starts, strict=True)}


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ConfigError(f"benchmark family {family!r}: known families are {', '.join(FAMILIES)}")


def _uniform(rng: random.Random, cores: int, n: int) -> tuple[list[_Spec], float, float]:
    specs: list[_Spec] = []
    for _ in range(n):
        k = rng.choice([1, 2]) if cores >= 2 else 1
        r = rng.choice([1, 2]) if 2 * k <= cores else 1
        specs.append(_Spec(k, r, 1.0, 1000))
    return specs, 0.6, 0.0


def _skewed(rng: random.Random, cores: int, n: int) -> tuple[list[_Spec], float, float]:
    weights = [(i + 1) ** -1.1 for i in range(n)]
    total = sum(weights)
    specs: list[_Spec] = []
    for w in weights:
        demand = 0.7 * cores * w / total
        r = min(cores, max(1, math.ceil(demand / rng.uniform(0.5, 1.0))))
        specs.append(_Spec(1, r, w, rng.choice(THROUGHPUTS)))
    return specs, 0.7, 0.0


def _pipeline(rng: random.Random, cores: int, n: int) -> tuple[list[_Spec], float, float]:
    sizes = [k for k in (1, 2, 4, 8) if k <= cores]
    specs: list[_Spec] = []
    for _ in range(n):
        k = rng.choice(sizes)
        r = 2 if 2 * k <= cores and rng.random() < 0.3 else 1
        specs.append(_Spec(k, r, rng.uniform(0.2, 1.2), rng.choice(THROUGHPUTS)))
    return specs, 0.6, 0.0


def _exclusive(rng: random.Random, cores: int, n: int) -> tuple[list[_Spec], float, float]:
    budget = cores // 2
    used = 0
    specs: list[_Spec] = []
    for i in range(n):
        k = rng.choice([k for k in (1, 2, 4) if k <= max(1, budget)])
        if (i == 0 or rng.random() < 0.5) and used + k <= budget:
            used += k
            pin = not any(s.exclusive for s in specs) and rng.random() < 0.5
            specs.append(_Spec(k, 1, rng.uniform(0.2, 1.2), rng.choice(THROUGHPUTS), True, pin=pin))
            continue
        free = cores - budget
        k = rng.choice([k for k in (1, 2) if k <= free])
        r = rng.choice([1, 2]) if 2 * k <= free else 1
        specs.append(_Spec(k, r, rng.uniform(0.2, 1.2), rng.choice(THROUGHPUTS)))
    return specs, 0.6, 0.0


def _memory(rng: random.Random, cores: int, n: int) -> tuple[list[_Spec], float, float]:
    specs: list[_Spec] = []
    for _ in range(n):
        k = rng.choice([k for k in (1, 2, 4) if k <= cores])
        r = rng.choice([1, 2]) if 2 * k <= cores else 1
        specs.append(
            _Spec(
                k, r, rng.uniform(0.2, 1.2), rng.choice(THROUGHPUTS), False, rng.uniform(0.5, 1.5)
            )
        )
    return specs, 0.6, 0.95


def _scale(rng: random.Random, cores: int, n: int) -> tuple[list[_Spec], float, float]:
    budget = cores // 4
    used = 0
    specs: list[_Spec] = []
    for _ in range(n):
        k = rng.choices([1, 2, 3, 4], weights=[0.4, 0.3, 0.1, 0.2])[0]
        k = min(k, cores)
        weight, thr, mem = rng.uniform(0.2, 1.2), rng.choice(THROUGHPUTS), rng.uniform(0.5, 1.5)
        if rng.random() < 0.04 and k <= 2 and used + k <= budget:
            used += k
            specs.append(_Spec(k, 1, weight, thr, True, mem))
            continue
        r = 2 if 2 * k <= cores - budget and rng.random() < 0.1 else 1
        specs.append(_Spec(k, r, weight, thr, False, mem))
    return specs, 0.7, 0.6


_FAMILY_SPECS = {
    "uniform": _uniform,
    "skewed": _skewed,
    "pipeline": _pipeline,
    "exclusive": _exclusive,
    "memory": _memory,
    "scale": _scale,
}


def _witness(specs: Sequence[_Spec], cores: int) -> list[int]:
    """Starts that keep every hard rule: exclusive blocks from core 0, the rest after them.

    Non-exclusive blocks go, widest first, on the window of the free region whose cores carry the
    least memory weight so far (lowest start on ties), which spreads memory over chips.
    """
    starts = [0] * len(specs)
    cursor = 0
    for i, s in enumerate(specs):
        if s.exclusive:
            starts[i] = cursor
            cursor += s.width
    assert cursor <= cores
    weight = [0.0] * cores
    order = sorted(
        (i for i, s in enumerate(specs) if not s.exclusive), key=lambda i: -specs[i].width
    )
    for i in order:
        s = specs[i]
        assert s.width <= cores - cursor
        best = min(
            range(cursor, cores - s.width + 1),
            key=lambda a: (sum(weight[a : a + s.width]), a),
        )
        starts[i] = best
        for c in range(best, best + s.width):
            weight[c] += s.memory_per_core or 1.0
    return starts


def _finish(
    specs: Sequence[_Spec], starts: Sequence[int], inst: Instance, work: float, tightness: float
) -> Mix:
    scale = work * inst.cores / sum(s.weight * s.cores for s in specs)
    memory_scale = 0.0
    if tightness:
        per_chip = [0.0] * inst.chips
        for s, a in zip(specs, starts, strict=True):
            for c in range(a, a + s.width):
                per_chip[inst.chip_of(c)] += s.memory_per_core
        assert inst.chip_memory_gib is not None
        memory_scale = tightness * inst.chip_memory_gib / max(per_chip)
    models = []
    for i, (s, a) in enumerate(zip(specs, starts, strict=True)):
        cap = math.floor(PER_COPY_CAP * s.replicas * s.throughput)
        rate = max(1, min(round(s.weight * scale * s.throughput), cap))
        memory = None
        if tightness:
            memory = math.floor(s.memory_per_core * memory_scale * s.cores * 1000) / 1000
        models.append(
            Model(
                f"m{i}",
                cores=s.cores,
                replicas=s.replicas,
                rate=float(rate),
                throughput=float(s.throughput),
                exclusive=s.exclusive,
                memory_gib=memory,
                start=a if s.pin else None,
            )
        )
    return Mix(tuple(models), inst)
