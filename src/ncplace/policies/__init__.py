"""Baseline policies: each documented placement technique, driven through the runtime emulator.

``POLICIES`` maps a name to a :class:`Policy` (``policy(mix) -> Layout`` with a one-line
``description``); the CLI's choices come from it. Each module's ``place`` docstring shows the code
a user of that technique would write.

=============  ==============================================================================
name           technique
=============  ==============================================================================
default        one process on all cores, each copy a plain load (least-used placement)
round_robin    torch-neuronx's default: plain loads round-robin over the cores
group_sizes    ``NEURONCORE_GROUP_SIZES`` with one group per copy, loads in mix order
multicore      every model loaded once under ``multicore_context()``
processes      one process per model with ``NEURON_RT_NUM_CORES = cores x replicas``
greedy         explicit ``neuron_cores_context`` blocks on the least-loaded windows
=============  ==============================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ..layout import Layout
from ..mix import Mix
from . import default, greedy, group_sizes, multicore, processes, round_robin
from .base import Baseline, Policy, copies_to_load, describe

POLICIES: dict[str, Policy] = {
    module.__name__.rsplit(".", 1)[-1]: Baseline(
        module.__name__.rsplit(".", 1)[-1],
        module.DESCRIPTION,
        module.place,
        getattr(module, "copies", None),
    )
    for module in (default, round_robin, group_sizes, multicore, processes, greedy)
}
"""Every baseline policy by name, in the order tables list them."""

FIRST_WHEN_SHORT: tuple[str, ...] = ("greedy",)
"""The policies a table with a deadline runs before the others (it starts no policy after its
deadline once one has a feasible layout). ``greedy`` places every block with the hard rules in
mind, so it is the likeliest to give that layout: on 10,000 models on 256 cores it is the only
feasible policy and takes 0.7 s, where the ones before it in the table take 1.8 s."""


def run_order(names: Iterable[str]) -> list[str]:
    """``names`` in the order a table with a deadline runs them: :data:`FIRST_WHEN_SHORT` first,
    the rest as given. The table still lists them as given."""
    names = list(names)
    return [n for n in names if n in FIRST_WHEN_SHORT] + [
        n for n in names if n not in FIRST_WHEN_SHORT
    ]


SECONDS_PER_COPY = 1.5e-6
"""What a table's row costs per copy: loading it in the runtime emulator, scoring it and writing
it out (multicore's 2.56 million copies of 10,000 models on 256 cores: 1.3-1.4 s to load, 0.5 s
to score, 2.2 s to write as JSON)."""


def ends_past(policy: Callable[[Mix], Layout], mix: Mix, deadline: float) -> bool:
    """Whether loading the copies ``policy`` places (:func:`.base.copies_to_load`) alone would
    take it past ``deadline`` (``time.perf_counter()`` seconds)."""
    return time.perf_counter() + SECONDS_PER_COPY * copies_to_load(policy, mix) > deadline


__all__ = [
    "FIRST_WHEN_SHORT",
    "POLICIES",
    "SECONDS_PER_COPY",
    "Baseline",
    "Policy",
    "describe",
    "ends_past",
    "run_order",
]
