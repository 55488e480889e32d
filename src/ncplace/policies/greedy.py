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

from ..layout import Layout
from ..mix import MEMORY_TOLERANCE_GIB, Mix, Model
from .base import runtime_for

DESCRIPTION = (
    "neuron_cores_context by hand: models by decreasing demand, each on the least-loaded window"
)


@dataclass
class _State:
    """What the engineer tracks while placing: load, copies and exclusivity per core, memory."""

    loads: list[float]
    copies: list[int]
    exclusive: list[bool]
    memory: list[float]
    cores_per_chip: int
    chip_memory_gib: float
    blocks: list[tuple[Model, int, int]] = field(default_factory=list)

    def key(self, m: Model, start: int, width: int, share: float) -> tuple[object, ...]:
        block = range(start, start + width)
        if m.exclusive:
            conflicts = sum(1 for c in block if self.copies[c])
        else:
            conflicts = sum(1 for c in block if self.exclusive[c])
        over = self._overflow((m.memory_gib or 0.0) / m.cores, start, width)
        over = over if over > MEMORY_TOLERANCE_GIB else 0.0
        peak = max(self.loads[c] + share for c in block)
        overlap = sum(1 for c in block if self.copies[c])
        return (over > 0.0, conflicts > 0, over, conflicts, peak, overlap, start)

    def _overflow(self, per_core: float, start: int, width: int) -> float:
        """The chip memory overflow a block adds, summed over the chips it touches only (so a
        candidate start costs its width, not the machine's chips)."""
        if not per_core:
            return 0.0
        cap, per_chip = self.chip_memory_gib, self.cores_per_chip
        over = 0.0
        for chip in range(start // per_chip, (start + width - 1) // per_chip + 1):
            extra = 0.0
            for _ in range(max(start, chip * per_chip), min(start + width, (chip + 1) * per_chip)):
                extra += per_core
            used = self.memory[chip]
            over += max(0.0, used + extra - cap) - max(0.0, used - cap)
        return over

    def add(self, m: Model, start: int, width: int, share: float) -> None:
        per_core = (m.memory_gib or 0.0) / m.cores
        for c in range(start, start + width):
            self.loads[c] += share
            self.copies[c] += 1
            self.exclusive[c] = self.exclusive[c] or m.exclusive
            self.memory[c // self.cores_per_chip] += per_core


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
        loads=[0.0] * n,
        copies=[0] * n,
        exclusive=[False] * n,
        memory=[0.0] * inst.pools,
        cores_per_chip=inst.memory_cores,
        chip_memory_gib=inst.pool_memory_gib,
    )
    for m in _order(mix):
        share = m.demand / m.min_replicas
        remaining = m.min_replicas
        while remaining:
            copies = min(remaining, n // m.cores)
            width = copies * m.cores
            starts = [m.start] if m.start is not None else range(n - width + 1)
            start = min(starts, key=lambda s: state.key(m, s, width, share))
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
