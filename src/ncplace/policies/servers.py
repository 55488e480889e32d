"""Tensor-parallel servers beside a baseline policy.

A tensor-parallel model is an LLM server (each of its copies a process of its own), whatever
technique places the other models. A user of any baseline starts those servers first, each with
``NEURON_RT_NUM_CORES=k`` (the driver gives the first free run of ``k`` cores, lowest first, so
the servers fill cores ``0 .. K-1``, ``K`` their total), its ranks on the process's cores in
order (:meth:`~ncplace.runtime.Process.load_ranks`). The technique then lays the other models out
on the cores after them, as it would on a machine of ``N - K`` cores: the policy runs on that
smaller machine, and its layout is moved up by ``K``. Its processes keep their environment where
it still says the same (``NEURON_RT_VISIBLE_CORES`` shifted by ``K``; ``NEURON_RT_NUM_CORES=n``
already takes the first free run after the servers); a process that took every core of the
smaller machine is given ``NEURON_RT_VISIBLE_CORES`` for the cores after the servers, since on
the real machine it would otherwise ask for the servers' cores as well.

``K`` must end on a chip boundary, so that the smaller machine has the real chips; otherwise the
technique cannot be compared and a :class:`~ncplace.errors.PlacementError` says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .. import envvars
from ..errors import PlacementError
from ..layout import Layout
from ..mix import Mix
from ..processes import is_tensor_parallel
from ..runtime import Runtime
from .ranges import in_processes, moved


def with_servers(place: Callable[[Mix], Layout], mix: Mix) -> Layout:
    """``place(mix)``, with the mix's tensor-parallel models started first as servers (see the
    module docstring) and its other declared processes each in a run of its own
    (:func:`.ranges.in_processes`)."""
    inner = _declared(place, mix)
    servers = [m for m in mix.models if is_tensor_parallel(m)]
    if not servers:
        return inner(mix)
    inst = mix.instance
    runtime = Runtime(inst, mix.framework)
    for m in servers:
        for _ in range(m.min_replicas):
            runtime.start_process({envvars.NUM_CORES: str(m.cores)}).load_ranks(m.name, m.cores)
    front = runtime.layout()
    used = sum(m.width for m in servers)
    rest = [m for m in mix.models if not is_tensor_parallel(m)]
    if not rest:
        return front
    if used % inst.cores_per_chip or used >= inst.cores:
        raise PlacementError(
            f"tensor-parallel servers take cores 0-{used - 1}, which leaves no whole chip for "
            f"the other models on {inst.name}"
        )
    smaller = replace(inst, cores=inst.cores - used, name=f"{inst.name} after the servers")
    layout = inner(Mix(tuple(rest), smaller, mix.framework))
    spans, placements = moved(layout, inst, used, len(front.processes), own_run=False)
    return Layout(inst, (*front.processes, *spans), (*front.placements, *placements))


def _declared(place: Callable[[Mix], Layout], mix: Mix) -> Callable[[Mix], Layout]:
    """How the models beside the servers are placed: ``place`` as it is, unless the mix declares
    several such processes or sizes one (then each in its run, :func:`.ranges.in_processes`)."""
    specs = [s for s in mix.processes if not any(is_tensor_parallel(mix[n]) for n in s.models)]
    if len(specs) < 2 and all(spec.cores is None for spec in specs):
        return place
    return lambda rest: in_processes(place, rest, specs)
