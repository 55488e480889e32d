"""Layouts: which model copies sit on which NeuronCores, in which process.

A :class:`Layout` is what every producer returns (the runtime emulator, the baseline policies,
the optimizer, a replayed script) and what every consumer takes (the scorer, code generation,
plots). It is immutable and holds only facts: cores are global indices on the instance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import PlacementError
from .hardware import Instance


@dataclass(frozen=True)
class ProcessSpan:
    """One process: the cores it owns, its NeuronCore Groups and the environment it started with."""

    cores: tuple[int, ...]
    groups: tuple[tuple[int, ...], ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cores", tuple(self.cores))
        object.__setattr__(self, "groups", tuple(tuple(g) for g in self.groups))
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))

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
        object.__setattr__(self, "replicas", tuple(tuple(r) for r in self.replicas))

    @property
    def cores(self) -> tuple[int, ...]:
        """Every core any copy of this load uses, ascending, without repeats."""
        return tuple(sorted({c for r in self.replicas for c in r}))


@dataclass(frozen=True)
class Layout:
    """An instance, its processes and every model load.

    A model may appear in several placements (several loads: several handles the application
    must route across, as with NEURONCORE_GROUP_SIZES replication).
    """

    instance: Instance
    processes: tuple[ProcessSpan, ...]
    placements: tuple[Placement, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "processes", tuple(self.processes))
        object.__setattr__(self, "placements", tuple(self.placements))
        for p in self.placements:
            if not 0 <= p.process < len(self.processes):
                raise PlacementError(
                    f"placement of {p.model!r} names process {p.process}, "
                    f"but the layout has {len(self.processes)} process(es)"
                )

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
        return [(p.model, r) for p in self.placements for r in p.replicas]

    def copies_per_core(self) -> list[int]:
        """How many model copies use each core of the instance."""
        counts = [0] * self.instance.cores
        for _, cores in self.copies():
            for c in cores:
                if 0 <= c < len(counts):
                    counts[c] += 1
        return counts

    def models(self) -> tuple[str, ...]:
        """Distinct model names in placement order."""
        return tuple(dict.fromkeys(p.model for p in self.placements))

    def placements_of(self, model: str) -> tuple[Placement, ...]:
        """The loads of ``model``."""
        return tuple(p for p in self.placements if p.model == model)

    def owner(self) -> list[int | None]:
        """For each core, the index of the process owning it (None when unallocated)."""
        owners: list[int | None] = [None] * self.instance.cores
        for i, proc in enumerate(self.processes):
            for c in proc.cores:
                if 0 <= c < len(owners):
                    owners[c] = i
        return owners

    def canonical(self) -> tuple[object, ...]:
        """A comparable form that ignores placement order: for 'same layout' checks."""
        procs = tuple((p.cores, p.groups) for p in self.processes)
        loads = tuple(sorted((p.model, p.process, p.replicas) for p in self.placements))
        return (self.instance.cores, procs, loads)

    def render(self) -> str:
        """A text grid in the spirit of the guide's diagrams.

        One column per core (``nc0`` ..), chip boundaries as ``|``. The first rows show who owns
        each core (``proc0`` .., ``-`` unallocated) and the NeuronCore Groups (``ncg0`` ..); then
        one row per load with its name on each core a copy uses. Loads that share no core are
        packed into the same row, like the guide's drawings.
        """
        n = self.instance.cores
        owners = self.owner()
        owner_row = ["-" if o is None else f"proc{o}" for o in owners]
        group_row = [""] * n
        for proc in self.processes:
            for gi, group in enumerate(proc.groups):
                for c in group:
                    if 0 <= c < n:
                        group_row[c] = f"ncg{gi}"
        model_rows: list[list[str]] = []
        for p in self.placements:
            used = [c for c in p.cores if 0 <= c < n]
            for row in model_rows:
                if all(row[c] == "" for c in used):
                    break
            else:
                row = [""] * n
                model_rows.append(row)
            for c in used:
                row[c] = p.model
        header = [f"nc{c}" for c in range(n)]
        rows = [owner_row]
        if any(group_row):
            rows.append(group_row)
        rows.extend(reversed(model_rows))
        width = max(len(cell) for row in [header, *rows] for cell in row)
        width = min(max(width, 3), 14)

        def line(cells: list[str]) -> str:
            out = []
            for c, cell in enumerate(cells):
                text = cell if len(cell) <= width else cell[: width - 1] + "~"
                sep = " | " if c and c % self.instance.cores_per_chip == 0 else " "
                out.append((sep if c else "") + text.center(width))
            return "".join(out).rstrip()

        body = [line(r) for r in rows]
        rule = "-" * len(line(header))
        return "\n".join([*body, rule, line(header)])
