"""``multicore``: every model loaded once under ``multicore_context()``.

The guide's "Automatic Multicore": one handle per model, replicated over every core the process
owns (``floor(cores / pipeline size)`` copies from the first core, runtime rule 5), whatever the
mix's replica counts say. Every model therefore shares every core with every other model: the
most overlap possible, traded for no routing code at all.
"""

from __future__ import annotations

from ..layout import Layout
from ..mix import Mix
from .base import runtime_for

DESCRIPTION = "one process on all cores; every model loaded once under multicore_context()"


def copies(mix: Mix) -> int:
    """The copies ``place`` loads: ``floor(cores / pipeline size)`` of every model."""
    return sum(mix.instance.cores // m.cores for m in mix.models)


def place(mix: Mix) -> Layout:
    """One process owning every core; each model loaded once inside ``multicore_context()``.

    What the user writes::

        import torch
        import torch_neuron

        with torch_neuron.experimental.multicore_context():
            bert = torch.jit.load("bert.pt")      # copies on every 4-core block
        with torch_neuron.experimental.multicore_context():
            resnet = torch.jit.load("resnet.pt")  # a copy on every core
    """
    rt = runtime_for(mix)
    process = rt.start_process()
    for m in mix:
        with process.multicore_context():
            process.load(m.name, cores=m.cores)
    return rt.layout()
