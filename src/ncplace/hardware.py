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

A custom machine has at most :data:`MAX_CORES` cores (the largest catalogue machine has 128), so
that a typo or a hostile file cannot make the emulator allocate billions of cores.

Logical NeuronCores (LNC, Trn2 only; the Neuron documentation's
about-neuron/arch/neuron-features/logical-neuroncore-config.rst): a Trainium2 device has 8 physical
NeuronCore-v3 and four 24 GB HBM banks, each bank shared by two physical cores.
``NEURON_LOGICAL_NC_CONFIG=2`` (the default) joins each bank's two cores into one logical core, 4
per device; ``=1`` exposes the 8 physical cores. The runtime and the compiled models must agree,
so LNC is a property of the machine as the software sees it: ``trn2.48xlarge`` is LNC=2 (64
cores) and ``trn2.48xlarge:lnc=1`` LNC=1 (128 cores).

Memory is checked per *memory pool* of :attr:`Instance.memory_cores` consecutive cores holding
:attr:`Instance.pool_memory_gib`: the whole device wherever nothing finer is documented, one HBM
bank on Trn2 (one logical core at LNC=2, two physical cores at LNC=1, 24 GiB either way: the
documents describe the bank as the two cores' memory in both configurations).

Tensor-parallel degrees (:func:`tensor_degrees`): the ranks of a tensor-parallel model take one
core each. Legal degrees, by family: trn1 1, 2, 8, 16 or a multiple of 32 (huggingface/
optimum-neuron#619; the Neuron calculator offers 2, 8, 32); inf2 1, 2, 4, 8, 12, 24 (the Neuron
calculator, about-neuron/calculator/neuron-calculator.rst); trn2 powers of two (the Trn2
tutorials run 64 at LNC=2; NKI's collective kernels take 4..128). A degree must also fit the
machine. Other machines: any degree (a custom machine's software is unknown).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from .errors import ConfigError, value_text

if TYPE_CHECKING:
    import networkx as nx

TOPOLOGIES = ("chain", "ring", "torus")
MAX_CORES = 4096
LNC_VALUES = (1, 2)
LNC_VARIABLE = "NEURON_LOGICAL_NC_CONFIG"
_INF1_MEMORY_BY_CORES_PER_CHIP = {4: 8.0, 2: 32.0}
_TRAINIUM_MEMORY_BY_CORES_PER_CHIP = {2: 32.0, 4: 96.0, 8: 96.0}


def _trainium_like(framework: object, topology: object) -> bool:
    return framework == "torch-neuronx" or topology == "torus"


@dataclass(frozen=True)
class Instance:
    """A machine with NeuronCores.

    ``Instance(cores=8, cores_per_chip=4)`` makes a custom machine. An Inf1-like machine
    (torch-neuron, not a torus) defaults to 4 cores per chip and to the catalogue's memory for
    chips of that width (8 GiB for 4-core Inf1 chips, 32 GiB for 2-core chips, else 8 GiB, the
    smallest in the catalogue, so memory checks err on the safe side). A machine shaped like a
    Trainium (torch-neuronx or a torus) takes no Inf1 default: ``cores_per_chip`` is required, and
    ``chip_memory_gib`` too unless every catalogue chip of that width agrees (32 GiB for 2 cores,
    96 GiB for the 4 or 8 cores of Trn2).

    ``lnc`` is the logical NeuronCore configuration (1 or 2) of a machine that has one (Trn2),
    else None; ``bank_cores`` the consecutive cores sharing one memory pool when it is finer than
    the chip (see :attr:`memory_cores`).
    """

    cores: int
    cores_per_chip: int = None  # type: ignore[assignment]
    chip_memory_gib: float | None = None
    name: str = "custom"
    topology: str = "chain"
    framework: str = "torch-neuron"
    lnc: int | None = None
    bank_cores: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.cores, bool) or not isinstance(self.cores, int) or self.cores < 1:
            raise ConfigError(f"Instance cores: must be an integer >= 1, got {self.cores!r}")
        if self.cores > MAX_CORES:
            raise ConfigError(f"Instance cores: must be at most {MAX_CORES}, got {self.cores}")
        trainium = _trainium_like(self.framework, self.topology)
        if self.cores_per_chip is None:
            if trainium:
                raise ConfigError(
                    "Instance cores_per_chip: required for a machine shaped like a Trainium "
                    "(torch-neuronx or a torus): 2 on inf2/trn1, 4 on trn2 (8 at lnc=1)"
                )
            object.__setattr__(self, "cores_per_chip", 4)
        cpc = self.cores_per_chip
        if isinstance(cpc, bool) or not isinstance(cpc, int) or cpc < 1:
            raise ConfigError(f"Instance cores_per_chip: must be an integer >= 1, got {cpc!r}")
        if self.cores % cpc:
            raise ConfigError(
                f"Instance cores: {self.cores} is not a multiple of cores_per_chip={cpc}"
            )
        if self.chip_memory_gib is None:
            object.__setattr__(self, "chip_memory_gib", _default_memory(cpc, trainium))
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
        if self.lnc is not None and (isinstance(self.lnc, bool) or self.lnc not in LNC_VALUES):
            raise ConfigError(f"Instance lnc: must be 1, 2 or None, got {self.lnc!r}")
        bank = self.bank_cores
        if bank is not None and (
            isinstance(bank, bool) or not isinstance(bank, int) or bank < 1 or cpc % bank
        ):
            raise ConfigError(
                f"Instance bank_cores: must be None or an integer >= 1 dividing "
                f"cores_per_chip={cpc}, got {bank!r}"
            )

    @property
    def memory_cores(self) -> int:
        """Consecutive cores sharing one memory pool: ``bank_cores``, else the whole chip."""
        return self.bank_cores or self.cores_per_chip

    @property
    def pool_memory_gib(self) -> float:
        """Memory of one pool: ``chip_memory_gib x memory_cores / cores_per_chip``."""
        assert self.chip_memory_gib is not None
        return self.chip_memory_gib * self.memory_cores / self.cores_per_chip

    @property
    def pools(self) -> int:
        """Number of memory pools."""
        return self.cores // self.memory_cores

    def pool_of(self, core: int) -> int:
        """The memory pool holding global core ``core``."""
        return core // self.memory_cores

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
        """One line: name, cores, chips and memory (and LNC where the machine has it)."""
        bank = ""
        if self.bank_cores is not None:
            bank = f" in banks of {self.pool_memory_gib:g} GiB per {self.bank_cores} core(s)"
        lnc = "" if self.lnc is None else f", LNC={self.lnc}"
        return (
            f"{self.name}: {self.cores} NeuronCores on {self.chips} chip(s) of "
            f"{self.cores_per_chip} cores, {self.chip_memory_gib:g} GiB per chip{bank}, "
            f"{self.topology} interconnect, {self.framework}{lnc}"
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


def _default_memory(cores_per_chip: int, trainium: bool) -> float:
    if not trainium:
        return _INF1_MEMORY_BY_CORES_PER_CHIP.get(cores_per_chip, 8.0)
    if cores_per_chip not in _TRAINIUM_MEMORY_BY_CORES_PER_CHIP:
        raise ConfigError(
            f"Instance chip_memory_gib: required for a machine shaped like a Trainium with "
            f"{cores_per_chip} cores per chip (no catalogue chip has that width)"
        )
    return _TRAINIUM_MEMORY_BY_CORES_PER_CHIP[cores_per_chip]


_TRN2_BANK_GIB = 24.0
_TRN2_PHYSICAL_CORES = 8


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
        ("trn1n.32xlarge", 32, 2, 32.0, "torus", "torch-neuronx"),
    ]
    out = {
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
    for name, devices in (
        ("trn2.3xlarge", 1),
        ("trn2.48xlarge", 16),
        ("trn2n.48xlarge", 16),
        ("trn2u.48xlarge", 16),
    ):
        out[name] = trn2(name, devices, lnc=2)
    return out


def trn2(name: str, devices: int, lnc: int) -> Instance:
    """A Trainium2 machine of ``devices`` devices at logical core configuration ``lnc``: each
    device shows ``8 / lnc`` cores and holds 4 HBM banks of 24 GiB, one per ``2 / lnc`` cores.
    The name of an LNC=1 machine ends with ``:lnc=1``."""
    per = _TRN2_PHYSICAL_CORES // lnc
    return Instance(
        cores=devices * per,
        cores_per_chip=per,
        chip_memory_gib=4 * _TRN2_BANK_GIB,
        name=name if lnc == 2 else f"{name}:lnc=1",
        topology="torus",
        framework="torch-neuronx",
        lnc=lnc,
        bank_cores=2 // lnc,
    )


INSTANCES: dict[str, Instance] = _catalogue()
"""The instance catalogue of ``neuron-facts.md``: name -> :class:`Instance` (Trn2 at its default
LNC=2; :func:`instance` also reads ``name:lnc=1``)."""


def _known() -> str:
    return ", ".join(INSTANCES) + " (trn2 names also as NAME:lnc=1 or NAME:lnc=2)"


def instance(name: str) -> Instance:
    """The catalogue instance called ``name`` (for example ``"inf1.6xlarge"``).

    A Trn2 name may end with ``:lnc=1`` or ``:lnc=2`` (its logical core configuration; 2 is the
    default and gives the plain catalogue entry)."""
    if not isinstance(name, str):
        raise ConfigError(f"unknown instance {value_text(name)}; known instances: {_known()}")
    base, sep, option = name.partition(":")
    if base not in INSTANCES:
        raise ConfigError(f"unknown instance {value_text(name)}; known instances: {_known()}")
    inst = INSTANCES[base]
    if not sep:
        return inst
    key, eq, value = option.partition("=")
    if key.strip().lower() != "lnc" or not eq:
        raise ConfigError(
            f"instance {value_text(name)}: unknown option {value_text(option)}; expected lnc=1 "
            "or lnc=2"
        )
    return with_lnc(inst, value.strip(), f"instance {value_text(name)}")


def with_lnc(inst: Instance, lnc: object, where: str = "lnc") -> Instance:
    """``inst`` at logical core configuration ``lnc`` (1 or 2, or their text): only machines
    with LNC (Trn2) take one; ``lnc=2`` is theirs by default."""
    value = lnc
    if isinstance(lnc, str) and lnc in ("1", "2"):
        value = int(lnc)
    if isinstance(value, bool) or value not in LNC_VALUES:
        raise ConfigError(f"{where}: lnc must be 1 or 2, got {value_text(lnc)}")
    if inst.lnc is None:
        raise ConfigError(
            f"{where}: {inst.name} has no logical NeuronCore configuration; LNC applies to "
            f"trn2 machines only"
        )
    if value == inst.lnc:
        return inst
    base = inst.name.partition(":")[0]
    if INSTANCES.get(base) is None or INSTANCES[base].lnc is None:
        raise ConfigError(f"{where}: cannot change the LNC of custom machine {inst.name!r}")
    if value == INSTANCES[base].lnc:
        return INSTANCES[base]
    return trn2(base, INSTANCES[base].chips, 1 if value == 1 else 2)


def family(inst: Instance) -> str | None:
    """The catalogue family of ``inst`` (``inf1``, ``inf2``, ``trn1``, ``trn2``), or None for a
    custom machine. ``trn1n``/``trn2n``/``trn2u`` belong to ``trn1``/``trn2``."""
    base = inst.name.partition(":")[0]
    if base not in INSTANCES:
        return None
    head = base.partition(".")[0]
    return head[:4]


def tensor_degrees(inst: Instance) -> tuple[int, ...]:
    """The tensor-parallel degrees legal on ``inst`` (see the module docstring for sources),
    up to its core count. A custom machine allows every degree from 1 to its cores."""
    n = inst.cores
    fam = family(inst)
    if fam == "trn1":
        legal = [1, 2, 8, 16, *range(32, n + 1, 32)]
    elif fam == "inf2":
        legal = [1, 2, 4, 8, 12, 24]
    elif fam == "trn2":
        legal = [2**i for i in range(n.bit_length())]
    else:
        legal = list(range(1, n + 1))
    return tuple(d for d in legal if d <= n)


def connected(inst: Instance, first: int, count: int) -> bool:
    """True when cores ``first .. first + count - 1`` lie on chips forming a connected part of
    the interconnect (a tensor-parallel copy needs its ranks' devices linked)."""
    chips = {inst.chip_of(c) for c in range(first, first + count)}
    if len(chips) <= 1:
        return True
    import networkx as nx

    return bool(nx.is_connected(inst.graph.subgraph(chips)))


def tensor_starts(inst: Instance, cores: int) -> tuple[int, ...]:
    """Where a tensor-parallel copy of ``cores`` ranks may start: on as few devices as its ranks
    fill (whole devices from a device's first core when ``cores`` is a multiple of the device's
    cores, else inside one device), and on connected devices (:func:`connected`). Its ranks
    exchange collectives at every layer, so a copy over one more device than it needs adds a
    link hop to each; the Neuron scheduler extension likewise hands out
    whole, connected devices for multi-device requests."""
    per = inst.cores_per_chip
    starts = []
    for s in range(inst.cores - cores + 1):
        if cores % per == 0:
            aligned = s % per == 0
        else:
            aligned = cores > per or s // per == (s + cores - 1) // per
        if aligned and connected(inst, s, cores):
            starts.append(s)
    return tuple(starts)
