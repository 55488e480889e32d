"""NeuronCore hardware: instance types, chips, and the chip interconnect.

A machine is a row of ``cores`` NeuronCores numbered from 0, grouped into chips of
``cores_per_chip`` consecutive cores (global core index = chip x cores_per_chip + local core).
Each chip has ``chip_memory_gib`` of device memory shared by the models on its cores.

Chips are linked by NeuronLink. The topology is a networkx graph over chip indices:

- ``chain``: chip i linked to i+1 (``neuron-ls --topology`` on inf1.6xlarge; used for inf1),
- ``ring``: a chain closed into a loop (how the Neuron Kubernetes docs describe inf2),
- ``torus``: a 2-D torus of R x C chips with R the largest divisor of the chip count not above its
  square root (trn1, trn2).

A custom :class:`Instance` is a chain unless told otherwise. ``hops(a, b)`` is the shortest path
length in chip hops between the chips of two cores, the unit of any cross-chip cost term: its
real cost is not published, so callers weight it themselves.

A custom machine has at most :data:`MAX_CORES` cores (the largest catalogue machine has 64), so that
a typo or a hostile file cannot make the emulator allocate billions of cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import networkx as nx

TOPOLOGIES = ("chain", "ring", "torus")
MAX_CORES = 4096
_DEFAULT_MEMORY_BY_CORES_PER_CHIP = {4: 8.0, 2: 32.0}


@dataclass(frozen=True)
class Instance:
    """A machine with NeuronCores.

    ``Instance(cores=8, cores_per_chip=4)`` makes a custom machine. ``chip_memory_gib`` defaults
    to the catalogue's value for chips of that width (8 GiB for 4-core Inf1 chips, 32 GiB for
    2-core Inf2/Trn1 chips) and to 8 GiB otherwise, the smallest chip memory in the catalogue, so
    that memory checks on a custom machine err on the safe side.
    """

    cores: int
    cores_per_chip: int = 4
    chip_memory_gib: float | None = None
    name: str = "custom"
    topology: str = "chain"
    framework: str = "torch-neuron"

    def __post_init__(self) -> None:
        if isinstance(self.cores, bool) or not isinstance(self.cores, int) or self.cores < 1:
            raise ConfigError(f"Instance cores: must be an integer >= 1, got {self.cores!r}")
        if self.cores > MAX_CORES:
            raise ConfigError(f"Instance cores: must be at most {MAX_CORES}, got {self.cores}")
        cpc = self.cores_per_chip
        if isinstance(cpc, bool) or not isinstance(cpc, int) or cpc < 1:
            raise ConfigError(f"Instance cores_per_chip: must be an integer >= 1, got {cpc!r}")
        if self.cores % cpc:
            raise ConfigError(
                f"Instance cores: {self.cores} is not a multiple of cores_per_chip={cpc}"
            )
        if self.chip_memory_gib is None:
            default = _DEFAULT_MEMORY_BY_CORES_PER_CHIP.get(cpc, 8.0)
            object.__setattr__(self, "chip_memory_gib", default)
        mem = self.chip_memory_gib
        if isinstance(mem, bool) or not isinstance(mem, (int, float)) or not mem > 0:
            raise ConfigError(f"Instance chip_memory_gib: must be a number > 0, got {mem!r}")
        if not math.isfinite(mem):
            raise ConfigError(f"Instance chip_memory_gib: must be finite, got {mem!r}")
        object.__setattr__(self, "chip_memory_gib", float(mem))
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"Instance name: must be a non-empty string, got {self.name!r}")
        if self.topology not in TOPOLOGIES:
            raise ConfigError(
                f"Instance topology: {self.topology!r} is not one of {', '.join(TOPOLOGIES)}"
            )
        if self.framework not in FRAMEWORKS:
            raise ConfigError(
                f"Instance framework: {self.framework!r} is not one of {', '.join(FRAMEWORKS)}"
            )

    @property
    def chips(self) -> int:
        """Number of Neuron chips (devices)."""
        return self.cores // self.cores_per_chip

    @property
    def memory_gib(self) -> float:
        """Device memory of the whole machine."""
        assert self.chip_memory_gib is not None
        return self.chip_memory_gib * self.chips

    def chip_of(self, core: int) -> int:
        """The chip holding global core ``core``."""
        return core // self.cores_per_chip

    def chip_cores(self, chip: int) -> range:
        """The global core indices of ``chip``."""
        return range(chip * self.cores_per_chip, (chip + 1) * self.cores_per_chip)

    @cached_property
    def graph(self) -> nx.Graph:
        """The chip interconnect: nodes are chip indices, edges NeuronLink links.

        Built on first use, so that importing ncplace (and every machine in the catalogue) does
        not import networkx, which only hop counts need."""
        return _chip_graph(self.chips, self.topology)

    def hops(self, a: int, b: int) -> int:
        """Chip hops between the chips of cores ``a`` and ``b`` (0 on the same chip)."""
        for core in (a, b):
            if isinstance(core, bool) or not isinstance(core, int) or not 0 <= core < self.cores:
                raise ConfigError(
                    f"core {core!r} does not exist; {self.name} has cores 0-{self.cores - 1}"
                )
        return self._hop_table[self.chip_of(a)][self.chip_of(b)]

    @cached_property
    def _hop_table(self) -> dict[int, dict[int, int]]:
        import networkx as nx

        return dict(nx.all_pairs_shortest_path_length(self.graph))

    def describe(self) -> str:
        """One line: name, cores, chips and memory."""
        return (
            f"{self.name}: {self.cores} NeuronCores on {self.chips} chip(s) of "
            f"{self.cores_per_chip} cores, {self.chip_memory_gib:g} GiB per chip, "
            f"{self.topology} interconnect, {self.framework}"
        )


FRAMEWORKS = ("torch-neuron", "torch-neuronx")


def _torus_shape(chips: int) -> tuple[int, int]:
    rows = max(d for d in range(1, math.isqrt(chips) + 1) if chips % d == 0)
    return rows, chips // rows


def _chip_graph(chips: int, topology: str) -> nx.Graph:
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(chips))
    if topology == "torus":
        rows, cols = _torus_shape(chips)
        for chip in range(chips):
            r, c = divmod(chip, cols)
            for nr, nc in ((r, (c + 1) % cols), ((r + 1) % rows, c)):
                neighbour = nr * cols + nc
                if neighbour != chip:
                    graph.add_edge(chip, neighbour)
        return graph
    graph.add_edges_from((i, i + 1) for i in range(chips - 1))
    if topology == "ring" and chips > 2:
        graph.add_edge(chips - 1, 0)
    return graph


def _catalogue() -> dict[str, Instance]:
    rows = [
        ("inf1.xlarge", 4, 4, 8.0, "chain", "torch-neuron"),
        ("inf1.2xlarge", 4, 4, 8.0, "chain", "torch-neuron"),
        ("inf1.6xlarge", 16, 4, 8.0, "chain", "torch-neuron"),
        ("inf1.24xlarge", 64, 4, 8.0, "chain", "torch-neuron"),
        ("inf2.xlarge", 2, 2, 32.0, "ring", "torch-neuronx"),
        ("inf2.8xlarge", 2, 2, 32.0, "ring", "torch-neuronx"),
        ("inf2.24xlarge", 12, 2, 32.0, "ring", "torch-neuronx"),
        ("inf2.48xlarge", 24, 2, 32.0, "ring", "torch-neuronx"),
        ("trn1.2xlarge", 2, 2, 32.0, "torus", "torch-neuronx"),
        ("trn1.32xlarge", 32, 2, 32.0, "torus", "torch-neuronx"),
        ("trn2.48xlarge", 64, 4, 96.0, "torus", "torch-neuronx"),
    ]
    return {
        name: Instance(
            cores=cores,
            cores_per_chip=cpc,
            chip_memory_gib=mem,
            name=name,
            topology=topo,
            framework=framework,
        )
        for name, cores, cpc, mem, topo, framework in rows
    }


INSTANCES: dict[str, Instance] = _catalogue()
"""The instance catalogue of ``neuron-facts.md``: name -> :class:`Instance`."""


def instance(name: str) -> Instance:
    """The catalogue instance called ``name`` (for example ``"inf1.6xlarge"``)."""
    try:
        return INSTANCES[name]
    except (KeyError, TypeError):
        known = ", ".join(INSTANCES)
        raise ConfigError(f"unknown instance {name!r}; known instances: {known}") from None
