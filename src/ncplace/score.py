"""The scorer: how good a layout is for a mix, computed from first principles.

:func:`score` is pure and knows nothing of any solver, so it is the oracle the optimizer's claims
are checked against. Notation: a *copy* is one replica of one load; ``copies(c)`` is the number of
copies using core ``c``; model ``m`` has ``n_m`` copies in the layout and demand ``d_m``
(``rate / throughput``, 1.0 when unknown).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from itertools import chain

import numpy as np

from .errors import Error, check_type
from .layout import Layout
from .mix import Mix

MEMORY_TOLERANCE_GIB = 1e-9
OVERLOAD_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Score:
    """Every metric of a layout for a mix.

    - ``loads[c] = sum over copies of m on c of d_m / n_m``: busy fraction of core ``c``.
    - ``peak_load = max_c loads[c]`` (0 for an empty layout): the busiest core bounds throughput.
    - ``headroom = 1 / peak_load`` (inf when nothing is loaded): the factor by which all traffic can
      grow before the busiest core saturates; below 1 the mix is overloaded.
    - ``overlap = sum_c max(0, copies(c) - 1)``: copies beyond the first on a core, the model
      switching the guide warns against.
    - ``max_copies_per_core = max_c copies(c)``.
    - ``idle_cores``: cores of the instance with no copy.
    - ``exclusive_violations``: cores used by a copy of an ``exclusive`` model that carry any other
      copy as well.
    - ``chip_crossings``: copies whose cores lie on more than one chip (a pipeline paying link
      hops).
    - ``memory_overflow_gib = sum_pools max(0, used - pool_memory)`` with ``used`` the sum over
      copies of ``memory_gib / len(copy)`` for each of the copy's cores in that memory pool (a
      chip, or an HBM bank on Trn2: :attr:`~ncplace.hardware.Instance.memory_cores`).
    - ``handles``: loads (model objects the application holds and routes across).
    - ``largest_free_block``: the longest run of consecutive cores with no copy.
    - ``outside_process``: copies using a core their process does not own (a :class:`Layout`
      holds only cores of its instance, and every copy has one).
    - ``shared_process_cores``: cores owned by more than one process.
    - ``feasible``: no hard rule broken: ``outside_process``, ``shared_process_cores`` and
      ``exclusive_violations`` are 0 and ``memory_overflow_gib`` is 0 (within 1e-9 GiB).
    """

    peak_load: float
    headroom: float
    overlap: int
    max_copies_per_core: int
    idle_cores: int
    exclusive_violations: int
    chip_crossings: int
    memory_overflow_gib: float
    handles: int
    largest_free_block: int
    outside_process: int
    shared_process_cores: int
    feasible: bool
    loads: tuple[float, ...]
    copies_per_core: tuple[int, ...]

    @property
    def overloaded(self) -> bool:
        """True when the busiest core has more than its time's worth of work: ``peak_load > 1``
        (beyond a float tolerance of 1e-9), so requests queue without bound."""
        return self.peak_load > 1 + OVERLOAD_TOLERANCE

    def to_dict(self) -> dict[str, object]:
        """Plain values for JSON (``headroom`` of an empty layout is ``None``), with
        ``overloaded``."""
        out = asdict(self)
        out["overloaded"] = self.overloaded
        out["loads"] = list(self.loads)
        out["copies_per_core"] = list(self.copies_per_core)
        if math.isinf(self.headroom):
            out["headroom"] = None
        return out


def broken_rules(s: Score) -> list[str]:
    """The hard rules ``s`` breaks, one phrase each (empty when ``s.feasible``)."""
    broken = []
    if s.exclusive_violations:
        broken.append(f"{s.exclusive_violations} exclusive core(s) shared")
    if s.memory_overflow_gib:
        broken.append(f"{s.memory_overflow_gib:.3g} GiB over chip memory")
    if s.outside_process:
        broken.append(f"{s.outside_process} copy(ies) outside their process")
    if s.shared_process_cores:
        broken.append(f"{s.shared_process_cores} core(s) in several processes")
    return broken


def check_models(layout: Layout, mix: Mix) -> None:
    """Raise :class:`Error` when the layout and the mix do not describe the same deployment.

    The layout's machine must have the mix's cores, chip width and chip memory; every model of the
    mix must have at least one copy in the layout, and every load must name a model of the mix.
    The message names each offender.
    """
    a, b = layout.instance, mix.instance
    if (a.cores, a.cores_per_chip, a.chip_memory_gib, a.memory_cores) != (
        b.cores,
        b.cores_per_chip,
        b.chip_memory_gib,
        b.memory_cores,
    ):
        raise Error(
            f"the layout is for {a.name} ({a.cores} cores, {a.cores_per_chip} per chip, "
            f"{a.chip_memory_gib:g} GiB per chip) but the mix is for {b.name} ({b.cores} cores, "
            f"{b.cores_per_chip} per chip, {b.chip_memory_gib:g} GiB per chip)"
        )
    names = set(mix.names)
    placed = {p.model for p in layout.placements}
    missing = [n for n in mix.names if n not in placed]
    unknown = [n for n in layout.models() if n not in names]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(
                f"models of the mix missing from the layout: {', '.join(map(repr, missing))}"
            )
        if unknown:
            parts.append(f"loads not in the mix: {', '.join(map(repr, unknown))}")
        raise Error("; ".join(parts))


def core_loads(layout: Layout, mix: Mix) -> list[float]:
    """``loads[c]`` as defined in :class:`Score`."""
    return _Copies(layout, mix).loads().tolist()


class _Copies:
    """Every copy-core of a layout (one entry per core of each copy, in placement order) as flat
    arrays, so that each metric is one pass in C over the layout: time linear in its copies (a
    ``multicore`` layout of 10,000 models on 256 cores holds 2.56 million).

    Sums run in placement order, one addition at a time (``numpy.bincount`` with weights adds
    in index order), so every float is the one a plain loop over the copies computes."""

    def __init__(self, layout: Layout, mix: Mix) -> None:
        placements = layout.placements
        self.layout, self.mix = layout, mix
        self.models = [mix[p.model] for p in placements]
        copies_of = {name: 0 for name in mix.names}
        for p in placements:
            copies_of[p.model] += len(p.replicas)
        self.copies_of = copies_of
        self.per_load = _ints(len(p.replicas) for p in placements)
        every_copy = list(chain.from_iterable(p.replicas for p in placements))
        self.lengths = _ints(map(len, every_copy))
        self.cores = _ints(chain.from_iterable(every_copy))

    def of_each_copy(self, per_load: list[float]) -> np.ndarray:
        """A value per load, repeated for each of its copies."""
        return np.repeat(np.array(per_load, dtype=float), self.per_load)

    def spread(self, per_copy: np.ndarray) -> np.ndarray:
        """A value per copy, repeated for each of its cores."""
        return np.repeat(per_copy, self.lengths)

    def loads(self) -> np.ndarray:
        shares = [m.demand / self.copies_of[m.name] for m in self.models]
        weights = self.spread(self.of_each_copy(shares))
        return np.bincount(self.cores, weights, minlength=self.layout.instance.cores)

    def counts(self) -> np.ndarray:
        return np.bincount(self.cores, minlength=self.layout.instance.cores)

    def pool_memory(self) -> list[float]:
        """Memory used per pool: each copy-core adds ``memory_gib / len(copy)``."""
        inst = self.layout.instance
        memory = [m.memory_gib or 0.0 for m in self.models]
        weights = self.spread(self.of_each_copy(memory) / self.lengths)
        pools = self.cores // inst.memory_cores
        used: list[float] = np.bincount(pools, weights, minlength=inst.pools).tolist()
        return used

    def exclusive_cores(self) -> np.ndarray:
        flags = self.spread(self.of_each_copy([float(m.exclusive) for m in self.models]))
        return np.unique(self.cores[flags > 0])

    def chip_crossings(self) -> int:
        """Copies whose first and last chips differ (chips ascend with cores, so a copy on more
        than one chip is exactly one whose lowest and highest cores' chips differ)."""
        if not len(self.lengths):
            return 0
        chips = self.cores // self.layout.instance.cores_per_chip
        offsets = np.concatenate(([0], np.cumsum(self.lengths)[:-1]))
        lowest = np.minimum.reduceat(chips, offsets)
        highest = np.maximum.reduceat(chips, offsets)
        return int(np.count_nonzero(lowest != highest))


def _ints(values: Iterable[int]) -> np.ndarray:
    return np.fromiter(values, dtype=np.int64)


def score(layout: Layout, mix: Mix) -> Score:
    """Score ``layout`` for ``mix`` (see :class:`Score` for every formula)."""
    check_type(layout, Layout, "score: layout")
    check_type(mix, Mix, "score: mix")
    check_models(layout, mix)
    inst = layout.instance
    n = inst.cores
    flat = _Copies(layout, mix)
    counts: list[int] = flat.counts().tolist()
    loads: list[float] = flat.loads().tolist()
    peak = max(loads, default=0.0)

    exclusive_violations = sum(1 for c in flat.exclusive_cores().tolist() if counts[c] > 1)
    chip_crossings = flat.chip_crossings()

    capacity = inst.pool_memory_gib
    overflow = sum(max(0.0, u - capacity) for u in flat.pool_memory())
    if overflow <= MEMORY_TOLERANCE_GIB:
        overflow = 0.0

    largest_free = run = 0
    for count in counts:
        run = run + 1 if count == 0 else 0
        largest_free = max(largest_free, run)

    owned_by = [0] * n
    for proc in layout.processes:
        for c in proc.cores:
            owned_by[c] += 1
    shared = sum(1 for o in owned_by if o > 1)
    outside = 0
    owned = [frozenset(proc.cores) for proc in layout.processes]
    for p in layout.placements:
        if not owned[p.process].issuperset(chain.from_iterable(p.replicas)):
            outside += sum(1 for r in p.replicas if not owned[p.process].issuperset(r))

    return Score(
        peak_load=peak,
        headroom=1.0 / peak if peak > 0 else math.inf,
        overlap=sum(max(0, k - 1) for k in counts),
        max_copies_per_core=max(counts, default=0),
        idle_cores=sum(1 for k in counts if k == 0),
        exclusive_violations=exclusive_violations,
        chip_crossings=chip_crossings,
        memory_overflow_gib=overflow,
        handles=len(layout.placements),
        largest_free_block=largest_free,
        outside_process=outside,
        shared_process_cores=shared,
        feasible=outside == 0 and shared == 0 and exclusive_violations == 0 and overflow == 0.0,
        loads=tuple(loads),
        copies_per_core=tuple(counts),
    )
