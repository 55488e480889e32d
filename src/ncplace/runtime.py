"""An exact, executable model of how the Neuron runtime places models on NeuronCores.

:class:`Runtime` stands for one instance; :meth:`Runtime.start_process` starts a process that
acquires cores from its environment, and :meth:`Process.load` stands for ``torch.jit.load`` of a
compiled model whose copies need ``cores`` consecutive cores each (its NeuronCore Pipeline size).

The rules, from the guide and ``neuron-facts.md``; where they are silent, the choice made here is
marked *(ncplace)*.

1. **Acquiring cores.** ``NEURON_RT_VISIBLE_CORES`` wins over ``NEURON_RT_NUM_CORES``: exactly those
   cores. Else ``NEURON_RT_NUM_CORES=n`` (n >= 1) takes the first run of n consecutive free cores,
   lowest index first (the driver's rule). Else, with ``NEURONCORE_GROUP_SIZES`` alone, the
   process takes sum(sizes) cores the same first-fit way *(ncplace)*. Else (or with
   ``NEURON_RT_NUM_CORES=0``) it takes every core of the instance. An owned core or no free run
   raises :class:`~ncplace.errors.CoresUnavailable` in the runtime's words (requested cores, free
   cores, largest free run). Processes never share a core; :meth:`Process.stop` frees them. With
   ``NEURON_RT_VISIBLE_CORES`` set, ``NEURON_RT_NUM_CORES`` is not read at all; other variables
   are kept in the process's environment and ignored. A start that fails takes no core.
2. **Groups.** ``NEURONCORE_GROUP_SIZES`` carves contiguous groups in order from the process's first
   core (sum above the process's cores: ``ConfigError``). Outside any context the i-th such load
   goes to group ``i mod G``, starts at the group's first core and occupies ``k`` cores from there,
   spilling into the next group when larger; past the process's last core it raises
   ``PlacementError``. Only loads outside a context, and only loads that succeed, count in ``i``
   *(ncplace)*. Groups apply under torch-neuronx too, before its round-robin *(ncplace)*.
3. **Default placement** (no groups, no context, torch-neuron): the window of ``k`` consecutive
   process cores minimising, in order, the largest copy count on a core of the window, the total
   copy count in the window, the start index ("least used"). A copy count is how many loaded model
   copies use a core.
4. **neuron_cores_context(start_nc, nc_count)**: indices relative to the process's cores.
   ``nc_count=-1`` loads one copy; otherwise ``floor(nc_count / k)`` copies on consecutive k-blocks
   (zero copies: ``PlacementError``). ``nc_count`` of 0, below -1 or above the process's cores is
   a ``ValueError`` as in torch-neuron (ours is a ``PlacementError``, an ``ncplace.Error``).
   ``start_nc=-1`` places the whole block of copies by rule 3 *(ncplace)*; a start below -1 or a
   block past the last core raises ``PlacementError`` *(ncplace: the framework does not check)*.
   Groups are ignored inside a context. Contexts nest; the innermost applies *(ncplace)*.
5. **multicore_context()**: ``floor(process cores / k)`` copies from the process's first core.
6. **torch-neuronx**: no pipelines (``k`` must be 1); default placement is round-robin over the
   process's cores in load order, wrapping; loads inside contexts do not advance it *(ncplace)*.
7. **Tensor parallelism** (:meth:`Process.load_ranks`): one copy whose ``k`` ranks take the
   process's first ``k`` cores, rank ``i`` on core ``i``, as neuronx-distributed and
   transformers-neuronx load them.
8. **Logical NeuronCores** (Trn2): ``NEURON_LOGICAL_NC_CONFIG`` in a process's environment sets the
   LNC the runtime uses (1 or 2). A runtime emulates one core numbering: while no process is live
   a start with another LNC switches the runtime to the same machine at that LNC (so
   ``runtime.instance`` becomes ``trn2.48xlarge:lnc=1``, 128 cores); with processes live it is
   refused *(ncplace: mixing LNCs on one machine is not documented)*. On a machine without LNC the
   variable is refused, since the documents apply it to Trn2 (and Trn3) only.

A load that raises changes nothing: no copy is counted and no turn is taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import envvars
from .errors import ConfigError, CoresUnavailable, PlacementError
from .hardware import FRAMEWORKS, Instance, with_lnc
from .layout import Layout, Placement, ProcessSpan

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Loaded:
    """The result of one load: the model's name and the cores of each copy (global indices)."""

    name: str
    replicas: tuple[tuple[int, ...], ...]
    process: Process

    @property
    def cores(self) -> tuple[int, ...]:
        return tuple(sorted({c for r in self.replicas for c in r}))


@dataclass(frozen=True)
class _CoresContext:
    start_nc: int
    nc_count: int


