"""``processes``: one process per model, sized with ``NEURON_RT_NUM_CORES``.

The guide's "Multiple Processes" pattern: each model runs in its own process that asks for
``cores x replicas`` cores; the driver hands each the first free run (first fit, in mix order) and
the process loads its copies plainly (least-used, so they land side by side). Processes never
share a core, so when the blocks add up to more cores than the instance has the technique cannot
express the mix.
"""

from __future__ import annotations

from .. import envvars
from ..errors import ConfigError, CoresUnavailable, PlacementError
from ..layout import Layout
from ..mix import Mix
from .base import copies_sum, load_each_copy, runtime_for

DESCRIPTION = "one process per model with NEURON_RT_NUM_CORES = cores x replicas, first fit"


def place(mix: Mix) -> Layout:
    """One process per model, each started with ``NEURON_RT_NUM_CORES`` = its cores x replicas.

    What the user runs, for ``bert`` (4 cores, 2 copies) and ``resnet`` (1 core)::

        NEURON_RT_NUM_CORES=8 python serve.py bert.pt 2 &    # takes nc0-nc7
        NEURON_RT_NUM_CORES=1 python serve.py resnet.pt 1 &  # takes nc8

    where ``serve.py`` loads its model once per copy, plainly::

        import sys
        import torch
        import torch_neuron

        path, copies = sys.argv[1], int(sys.argv[2])
        models = [torch.jit.load(path) for _ in range(copies)]  # least-used: side by side
    """
    rt = runtime_for(mix)
    used = 0
    for m in mix:
        try:
            process = rt.start_process({envvars.NUM_CORES: str(m.width)})
        except (CoresUnavailable, ConfigError):
            terms, total = copies_sum(mix)
            n = mix.instance.cores
            raise PlacementError(
                f"processes: the process for {m.name!r} asks for {m.width} core(s) after earlier "
                f"processes took {used}; one process per model needs {terms} = {total} cores but "
                f"{mix.instance.name} has {n}, and processes cannot share cores"
            ) from None
        used += m.width
        load_each_copy(process, [m])
    return rt.layout()
