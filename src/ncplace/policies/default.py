"""``default``: one process owns every core and loads each copy plainly, in mix order.

The guide's recommended start ("default core placement"). On torch-neuron each load lands on the
least-used window of cores (runtime rule 3); on torch-neuronx plain loads go round-robin over the
cores (rule 6), so there this policy and ``round_robin`` coincide.
"""

from __future__ import annotations

from ..layout import Layout
from ..mix import Mix
from .base import load_each_copy, runtime_for

DESCRIPTION = "one process on all cores; each copy a plain load in mix order (least-used placement)"


def place(mix: Mix) -> Layout:
    """Each copy a separate plain load in one process that owns every core.

    What the user writes (no placement variables, so the process takes every core)::

        import torch
        import torch_neuron

        bert_0 = torch.jit.load("bert.pt")      # one load per copy, in mix order
        bert_1 = torch.jit.load("bert.pt")
        resnet_0 = torch.jit.load("resnet.pt")

    One handle per copy: the application routes requests across them.
    """
    rt = runtime_for(mix)
    load_each_copy(rt.start_process(), mix)
    return rt.layout()
