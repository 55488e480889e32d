"""``group_sizes``: ``NEURONCORE_GROUP_SIZES`` with one group per copy, sized to it.

The guide's intended use of the (deprecated) variable: one NeuronCore Group per model copy, each
group exactly the copy's pipeline size, loads in mix order so the i-th load lands in group i. The
groups are carved from the process's first core and need ``sum of cores x replicas`` cores; when
that exceeds the instance the technique cannot express the mix. The variable is read by
torch-neuron (Inf1) only, so a torch-neuronx mix cannot use it either *(ncplace)*.
"""

from __future__ import annotations

from .. import envvars
from ..errors import PlacementError
from ..layout import Layout
from ..mix import Mix
from .base import copies_sum, load_each_copy, runtime_for

DESCRIPTION = "NEURONCORE_GROUP_SIZES: one group per copy sized to it, loads in mix order"


def place(mix: Mix) -> Layout:
    """One process with a NeuronCore Group per copy; each copy a plain load in mix order.

    What the user writes, for ``bert`` (4 cores, 2 copies) then ``resnet`` (1 core)::

        export NEURONCORE_GROUP_SIZES=4,4,1

        bert_0 = torch.jit.load("bert.pt")      # group 0: nc0-nc3
        bert_1 = torch.jit.load("bert.pt")      # group 1: nc4-nc7
        resnet_0 = torch.jit.load("resnet.pt")  # group 2: nc8
    """
    if mix.framework != "torch-neuron":
        raise PlacementError(
            f"group_sizes: NEURONCORE_GROUP_SIZES is a torch-neuron (Inf1) setting; this mix is "
            f"{mix.framework}"
        )
    sizes = [m.cores for m in mix for _ in range(m.min_replicas)]
    terms, total = copies_sum(mix)
    n = mix.instance.cores
    if total > n:
        raise PlacementError(
            f"group_sizes: one group per copy needs {terms} = {total} cores but "
            f"{mix.instance.name} has {n}; NeuronCore Groups cannot share cores"
        )
    rt = runtime_for(mix)
    process = rt.start_process({envvars.GROUP_SIZES: envvars.format_group_sizes(sizes)})
    load_each_copy(process, mix)
    return rt.layout()
