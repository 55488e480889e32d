"""``greedy``: what a careful engineer writes by hand with ``neuron_cores_context``.

One process owns every core. Models are placed one at a time, each as one block of its copies
(one ``neuron_cores_context(start_nc, nc_count=replicas x cores)`` load: one handle, the runtime
routes across the copies), in this order: pinned models (``start``) first at their pin, then
exclusive models, then the rest; within each, by decreasing demand, then wider blocks first, then
mix order. A model with more copies than fit side by side (``replicas x cores`` above the
instance) is split into blocks of ``floor(cores / pipeline size)`` copies, placed in turn.

Each block goes to the start ``s`` minimising, lexicographically:

1. the hard rules broken, when no start keeps them: chip memory first (an overflowing model does
   not load at all), then exclusivity (an exclusive block sharing a used core, or any block
   touching an exclusive model's cores);
2. the peak after placement over the block, ``max_{c in block} (load[c] + demand / copies)``;
3. the overlap it adds, ``|{c in block : copies(c) >= 1}|``;
4. ``s`` itself (leftmost).

Deterministic: no randomness and a total order on starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..layout import Layout
from ..mix import MEMORY_TOLERANCE_GIB, Mix, Model
from .base import runtime_for

DESCRIPTION = (
    "neuron_cores_context by hand: models by decreasing demand, each on the least-loaded window"
)


@dataclass
class _State:
    """What the engineer tracks while placing: load, copies and exclusivity per core, memory.

    Held as numpy arrays so that one block's key is computed for every start at once: the window
    sums and maxima below cost ``O(cores x width)`` array work per block, in C, and the placement
    as a whole is linear in the number of blocks.
    """

    loads: np.ndarray
    copies: np.ndarray
    exclusive: np.ndarray
    memory: np.ndarray
    cores_per_chip: int
    chip_memory_gib: float
    blocks: list[tuple[Model, int, int]] = field(default_factory=list)

    def best_start(self, m: Model, width: int, share: float) -> int:
        """The start minimising the key of the module docstring, over every start at once.

        Per start ``s`` (block ``s .. s + width - 1``): ``(over > 0, conflicts > 0, over,
        conflicts, peak, overlap, s)``, the tuple compared lexicographically; the same float
        operations in the same order as one start at a time, so the choice is the same."""
        used = self.copies > 0
        peak = _window_max(self.loads + share, width)
        overlap = _window_sums(used, width)
        per_core = (m.memory_gib or 0.0) / m.cores
        # A key equal at every start changes no choice: it is left out of the sort.
        conflicting = m.exclusive or bool(self.exclusive.any())
        overflowing = not self._fits_anywhere(per_core, width)
        if not (conflicting or overflowing):
            return _first_lowest(peak, overlap)
        keys: list[np.ndarray] = [overlap, peak]
        firsts: list[np.ndarray] = []
        if conflicting:
            conflicts = _window_sums(used if m.exclusive else self.exclusive, width)
            keys.append(conflicts)
            firsts.append(conflicts > 0)
        if overflowing:
            over = self._overflows(per_core, width)
            over = np.where(over > MEMORY_TOLERANCE_GIB, over, 0.0)
            keys.append(over)
            firsts.append(over > 0.0)
        return int(np.lexsort((*keys, *firsts))[0])

    def _fits_anywhere(self, per_core: float, width: int) -> bool:
        """No start overflows a chip's memory: every chip's memory plus the most the block can
        add to one chip (:meth:`_overflows`' own sum) stays within the chip, so every start's
        overflow is exactly 0 and the memory keys of :meth:`best_start` are all equal."""
        extra = _extras(per_core, min(width, self.cores_per_chip))[-1]
        return bool(self.memory.max() + extra <= self.chip_memory_gib)

    def _overflows(self, per_core: float, width: int) -> np.ndarray:
        """For every start, the chip memory overflow the block adds, summed over the chips it
        touches only, in chip order; ``extra`` on a chip is ``per_core`` added once per core of
        the block there. The overflow a chip gets from ``k`` of the block's cores is one table,
        ``added[chip, k]`` (0 exactly for ``k = 0``), read at each start's chips
        (:func:`_chip_spans`)."""
        n = len(self.loads)
        over = np.zeros(n - width + 1)
        if not per_core:
            return over
        cap, per_chip = self.chip_memory_gib, self.cores_per_chip
        used = self.memory[:, None]
        extras = np.array(_extras(per_core, per_chip))
        added = np.maximum(0.0, used + extras - cap) - np.maximum(0.0, used - cap)
        for chips, counts in _chip_spans(n, width, per_chip, len(self.memory)):
            over = over + added[chips, counts]
        return over

    def add(self, m: Model, start: int, width: int, share: float) -> None:
        per_core = (m.memory_gib or 0.0) / m.cores
        for c in range(start, start + width):
            self.loads[c] += share
            self.copies[c] += 1
            self.exclusive[c] = self.exclusive[c] or m.exclusive
            self.memory[c // self.cores_per_chip] += per_core


def _extras(per_core: float, cores: int) -> list[float]:
    """What 0, 1, ..., ``cores`` of a block's cores add to one chip's memory, ``per_core`` added
    once per core (the same float sums :meth:`_State._overflows` and
    :meth:`_State._fits_anywhere` compare with the chip)."""
    out = [0.0]
    for _ in range(cores):
        out.append(out[-1] + per_core)
    return out


@lru_cache(maxsize=64)
def _chip_spans(
    n: int, width: int, per_chip: int, chips: int
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """For the ``j``-th chip a block of ``width`` cores may touch, counted from its first core's
    chip: that chip and the block's cores on it, for every start (count 0, on a valid chip
    index, where the block does not reach it)."""
    starts = np.arange(n - width + 1)
    ends = starts + width
    first = starts // per_chip
    spans = []
    for j in range((width - 1) // per_chip + 2):
        chip = first + j
        low = np.maximum(starts, chip * per_chip)
        high = np.minimum(ends, (chip + 1) * per_chip)
        counts = np.where(low < high, high - low, 0)
        spans.append((np.minimum(chip, chips - 1), counts))
    return tuple(spans)


def _window_max(values: np.ndarray, width: int) -> np.ndarray:
    """``max(values[s : s + width])`` for every start ``s`` (shifted maxima for narrow blocks,
    where a sliding view costs more to set up than it saves)."""
    if width > 8:
        return sliding_window_view(values, width).max(axis=1)
    count = len(values) - width + 1
    out = values[:count]
    for k in range(1, width):
        out = np.maximum(out, values[k : k + count])
    return out


def _first_lowest(peak: np.ndarray, overlap: np.ndarray) -> int:
    """The first start with the lowest peak, then the lowest overlap: ``np.lexsort((overlap,
    peak))[0]`` without sorting."""
    starts = np.flatnonzero(peak == peak.min())
    if len(starts) > 1:
        ties = overlap[starts]
        starts = starts[ties == ties.min()]
    return int(starts[0])


def _window_sums(values: np.ndarray, width: int) -> np.ndarray:
    """``sum(values[s : s + width])`` for every start ``s``, exact (integer prefix sums)."""
    if width == 1:
        return values.astype(np.int64)
    prefix = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
    return prefix[width:] - prefix[:-width]


def _order(mix: Mix) -> list[Model]:
    ranked = sorted(
        enumerate(mix),
        key=lambda im: (
            im[1].start is None,
            not im[1].exclusive,
            -im[1].demand,
            -im[1].width,
            im[0],
        ),
    )
    return [m for _, m in ranked]


def plan_blocks(mix: Mix) -> list[tuple[Model, int, int]]:
    """The greedy decisions: ``(model, start, copies)`` per block, in placement order."""
    inst = mix.instance
    n = inst.cores
    state = _State(
        loads=np.zeros(n),
        copies=np.zeros(n, dtype=np.int64),
        exclusive=np.zeros(n, dtype=bool),
        memory=np.zeros(inst.pools),
        cores_per_chip=inst.memory_cores,
        chip_memory_gib=inst.pool_memory_gib,
    )
    for m in _order(mix):
        share = m.demand / m.min_replicas
        remaining = m.min_replicas
        while remaining:
            copies = min(remaining, n // m.cores)
            width = copies * m.cores
            start = m.start if m.start is not None else state.best_start(m, width, share)
            state.add(m, start, width, share)
            state.blocks.append((m, start, copies))
            remaining -= copies
    return state.blocks


def place(mix: Mix) -> Layout:
    """Explicit ``neuron_cores_context`` loads in one process that owns every core.

    What the user writes (start and count chosen by the rules above)::

        import torch
        import torch_neuron
        from torch_neuron.experimental import neuron_cores_context

        with neuron_cores_context(start_nc=0, nc_count=8):   # 2 copies of a 4-core pipeline
            bert = torch.jit.load("bert.pt")
        with neuron_cores_context(start_nc=8, nc_count=1):
            resnet = torch.jit.load("resnet.pt")
    """
    rt = runtime_for(mix)
    process = rt.start_process()
    for m, start, copies in plan_blocks(mix):
        with process.neuron_cores_context(start_nc=start, nc_count=copies * m.cores):
            process.load(m.name, cores=m.cores)
    return rt.layout()
