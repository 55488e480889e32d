"""``round_robin``: torch-neuronx's default placement.

torch-neuronx has no least-used placement: plain loads go round-robin over the process's cores in
load order, wrapping (runtime rule 6). It is a row of its own so torch-neuronx users see their
default named; on a torch-neuronx mix it is what ``default`` does too. On a torch-neuron mix the
technique does not exist, so it raises :class:`~ncplace.errors.PlacementError` rather than emulate
another framework's runtime.
"""

from __future__ import annotations

from ..errors import PlacementError
from ..layout import Layout
from ..mix import Mix
from .base import load_each_copy, runtime_for

DESCRIPTION = "torch-neuronx default: each copy a plain load, round-robin over all cores"


def place(mix: Mix) -> Layout:
    """Each copy a plain load in one torch-neuronx process that owns every core.

    What the user writes::

        import torch
        import torch_neuronx

        bert_0 = torch.jit.load("bert.pt")      # core 0
        bert_1 = torch.jit.load("bert.pt")      # core 1, and so on, wrapping
        resnet_0 = torch.jit.load("resnet.pt")
    """
    if mix.framework != "torch-neuronx":
        raise PlacementError(
            f"round_robin is torch-neuronx's default placement; this mix is {mix.framework} "
            "(see 'default' for its least-used placement)"
        )
    rt = runtime_for(mix)
    load_each_copy(rt.start_process(), mix)
    return rt.layout()