@dataclass(frozen=True)
class _MulticoreContext:
    pass


_Context = _CoresContext | _MulticoreContext
_plus_one = (1).__add__


class Runtime:
    """One instance and the processes started on it (see the module docstring for the rules)."""

    def __init__(self, instance: Instance, framework: str | None = None) -> None:
        if not isinstance(instance, Instance):
            raise ConfigError(
                f"Runtime instance: expected an Instance such as ncplace.instance('inf1.6xlarge'), "
                f"got {instance!r}"
            )
        framework = instance.framework if framework is None else framework
        if framework not in FRAMEWORKS:
            raise ConfigError(f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")
        self.instance = instance
        self.framework = framework
        self._owner: list[Process | None] = [None] * instance.cores
        self._processes: list[Process] = []

    @property
    def processes(self) -> tuple[Process, ...]:
        """Live processes, in start order."""
        return tuple(self._processes)

    def free_cores(self) -> tuple[int, ...]:
        return tuple(c for c, o in enumerate(self._owner) if o is None)

    def start_process(self, env: Mapping[str, str] | None = None) -> Process:
        """Start a process with environment ``env``; it acquires its cores now (rule 1)."""
        if env is not None and not isinstance(env, Mapping):
            raise ConfigError(f"environment: expected a mapping of names to strings, got {env!r}")
        env = dict(env or {})
        for key, value in env.items():
            if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
                raise ConfigError(f"environment variable name {key!r} is not a valid name")
            if not isinstance(value, str):
                raise ConfigError(f"environment variable {key}={value!r}: values must be strings")
        if envvars.LOGICAL_NC_CONFIG in env:
            self._set_lnc(env[envvars.LOGICAL_NC_CONFIG])
        total = self.instance.cores
        groups_sizes: tuple[int, ...] = ()
        if envvars.GROUP_SIZES in env:
            groups_sizes = envvars.parse_group_sizes(env[envvars.GROUP_SIZES])
        if envvars.VISIBLE_CORES in env:
            cores = envvars.parse_visible_cores(env[envvars.VISIBLE_CORES], total)
            taken = [c for c in cores if self._owner[c] is not None]
            if taken:
                raise CoresUnavailable(
                    f"NeuronCore(s) not available - Requested:nc{cores[0]}-nc{cores[-1]} "
                    f"Available:{self._describe_free()} (nc{taken[0]} is owned by another "
                    f"process; largest free run {self._largest_free_run()})"
                )
        else:
            count = 0
            if envvars.NUM_CORES in env:
                count = envvars.parse_num_cores(env[envvars.NUM_CORES], total)
            elif groups_sizes:
                count = sum(groups_sizes)
                if count > total:
                    raise ConfigError(
                        f"{envvars.GROUP_SIZES}={env[envvars.GROUP_SIZES]!r}: the groups need "
                        f"{count} cores but the instance has {total}"
                    )
            cores = self._acquire(count if count else total)
        groups = _carve_groups(groups_sizes, cores, env.get(envvars.GROUP_SIZES, ""))
        process = Process(self, cores, groups, env)
        for c in cores:
            self._owner[c] = process
        self._processes.append(process)
        return process

    def _set_lnc(self, text: str) -> None:
        """Rule 8: switch to the machine at the LNC ``text`` asks for, or refuse."""
        lnc = envvars.parse_lnc(text)
        inst = self.instance
        where = f"{envvars.LOGICAL_NC_CONFIG}={text!r}"
        if inst.lnc is None:
            raise ConfigError(
                f"{where}: {inst.name} has no logical NeuronCore configuration; the variable "
                "applies to trn2 machines only"
            )
        if lnc == inst.lnc:
            return
        if self._processes:
            raise ConfigError(
                f"{where}: the live processes use LNC={inst.lnc}; ncplace emulates one LNC per "
                "machine at a time (the core numbering differs)"
            )
        self.instance = with_lnc(inst, lnc, where)
        self._owner = [None] * self.instance.cores

    def _acquire(self, count: int) -> tuple[int, ...]:
        run = 0
        for core, owner in enumerate(self._owner):
            run = run + 1 if owner is None else 0
            if run == count:
                return tuple(range(core - count + 1, core + 1))
        raise CoresUnavailable(
            f"NeuronCore(s) not available - Requested:{count} contiguous core(s) "
            f"Available:{self._describe_free()} (largest free run {self._largest_free_run()})"
        )

    def _largest_free_run(self) -> int:
        best = run = 0
        for owner in self._owner:
            run = run + 1 if owner is None else 0
            best = max(best, run)
        return best

    def _describe_free(self) -> str:
        free = self.free_cores()
        if not free:
            return "0"
        runs: list[tuple[int, int]] = []
        for c in free:
            if runs and runs[-1][1] == c - 1:
                runs[-1] = (runs[-1][0], c)
            else:
                runs.append((c, c))
        text = ",".join(f"nc{a}" if a == b else f"nc{a}-nc{b}" for a, b in runs)
        return f"{len(free)} ({text})"

    def _release(self, process: Process) -> None:
        for c in process.cores:
            if self._owner[c] is process:
                self._owner[c] = None
        self._processes.remove(process)

    def layout(self) -> Layout:
        """The live processes and their loads as an immutable :class:`Layout`."""
        spans = tuple(ProcessSpan(p.cores, p.groups, p.env) for p in self._processes)
        placements = tuple(
            Placement(m.name, m.replicas, i)
            for i, p in enumerate(self._processes)
            for m in p.loaded
        )
        return Layout(self.instance, spans, placements)


def _carve_groups(
    sizes: tuple[int, ...], cores: tuple[int, ...], text: str
) -> tuple[tuple[int, ...], ...]:
    if sum(sizes) > len(cores):
        raise ConfigError(
            f"{envvars.GROUP_SIZES}={text!r}: the groups need {sum(sizes)} cores but the "
            f"process owns {len(cores)} (nc{cores[0]}-nc{cores[-1]})"
        )
    groups, start = [], 0
    for size in sizes:
        groups.append(cores[start : start + size])
        start += size
    return tuple(groups)


class Process:
    """A process on a :class:`Runtime`: its cores, groups, contexts and loaded models."""

    def __init__(
        self,
        runtime: Runtime,
        cores: tuple[int, ...],
        groups: tuple[tuple[int, ...], ...],
        env: Mapping[str, str],
    ) -> None:
        self.runtime = runtime
        self.cores = tuple(cores)
        self.groups = groups
        self.env = dict(env)
        self.loaded: list[Loaded] = []
        self._contexts: list[_Context] = []
        self._copies = [0] * len(cores)
        self._group_loads = 0
        self._round_robin = 0
        self._stopped = False

    def __repr__(self) -> str:
        return f"Process(cores={self.cores}, groups={self.groups}, loaded={len(self.loaded)})"

    @property
    def framework(self) -> str:
        return self.runtime.framework

    def copy_counts(self) -> tuple[int, ...]:
        """How many loaded copies use each of the process's cores (relative order)."""
        return tuple(self._copies)

    @contextmanager
    def neuron_cores_context(self, start_nc: int = -1, nc_count: int = -1) -> Iterator[None]:
        """Place loads in the block of ``nc_count`` cores at relative ``start_nc`` (rule 4)."""
        self._check_live()
        n = len(self.cores)
        for label, value in (("start_nc", start_nc), ("nc_count", nc_count)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise PlacementError(f"neuron_cores_context {label}={value!r}: must be an integer")
        if nc_count == 0 or nc_count < -1 or nc_count > n:
            raise PlacementError(
                f"neuron_cores_context nc_count={nc_count}: invalid; expected -1 (the model's own "
                f"cores) or 1..{n} (the cores visible to the process)"
            )
        if start_nc < -1:
            raise PlacementError(
                f"neuron_cores_context start_nc={start_nc}: invalid; expected -1 (least used) "
                f"or 0..{n - 1} (relative to the process's cores)"
            )
        self._contexts.append(_CoresContext(start_nc, nc_count))
        try:
            yield
        finally:
            self._contexts.pop()

    @contextmanager
    def multicore_context(self) -> Iterator[None]:
        """Replicate loads over all of the process's cores (rule 5)."""
        self._check_live()
        self._contexts.append(_MulticoreContext())
        try:
            yield
        finally:
            self._contexts.pop()

    def load(self, name: str, cores: int = 1) -> Loaded:
        """Load model ``name`` whose copies each need ``cores`` consecutive cores."""
        self._check_live()
        if not isinstance(name, str) or not name:
            raise PlacementError(f"load: model name must be a non-empty string, got {name!r}")
        if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
            raise PlacementError(f"load {name!r}: cores={cores!r}; expected an integer >= 1")
        n = len(self.cores)
        if self.framework == "torch-neuronx" and cores != 1:
            raise PlacementError(
                f"load {name!r}: torch-neuronx has no NeuronCore Pipeline; models use 1 core, "
                f"got cores={cores}"
            )
        if cores > n:
            raise PlacementError(
                f"load {name!r}: a copy needs {cores} cores but the process owns {n} "
                f"(nc{self.cores[0]}-nc{self.cores[-1]})"
            )
        first, copies = self._block(name, cores)
        end = first + copies * cores
        block = self.cores[first:end]
        replicas = tuple(zip(*[iter(block)] * cores, strict=True))
        self._copies[first:end] = map(_plus_one, self._copies[first:end])
        loaded = Loaded(name, replicas, self)
        self.loaded.append(loaded)
        return loaded

    def load_ranks(self, name: str, ranks: int) -> Loaded:
        """Load a tensor-parallel model of ``ranks`` ranks: rank ``r`` on the process's ``r``-th
        core, as neuronx-distributed and transformers-neuronx place them *(ncplace: from the
        process's first core)*; the ranks form one copy of ``ranks`` cores."""
        self._check_live()
        if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
            raise PlacementError(f"load {name!r}: ranks={ranks!r}; expected an integer >= 1")
        if ranks > len(self.cores):
            raise PlacementError(
                f"load {name!r}: {ranks} tensor-parallel ranks need {ranks} cores but the process "
                f"owns {len(self.cores)} (nc{self.cores[0]}-nc{self.cores[-1]})"
            )
        for i in range(ranks):
            self._copies[i] += 1
        loaded = Loaded(name, (self.cores[:ranks],), self)
        self.loaded.append(loaded)
        return loaded

    def unload(self, loaded: Loaded) -> None:
        """Unload ``loaded`` (as ``set_neuron_cores`` / ``set_multicore`` do before reloading):
        its copies leave the process's copy counts, so later default placements see the cores
        as less used. Group turns and round-robin positions are not given back."""
        self._check_live()
        for i, item in enumerate(self.loaded):
            if item is loaded:
                del self.loaded[i]
                break
        else:
            raise PlacementError(f"model {loaded.name!r} is not loaded in this process")
        for copy in loaded.replicas:
            for c in copy:
                self._copies[self.cores.index(c)] -= 1

    def _block(self, name: str, k: int) -> tuple[int, int]:
        """Where a ``k``-core load goes: ``(first, copies)``, its copies side by side on the
        process's cores ``first .. first + copies x k - 1`` (relative), as every rule places
        them; one slice per load then builds the copies and counts them, in C."""
        n = len(self.cores)
        context = self._contexts[-1] if self._contexts else None
        if isinstance(context, _MulticoreContext):
            return 0, n // k
        if isinstance(context, _CoresContext):
            copies = 1 if context.nc_count == -1 else context.nc_count // k
            if copies == 0:
                raise PlacementError(
                    f"load {name!r}: nc_count={context.nc_count} holds no copy of a {k}-core "
                    f"model; expected nc_count >= {k}"
                )
            width = copies * k
            start = context.start_nc
            if start == -1:
                start = self._least_used(width)
            elif start + width > n:
                raise PlacementError(
                    f"load {name!r}: {copies} cop{'y' if copies == 1 else 'ies'} of {k} core(s) "
                    f"from start_nc={start} need relative cores {start}-{start + width - 1}, "
                    f"but the process has 0-{n - 1}"
                )
            return start, copies
        if self.groups:
            group = self.groups[self._group_loads % len(self.groups)]
            start = self.cores.index(group[0])
            if start + k > n:
                raise PlacementError(
                    f"load {name!r}: load {self._group_loads} goes to group "
                    f"{self._group_loads % len(self.groups)} at nc{group[0]} and needs {k} cores, "
                    f"past the process's last core nc{self.cores[-1]}"
                )
            self._group_loads += 1
            return start, 1
        if self.framework == "torch-neuronx":
            start = self._round_robin % n
            self._round_robin += 1
            return start, 1
        return self._least_used(k), 1

    def _least_used(self, width: int) -> int:
        """Rule 3: the window minimising (largest copy count, total copy count, start)."""
        return least_used_start(self._copies, width)

    def stop(self) -> None:
        """End the process and free its cores; its loads leave the layout."""
        if not self._stopped:
            self._stopped = True
            self.runtime._release(self)

    def _check_live(self) -> None:
        if self._stopped:
            raise PlacementError("the process has stopped; start a new one")


def least_used_start(counts: Sequence[int], width: int) -> int:
    """Rule 3 on copy counts ``counts``: the start ``s`` of the ``width``-core window minimising
    (``max(counts[s : s + width])``, ``sum(counts[s : s + width])``, ``s``).

    Every window at once, as arrays: window maxima and prefix-sum differences (exact, the counts
    are integers), then the first start of the lexicographic minimum; ``O(cores x width)`` work
    in C per load, so a process's loads cost time linear in their number."""
    values = np.asarray(counts, dtype=np.int64)
    if width == 1:
        return int(np.argmin(values))
    prefix = np.concatenate(([0], np.cumsum(values)))
    sums = prefix[width:] - prefix[:-width]
    peaks = sliding_window_view(values, width).max(axis=1)
    return int(np.lexsort((sums, peaks))[0])
