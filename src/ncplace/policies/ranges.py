"""A technique inside a run of cores, as a process started on those cores sees it.

Whenever a deployment gives processes runs of cores of their own (tensor-parallel servers started
first, declared processes, a pool of workers), a baseline technique works inside one run as it
would on a machine of that many cores: the policy runs on that smaller machine, and
:func:`moved` moves its layout up by the run's first core.

Declared processes (``processes:``, :func:`in_processes`) are started in the order the mix lists
them, after the servers, each on the first run after the previous one that is whole chips or
lies inside one chip (cores skipped to reach it stay idle): a process with
``cores: c`` gets ``c`` cores, the others share what is left equally, in whole chips or equal
parts of one chip (the optimizer sizes the runs itself; a user of a baseline technique has to
choose, and equal shares are the plain choice). A run must be whole chips or lie inside one chip
(which then lends it its share of the chip's memory, :func:`run_machine`), so that the smaller
machine is one the technique knows; otherwise it cannot be compared and a
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
    chip = inst.cores_per_chip
    parts = []
    offset = 0
    for spec, size in zip(specs, _run_sizes(inst, specs), strict=True):
        if size > chip and size % chip:
            raise PlacementError(
                f"process {spec.name!r}: cores: {size}: a baseline runs its technique on whole "
                f"chips of {chip} cores or on part of one chip; give it a multiple of {chip} or "
                f"at most {chip}"
            )
        offset = _aligned(offset, size, chip)
        if size < 1 or offset + size > inst.cores:
            raise PlacementError(
                f"process {spec.name!r}: no room left for its {size} core(s) after the processes "
                f"before it on {inst.name} ({inst.cores} cores)"
            )
        cores = envvars.format_visible_cores(range(offset, offset + size))
        models = tuple(mix[name] for name in spec.models)
        run = run_machine(inst, size, f"{inst.name}, process {spec.name!r} on cores {cores}")
        parts.append((place(Mix(models, run, mix.framework)), offset))
        offset += size
    return stacked(inst, parts)


def run_width(chip: int, limit: int) -> int:
    """The widest run of at most ``limit`` cores that is whole chips of ``chip`` cores or a share
    of one chip that divides it (so that runs of that width tile the chips); 0 below one core."""
    for width in range(limit, 0, -1):
        if width % chip == 0 or chip % width == 0:
            return width
    return 0


def run_machine(inst: Instance, width: int, name: str) -> Instance:
    """The machine a run of ``width`` cores of ``inst`` is, for a technique used inside it: whole
    chips as they are, or a part of one chip with its share of the chip's memory (the same
    device memory, split between the processes on the chip)."""
    per_chip = min(width, inst.cores_per_chip)
    memory = inst.chip_memory_gib * per_chip / inst.cores_per_chip  # type: ignore[operator]
    bank = inst.bank_cores if inst.bank_cores and per_chip % inst.bank_cores == 0 else None
    shaped = replace(inst, cores=width, cores_per_chip=per_chip, bank_cores=bank)
    return replace(shaped, chip_memory_gib=memory, name=name)


def _aligned(offset: int, size: int, chip: int) -> int:
    """The first core from ``offset`` where a run of ``size`` cores is whole chips or lies inside
    one chip (the cores skipped stay idle)."""
    if size % chip == 0:
        return -(-offset // chip) * chip
    if offset // chip != (offset + size - 1) // chip:
        return (offset // chip + 1) * chip
    return offset


def _run_sizes(inst: Instance, specs: Sequence[ProcessSpec]) -> list[int]:
    """Each process's cores: its own ``cores``, else an equal share of the rest, in whole chips
    or a share of one chip (:func:`run_width`)."""
    unsized = sum(spec.cores is None for spec in specs)
    left = inst.cores - sum(spec.cores or 0 for spec in specs)
    share = run_width(inst.cores_per_chip, left // max(unsized, 1))
    return [spec.cores if spec.cores is not None else share for spec in specs]
