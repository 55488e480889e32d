"""Layouts: which model copies sit on which NeuronCores, in which process.

A :class:`Layout` is what every producer returns (the runtime emulator, the baseline policies,
the optimizer, a replayed script) and what every consumer takes (the scorer, code generation,
plots). It is immutable and holds only facts: cores are global indices on the instance.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain, repeat
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import ConfigError, PlacementError
from .hardware import Instance


@dataclass(frozen=True)
class ProcessSpan:
    """One process: the cores it owns, its NeuronCore Groups and the environment it started with."""

    cores: tuple[int, ...]
    groups: tuple[tuple[int, ...], ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "cores", tuple(self.cores))
            object.__setattr__(self, "groups", tuple(tuple(g) for g in self.groups))
            object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        except (TypeError, ValueError):
            raise PlacementError(
                f"ProcessSpan: expected cores (a list of cores), groups (a list of lists of "
                f"cores) and env (a mapping), got {self.cores!r}, {self.groups!r}, {self.env!r}"
            ) from None

    def __hash__(self) -> int:
        return hash((self.cores, self.groups, tuple(sorted(self.env.items()))))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProcessSpan):
            return NotImplemented
        return (self.cores, self.groups, dict(self.env)) == (
            other.cores,
            other.groups,
            dict(other.env),
        )


@dataclass(frozen=True)
class Placement:
    """One load: a model handle whose copies (``replicas``) each occupy a tuple of global cores.

    ``process`` is the index of the owning process in :attr:`Layout.processes`.
    """

    model: str
    replicas: tuple[tuple[int, ...], ...]
    process: int = 0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "replicas", tuple(map(tuple, self.replicas)))
        except TypeError:
            raise PlacementError(
                f"placement of {self.model!r}: replicas: expected a list of copies, each a list "
                f"of cores, got {self.replicas!r}"
            ) from None

    @property
    def cores(self) -> tuple[int, ...]:
        """Every core any copy of this load uses, ascending, without repeats."""
        return tuple(sorted({c for r in self.replicas for c in r}))


@dataclass(frozen=True)
class Layout:
    """An instance, its processes and every model load.

    Checked when built: every core (of a process, a group or a copy) is one of the instance's,
    every placement has copies and every copy cores. A copy on a core its process does not own
    is representable: the scorer counts it as a broken rule (``outside_process``).

    A model may appear in several placements (several loads: several handles the application
    must route across, as with NEURONCORE_GROUP_SIZES replication).
    """

    instance: Instance
    processes: tuple[ProcessSpan, ...]
    placements: tuple[Placement, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "processes", tuple(self.processes))
        object.__setattr__(self, "placements", tuple(self.placements))
        inst = self.instance
        if not isinstance(inst, Instance):
            raise PlacementError(
                f"Layout instance: expected an Instance, got {type(inst).__name__}"
            )
        for i, span in enumerate(self.processes):
            if not isinstance(span, ProcessSpan):
                raise PlacementError(
                    f"Layout processes[{i}]: expected a ProcessSpan, got {type(span).__name__}"
                )
            _check_cores(span.cores, inst, f"process {i}: cores")
            for group in span.groups:
                _check_cores(group, inst, f"process {i}: group")
        for p in self.placements:
            if not isinstance(p, Placement):
                raise PlacementError(f"Layout placements: expected Placements, got {p!r}")
            if not isinstance(p.model, str):
                raise PlacementError(f"placement model: expected a name, got {p.model!r}")
            process = p.process
            if isinstance(process, bool) or not isinstance(process, int):
                raise PlacementError(
                    f"placement of {p.model!r}: process: expected an index, got {process!r}"
                )
            if not 0 <= process < len(self.processes):
                raise PlacementError(
                    f"placement of {p.model!r} names process {process}, "
                    f"but the layout has {len(self.processes)} process(es)"
                )
            if not p.replicas:
                raise PlacementError(f"placement of {p.model!r} has no copies")
            if _plainly_valid(p.replicas, inst.cores):
                continue
            for j, copy in enumerate(p.replicas):
                where = f"placement of {p.model!r}: copy {j}"
                if not copy:
                    raise PlacementError(f"{where}: uses no core")
                _check_cores(copy, inst, where)
                if len(set(copy)) != len(copy):
                    raise PlacementError(f"{where}: uses a core twice: {list(copy)}")

    @classmethod
    def single_process(
        cls,
        instance: Instance,
        placements: Iterable[Placement],
        cores: Iterable[int] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Layout:
        """A layout of one process owning ``cores`` (all cores by default)."""
        owned = tuple(range(instance.cores)) if cores is None else tuple(cores)
        return cls(instance, (ProcessSpan(owned, (), env or {}),), tuple(placements))

    def copies(self) -> list[tuple[str, tuple[int, ...]]]:
        """Every model copy as ``(model, cores)``, in placement order."""
        return list(chain.from_iterable(zip(repeat(p.model), p.replicas) for p in self.placements))

    def copies_per_core(self) -> list[int]:
        """How many model copies use each core of the instance."""
        counts = [0] * self.instance.cores
        every_core = Counter(chain.from_iterable(r for p in self.placements for r in p.replicas))
        for c, k in every_core.items():
            counts[c] = k
        return counts

    def models(self) -> tuple[str, ...]:
        """Distinct model names in placement order."""
        return tuple(dict.fromkeys(p.model for p in self.placements))

    def placements_of(self, model: str) -> tuple[Placement, ...]:
        """The loads of ``model``."""
        return self._by_model.get(model, ())

    @cached_property
    def _by_model(self) -> dict[str, tuple[Placement, ...]]:
        """Loads grouped by model, built once, so that asking for every model's loads is linear
        in the layout, not quadratic."""
        groups: dict[str, list[Placement]] = {}
        for p in self.placements:
            groups.setdefault(p.model, []).append(p)
        return {model: tuple(loads) for model, loads in groups.items()}

    def owner(self) -> list[int | None]:
        """For each core, the index of the process owning it (None when unallocated)."""
        owners: list[int | None] = [None] * self.instance.cores
        for i, proc in enumerate(self.processes):
            for c in proc.cores:
                owners[c] = i
        return owners

    def canonical(self) -> tuple[object, ...]:
        """A comparable form that ignores placement order: for 'same layout' checks."""
        procs = tuple((p.cores, p.groups) for p in self.processes)
        loads = tuple(sorted((p.model, p.process, p.replicas) for p in self.placements))
        return (self.instance.cores, procs, loads)

    def render(self) -> str:
        """A text grid in the spirit of the guide's diagrams, read bottom-up like a stack.

        One column per core (``nc0`` ..) under a rule at the bottom; chip boundaries are drawn
        as ``|``. Just above the rule, who owns each core (``proc0`` .., ``-`` unallocated), then
        the NeuronCore Groups (``ncg0`` .., numbered within their process) when there are any,
        then the loads, later loads higher up. Each copy shows its model's name on its first core
        and a ``-`` line over the other cores it spans, so ``m0------- m0-------`` is two 2-core
        copies where ``m0   m0   m0   m0`` is four 1-core copies. Loads that share no core are
        packed into the same row, like the guide's drawings.

        Names are made safe for a terminal: characters that do not print (newlines, tabs,
        zero-width and other control or format characters) become ``?``, a ``|`` becomes ``¦`` so
        that only chip boundaries draw ``|``, and a name wider than 14 columns is cut and ends
        with ``~``. Widths count East Asian wide characters as two columns and combining marks
        as none, so columns stay aligned.
        """
        n = self.instance.cores
        owner_row = _Row(n, ["-" if o is None else f"proc{o}" for o in self.owner()])
        group_row = _Row(n)
        for proc in self.processes:
            for gi, group in enumerate(proc.groups):
                for c in group:
                    group_row.cells[c] = f"ncg{gi}"
        model_rows = _pack_rows(self.placements, n)
        rows = list(reversed(model_rows))
        if any(group_row.cells):
            rows.append(group_row)
        rows.append(owner_row)
        header = _Row(n, [f"nc{c}" for c in range(n)])
        labels = [cell for row in [header, *rows] for cell in row.cells if cell]
        width = min(max(3, *(_display_width(cell) for cell in labels)), _MAX_CELL)
        chip = self.instance.cores_per_chip
        body = [row.line(width, chip) for row in rows]
        ruler = "-" * _display_width(owner_row.line(width, chip, strip=False))
        return "\n".join([*body, ruler, header.line(width, chip)])


def core_span(cores: Sequence[int]) -> str:
    """Ascending cores as text: ``nc4`` for one, ``nc4-nc7`` for a run, ``nc0,nc2,nc5``
    otherwise (a run is never claimed for cores that are not one)."""
    if len(cores) > 1 and list(cores) == list(range(cores[0], cores[-1] + 1)):
        return f"nc{cores[0]}-nc{cores[-1]}"
    return ",".join(f"nc{c}" for c in cores)


def copies_text(copies: int, cores: int) -> str:
    """``1 copy of 1 core``, ``2 copies of 4 cores``: a placement's shape in words."""
    return f"{copies} cop{'y' if copies == 1 else 'ies'} of {cores} core{'' if cores == 1 else 's'}"


