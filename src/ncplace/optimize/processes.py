"""Plans of several processes: declared processes, tensor-parallel servers and worker pools.

Declared processes (and the processes of tensor-parallel models, :func:`ncplace.processes.
process_specs`) are planned by the block model itself: each process's range is an interval, the
ranges do not overlap, and every model's block lies inside its process's range
(:func:`.constraints.add_processes`). The solver does not report the ranges: they are read back
from the models' blocks by :func:`process_ranges`, so that every search that yields an assignment
yields the same layout.

A pool of ``N`` workers (``workers: N``) is planned as ``N`` equal disjoint ranges of ``W`` cores
with the same layout in each (:func:`plan_workers`). Why: the workers are identical processes
behind one load balancer, so each serves ``1 / N`` of every model's traffic; a layout that is
best for one worker's slice is then best over layouts whose workers are equal slices, and the
generated code is one script run ``N`` times with only ``NEURON_RT_VISIBLE_CORES`` changed. ``W`` is
the largest width up to ``cores // N`` that keeps every slice alike: a multiple of the chip
width (whole chips), or a divisor of it (several workers per chip, each with its share of the
chip's memory). Cores past ``N W`` stay idle. Unequal workers could use them, at the price of
workers that differ; the bound the plan reports is therefore over equal-slice layouts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..envvars import LOGICAL_NC_CONFIG, VISIBLE_CORES, format_visible_cores
from ..errors import PlacementError
from ..hardware import Instance
from ..layout import Layout, Placement, ProcessSpan
from ..mix import Mix
from ..policies.ranges import run_machine, run_width, stacked
from ..score import score
from .plan import Plan
from .problem import ProcessData


def process_env(inst: Instance, cores: Sequence[int]) -> dict[str, str]:
    """The environment of a process owning ``cores``: its ``NEURON_RT_VISIBLE_CORES``, and
    ``NEURON_LOGICAL_NC_CONFIG=1`` on a trn2 machine at LNC=1 (2 is the runtime's default)."""
    env = {VISIBLE_CORES: format_visible_cores(cores)}
    if inst.lnc == 1:
        env[LOGICAL_NC_CONFIG] = "1"
    return env


def process_ranges(
    processes: Sequence[ProcessData], placements: Sequence[Placement], cores: int
) -> list[range]:
    """Each process's range: the span of its models' copies, or, for a fixed core count ``c``,
    the leftmost run of ``c`` cores that holds that span and starts after the previous range
    (ranges in the order of their spans), from the span's first core for a tensor-parallel
    server. Leftmost is safe: a range further left never leaves
    less room for the next, so this succeeds whenever any disjoint ranges exist, as they do for
    a layout of the block model."""
    spans = []
    for i, proc in enumerate(processes):
        used = [c for p in placements if p.process == i for c in p.cores]
        if not used:
            raise PlacementError(f"process {proc.name!r} has no model placed")
        spans.append((min(used), max(used), i))
    ranges: dict[int, range] = {}
    end = 0
    for lo, hi, i in sorted(spans):
        size = processes[i].cores
        first = lo if size is None or processes[i].anchored else max(end, hi + 1 - size)
        last = hi if size is None else first + size - 1
        if first < end or first > lo or last >= cores:
            raise PlacementError(
                f"process {processes[i].name!r}: no range of {size} cores holds its models on "
                f"nc{lo}-nc{hi} after nc{end - 1}"
            )
        ranges[i] = range(first, last + 1)
        end = last + 1
    return [ranges[i] for i in range(len(processes))]


def process_layout(
    mix: Mix, processes: Sequence[ProcessData], placements: Sequence[Placement]
) -> Layout:
    """The layout of ``placements`` (each naming its process's index) in ``processes``; a
    tensor-parallel server's range holding several copies (back to back) becomes one process
    per copy, each copy a server of its own."""
    inst = mix.instance
    ranges = process_ranges(processes, placements, inst.cores)
    spans: list[ProcessSpan] = []
    out: list[Placement] = []
    for i, (proc, cores) in enumerate(zip(processes, ranges, strict=True)):
        mine = [p for p in placements if p.process == i]
        if proc.anchored:
            for p in mine:
                for copy in p.replicas:
                    out.append(Placement(p.model, (copy,), len(spans)))
                    spans.append(ProcessSpan(copy, (), process_env(inst, copy)))
            continue
        out += [Placement(p.model, p.replicas, len(spans)) for p in mine]
        spans.append(ProcessSpan(tuple(cores), (), process_env(inst, cores)))
    return Layout(inst, tuple(spans), tuple(out))


def worker_width(inst: Instance, workers: int) -> int:
    """The cores of each of ``workers`` equal slices (see the module docstring)."""
    return max(1, run_width(inst.cores_per_chip, inst.cores // workers))


def worker_slice(mix: Mix) -> Mix:
    """One worker's problem: every model with ``1 / N`` of its traffic, on a machine of ``W``
    cores with the same chips (or its share of one chip's cores and memory)."""
    workers = mix.workers or 1
    sliced = slice_instance(mix.instance, workers)
    models = [m if m.rate is None else replace(m, rate=m.rate / workers) for m in mix.models]
    return Mix(tuple(models), sliced, mix.framework)


def slice_instance(inst: Instance, workers: int) -> Instance:
    """The machine each of ``workers`` equal slices of ``inst`` is: ``W`` cores in the same
    chips, or one chip's share of cores and memory (:func:`worker_width`)."""
    return run_machine(inst, worker_width(inst, workers), f"{inst.name} worker slice")


def repeat_slice(mix: Mix, layout: Layout) -> Layout:
    """``layout``, of one worker's slice (:func:`worker_slice`), repeated in each of the pool's
    ``N`` ranges of ``W`` cores: each of its processes becomes one per worker, with its cores and
    groups moved up by the worker's offset and ``NEURON_RT_VISIBLE_CORES`` set to the cores it
    owns there, in place of any ``NEURON_RT_NUM_CORES`` (a worker sees only its own range)."""
    width = layout.instance.cores
    return stacked(mix.instance, ((layout, w * width) for w in range(mix.workers or 1)))


def plan_workers(mix: Mix, solve: Any, **options: Any) -> Plan:
    """Plan a pool of workers: solve one worker's slice with ``solve`` (:func:`ncplace.optimize`)
    and repeat its layout in ``N`` disjoint ranges (see the module docstring). The plan's
    objective and score are the scorer's values of the whole layout; its bound is the slice's,
    which speaks for layouts of equal slices."""
    workers = mix.workers or 1
    sub = worker_slice(mix)
    plan = solve(sub, **options)
    if plan.layout is None:
        return replace(plan, mix=mix)
    width = sub.instance.cores
    worker = ProcessSpan(tuple(range(width)))
    one = tuple(replace(p, process=0) for p in plan.layout.placements)
    layout = repeat_slice(mix, Layout(sub.instance, (worker,), one))
    sc = score(layout, mix)
    value = float(sc.overlap) if plan.objective_name == "overlap" else sc.peak_load
    # Every worker repeats the slice: the peak is the slice's, the overlap N times its.
    bound = plan.bound * workers if plan.objective_name == "overlap" else plan.bound
    return replace(
        plan,
        bound=bound,
        mix=mix,
        layout=layout,
        score=sc,
        objective=value,
        peak_load=sc.peak_load,
        overlap=sc.overlap,
        stop_reason=f"{plan.stop_reason}; {workers} workers of {width} cores",
    )
