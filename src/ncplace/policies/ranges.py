"""A technique inside a run of cores, as a process started on those cores sees it.

Whenever a deployment gives processes runs of cores of their own (tensor-parallel servers started
first, declared processes, a pool of workers), a baseline technique works inside one run as it
would on a machine of that many cores: the policy runs on that smaller machine, and
:func:`moved` moves its layout up by the run's first core.

Declared processes (``processes:``, :func:`in_processes`) are started in the order the mix lists
them, after the servers, each on the run that follows the previous one: a process with
``cores: c`` gets ``c`` cores, the others share what is left equally, in whole chips (the
optimizer sizes the runs itself; a user of a baseline technique has to choose, and equal shares
are the plain choice). Each run must fill whole chips, so that the smaller machine has the real
chips and memory; otherwise the technique cannot be compared and a
:class:`~ncplace.errors.PlacementError` says why. Each process's technique sees only its run:
it is given ``NEURON_RT_VISIBLE_CORES`` for the cores it owns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from .. import envvars
from ..errors import PlacementError
from ..hardware import Instance
from ..layout import Layout, Placement, ProcessSpan
from ..mix import Mix
from ..processes import ProcessSpec


def moved(
    layout: Layout, inst: Instance, offset: int, first: int, own_run: bool
) -> tuple[list[ProcessSpan], list[Placement]]:
    """``layout``'s processes and placements moved up by ``offset`` cores of ``inst``, its
    process indices from ``first``. ``own_run``: every process is given
    ``NEURON_RT_VISIBLE_CORES`` for the cores it owns (and ``NEURON_LOGICAL_NC_CONFIG=1`` on a
    trn2 machine at LNC=1), in place of ``NEURON_RT_NUM_CORES``. Otherwise only a process that
    set visible cores or took every core does (``NEURON_RT_NUM_CORES=n`` takes the first free
    run, which is the moved one when the runs before it are taken: the servers' rule)."""
    spans = []
    for span in layout.processes:
        cores = tuple(c + offset for c in span.cores)
        env = dict(span.env)
        if own_run:
            env = {k: v for k, v in env.items() if k != envvars.NUM_CORES}
            env[envvars.VISIBLE_CORES] = envvars.format_visible_cores(cores)
            if inst.lnc == 1:
                env[envvars.LOGICAL_NC_CONFIG] = "1"
        elif envvars.VISIBLE_CORES in env or env.get(envvars.NUM_CORES, "0").strip() in ("", "0"):
            env.pop(envvars.NUM_CORES, None)
            env[envvars.VISIBLE_CORES] = envvars.format_visible_cores(cores)
        groups = tuple(tuple(c + offset for c in g) for g in span.groups)
        spans.append(ProcessSpan(cores, groups, env))
    placements = [
        Placement(
            p.model, tuple(tuple(c + offset for c in r) for r in p.replicas), p.process + first
        )
        for p in layout.placements
    ]
    return spans, placements


def stacked(inst: Instance, parts: Iterable[tuple[Layout, int]]) -> Layout:
    """One layout of ``inst`` from ``parts`` (a layout and the first core of its run), each moved
    to its run with every process seeing only its own cores (:func:`moved`), in order."""
    spans: list[ProcessSpan] = []
    placements: list[Placement] = []
    for layout, offset in parts:
        more_spans, more = moved(layout, inst, offset, len(spans), own_run=True)
        spans += more_spans
        placements += more
    return Layout(inst, tuple(spans), tuple(placements))


def in_processes(place: Callable[[Mix], Layout], mix: Mix, specs: Sequence[ProcessSpec]) -> Layout:
    """``place`` used inside each of the declared processes ``specs`` (none tensor-parallel) on
    ``mix``'s machine, each on its run of cores (see the module docstring)."""
    inst = mix.instance
    parts = []
    offset = 0
    for spec, size in zip(specs, _run_sizes(inst, specs), strict=True):
        where = f"process {spec.name!r} on cores {offset}-{offset + size - 1}"
        if offset + size > inst.cores:
            raise PlacementError(
                f"{where}: past the {inst.cores} cores left for the declared processes"
            )
        if offset % inst.cores_per_chip or size % inst.cores_per_chip or size <= 0:
            raise PlacementError(
                f"{where}: a baseline runs its technique on whole chips of "
                f"{inst.cores_per_chip} cores; give the processes cores that fill whole chips"
            )
        run = replace(inst, cores=size, name=f"{inst.name}, {where}")
        models = tuple(mix[name] for name in spec.models)
        parts.append((place(Mix(models, run, mix.framework)), offset))
        offset += size
    return stacked(inst, parts)


def _run_sizes(inst: Instance, specs: Sequence[ProcessSpec]) -> list[int]:
    """Each process's cores: its own ``cores``, else an equal share of the rest in whole chips
    (at least one chip each)."""
    unsized = sum(spec.cores is None for spec in specs)
    left = inst.cores - sum(spec.cores or 0 for spec in specs)
    chip = inst.cores_per_chip
    share = max(chip, left // max(unsized, 1) // chip * chip)
    return [spec.cores if spec.cores is not None else share for spec in specs]