def layout_to_dict(layout: Layout) -> dict[str, Any]:
    """A layout as plain JSON values: the instance's name and cores, processes and placements
    (what ``ncplace`` writes in every ``--format json`` output; :func:`layout_from_dict` reads it
    back)."""
    return {
        "instance": layout.instance.name,
        "cores": layout.instance.cores,
        "processes": [
            {"cores": list(p.cores), "groups": [list(g) for g in p.groups], "env": dict(p.env)}
            for p in layout.processes
        ],
        "placements": [
            {"model": p.model, "replicas": list(map(list, p.replicas)), "process": p.process}
            for p in layout.placements
        ],
    }


def layout_from_dict(data: object, instance: Instance, label: str = "layout") -> Layout:
    """Read a layout :func:`layout_to_dict` wrote, on ``instance`` (whose cores must be the
    layout's); every error names the field and what is accepted."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{label}: expected a layout object, got {type(data).__name__}")
    cores = data.get("cores", instance.cores)
    if cores != instance.cores:
        raise ConfigError(
            f"{label}: cores: the layout has {cores!r} cores, the instance {instance.name} "
            f"{instance.cores}"
        )
    processes = _list_of(data, "processes", label)
    spans = []
    for i, p in enumerate(processes):
        where = f"{label}: processes[{i}]"
        if not isinstance(p, Mapping):
            raise ConfigError(f"{where}: expected an object, got {type(p).__name__}")
        env = p.get("env", {})
        if not isinstance(env, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise ConfigError(f"{where}: env: expected a mapping of strings, got {env!r}")
        groups = tuple(
            _cores_of(g, instance, f"{where}.groups") for g in _list_of(p, "groups", where, [])
        )
        spans.append(
            ProcessSpan(_cores_of(p.get("cores"), instance, f"{where}.cores"), groups, env)
        )
    placements = []
    for i, p in enumerate(_list_of(data, "placements", label)):
        where = f"{label}: placements[{i}]"
        if not isinstance(p, Mapping):
            raise ConfigError(f"{where}: expected an object, got {type(p).__name__}")
        model, process = p.get("model"), p.get("process", 0)
        if not isinstance(model, str) or not model:
            raise ConfigError(f"{where}: model: expected a name, got {model!r}")
        if isinstance(process, bool) or not isinstance(process, int):
            raise ConfigError(f"{where}: process: expected an integer, got {process!r}")
        replicas = [
            _cores_of(r, instance, f"{where}.replicas") for r in _list_of(p, "replicas", where)
        ]
        placements.append(Placement(model, tuple(replicas), process))
    return Layout(instance, tuple(spans), tuple(placements))


def _plainly_valid(replicas: tuple[tuple[int, ...], ...], cores: int) -> bool:
    """True when every copy is non-empty, of plain ``int`` cores in ``0 .. cores - 1``, none
    twice: the common case, checked by whole-load passes in C (a ``multicore`` load of 256
    one-core copies costs a few calls, not 256 checks). False sends the load to the copy-by-copy
    checks, which name the first fault (and accept ``int`` subclasses other than ``bool``)."""
    every = list(chain.from_iterable(replicas))
    if not all(replicas) or set(map(type, every)) != {int}:
        return False
    if min(every) < 0 or max(every) >= cores:
        return False
    widths = set(map(len, replicas))
    if widths == {1}:
        return True
    if len(widths) > 1:
        return all(len(set(r)) == len(r) for r in replicas)
    ordered = np.sort(np.array(replicas), axis=1)
    return not np.any(ordered[:, 1:] == ordered[:, :-1])


def _is_core(value: object, instance: Instance) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < instance.cores


def _check_cores(cores: tuple[object, ...], instance: Instance, where: str) -> None:
    for c in cores:
        if not _is_core(c, instance):
            raise PlacementError(
                f"{where}: core {c!r} does not exist; {instance.name} has cores "
                f"0-{instance.cores - 1}"
            )


def _list_of(
    data: Mapping[str, Any], key: str, where: str, default: list[Any] | None = None
) -> list[Any]:
    value = data.get(key, default)
    if not isinstance(value, list):
        raise ConfigError(f"{where}: {key}: expected a list, got {value!r}")
    return value


def _cores_of(value: object, instance: Instance, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(_is_core(c, instance) for c in value):
        raise ConfigError(
            f"{where}: expected a list of cores in 0..{instance.cores - 1}, got {value!r}"
        )
    return tuple(value)


def _pack_rows(placements: Sequence[Placement], n: int) -> list[_Row]:
    """Each load drawn on the lowest row where all its cores are free (first fit).

    ``lowest[c]`` is the lowest row where core ``c`` is free: cells are only ever taken, so it
    only rises, and the search for a load starts at the highest ``lowest`` of its cores instead of
    the bottom; a layout of 100,000 loads packs in linear time, not quadratic."""
    rows: list[_Row] = []
    lowest = [0] * n
    for p in placements:
        cores = p.cores
        r = max(lowest[c] for c in cores)
        while r < len(rows) and not rows[r].free(cores):
            r += 1
        if r == len(rows):
            rows.append(_Row(n))
        for copy in p.replicas:
            rows[r].draw_copy(_safe_name(p.model), copy)
        for c in cores:
            while lowest[c] < len(rows) and rows[lowest[c]].taken[c]:
                lowest[c] += 1
    return rows


class _Row:
    """One line of :meth:`Layout.render`: a label (or nothing) per core, and which neighbouring
    cores belong to the same copy (``link[c]``: cores ``c`` and ``c + 1``)."""

    def __init__(self, n: int, cells: list[str] | None = None) -> None:
        self.cells: list[str] = cells if cells is not None else [""] * n
        self.taken = [bool(cell) for cell in self.cells]
        self.link = [False] * n

    def free(self, cores: Sequence[int]) -> bool:
        return not any(self.taken[c] for c in cores)

    def draw_copy(self, name: str, copy: Sequence[int]) -> None:
        cores = sorted(set(copy))
        for i, c in enumerate(cores):
            joined = i > 0 and cores[i - 1] == c - 1
            self.cells[c] = "" if joined else name
            self.taken[c] = True
            if joined:
                self.link[c - 1] = True

    def line(self, width: int, cores_per_chip: int, strip: bool = True) -> str:
        out = []
        for c, cell in enumerate(self.cells):
            if c:
                joined = self.link[c - 1]
                if c % cores_per_chip == 0:
                    out.append("-|-" if joined else " | ")
                else:
                    out.append("-" if joined else " ")
            if self.link[c - 1] if c else False:
                out.append("-" * width)
            elif self.link[c]:
                out.append(_center(_fit(cell, width), width, right_fill="-"))
            else:
                out.append(_center(_fit(cell, width), width))
        text = "".join(out)
        return text.rstrip() if strip else text


_MAX_CELL = 14


def _char_width(ch: str) -> int:
    if unicodedata.category(ch) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _display_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(_char_width(ch) for ch in text)


def _safe_name(name: str) -> str:
    """``name`` with every character that could break a grid cell replaced (see render)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", name):
        if not ch.isprintable() or (_char_width(ch) == 0 and not out):
            out.append("?")
        elif ch == "|":
            out.append("\N{BROKEN BAR}")
        else:
            out.append(ch)
    return "".join(out) or "?"


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` display columns, ending in ``~`` when cut."""
    if _display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = _char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "~"


def _center(text: str, width: int, right_fill: str = " ") -> str:
    pad = width - _display_width(text)
    left = pad // 2
    return " " * left + text + right_fill * (pad - left)
