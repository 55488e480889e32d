"""The instance catalogue, custom machines, and the chip interconnect."""

from __future__ import annotations

import dataclasses
import math

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ncplace
from ncplace import INSTANCES, ConfigError, Instance, instance
from ncplace.hardware import MAX_CORES

# neuron-facts.md, "Hardware": instance, chips, cores per chip, NeuronCores, GiB per chip,
# plus the interconnect and framework each family uses.
CATALOGUE = [
    ("inf1.xlarge", 1, 4, 4, 8.0, "chain", "torch-neuron"),
    ("inf1.2xlarge", 1, 4, 4, 8.0, "chain", "torch-neuron"),
    ("inf1.6xlarge", 4, 4, 16, 8.0, "chain", "torch-neuron"),
    ("inf1.24xlarge", 16, 4, 64, 8.0, "chain", "torch-neuron"),
    ("inf2.xlarge", 1, 2, 2, 32.0, "ring", "torch-neuronx"),
    ("inf2.8xlarge", 1, 2, 2, 32.0, "ring", "torch-neuronx"),
    ("inf2.24xlarge", 6, 2, 12, 32.0, "ring", "torch-neuronx"),
    ("inf2.48xlarge", 12, 2, 24, 32.0, "ring", "torch-neuronx"),
    ("trn1.2xlarge", 1, 2, 2, 32.0, "torus", "torch-neuronx"),
    ("trn1.32xlarge", 16, 2, 32, 32.0, "torus", "torch-neuronx"),
    ("trn1n.32xlarge", 16, 2, 32, 32.0, "torus", "torch-neuronx"),
    ("trn2.3xlarge", 1, 4, 4, 96.0, "torus", "torch-neuronx"),
    ("trn2.48xlarge", 16, 4, 64, 96.0, "torus", "torch-neuronx"),
    ("trn2n.48xlarge", 16, 4, 64, 96.0, "torus", "torch-neuronx"),
    ("trn2u.48xlarge", 16, 4, 64, 96.0, "torus", "torch-neuronx"),
]


def test_catalogue_holds_exactly_the_documented_instances() -> None:
    assert list(INSTANCES) == [row[0] for row in CATALOGUE]
    assert ncplace.INSTANCES is INSTANCES


@pytest.mark.parametrize("row", CATALOGUE, ids=lambda r: r[0])
def test_catalogue_values(row: tuple) -> None:
    name, chips, cpc, cores, memory, topology, framework = row
    inst = instance(name)
    assert inst is INSTANCES[name]
    assert (inst.name, inst.chips, inst.cores_per_chip, inst.cores) == (name, chips, cpc, cores)
    assert inst.chip_memory_gib == memory
    assert inst.memory_gib == memory * chips
    assert (inst.topology, inst.framework) == (topology, framework)
    assert inst.graph.number_of_nodes() == chips


def test_unknown_instance_lists_the_known_ones() -> None:
    known = ", ".join(row[0] for row in CATALOGUE)
    with pytest.raises(
        ConfigError,
        match=rf"^unknown instance 'inf9\.huge'; known instances: {known} \(trn2 names also as "
        r"NAME:lnc=1 or NAME:lnc=2\)$",
    ):
        instance("inf9.huge")
    with pytest.raises(ConfigError, match="unknown instance None"):
        instance(None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"unknown instance \['inf1\.xlarge'\]"):
        instance(["inf1.xlarge"])  # type: ignore[arg-type]


def test_custom_instance_defaults() -> None:
    inst = Instance(cores=8, cores_per_chip=4)
    assert (inst.name, inst.cores, inst.cores_per_chip, inst.chips) == ("custom", 8, 4, 2)
    assert inst.chip_memory_gib == 8.0  # as Inf1's 4-core chips
    assert inst.memory_gib == 16.0
    assert (inst.topology, inst.framework) == ("chain", "torch-neuron")
    assert Instance(cores=8) == inst
    assert hash(Instance(cores=8)) == hash(inst)
    assert Instance(cores=4, cores_per_chip=2).chip_memory_gib == 32.0  # as Inf2/Trn1 chips
    assert Instance(cores=9, cores_per_chip=3).chip_memory_gib == 8.0  # the smallest known
    assert Instance(cores=1, cores_per_chip=1).chips == 1


def test_custom_instance_settings() -> None:
    inst = Instance(
        cores=12,
        cores_per_chip=2,
        chip_memory_gib=16,
        name="lab",
        topology="ring",
        framework="torch-neuronx",
    )
    assert inst.chip_memory_gib == 16.0 and isinstance(inst.chip_memory_gib, float)
    assert inst.describe() == (
        "lab: 12 NeuronCores on 6 chip(s) of 2 cores, 16 GiB per chip, ring interconnect, "
        "torch-neuronx"
    )
    assert Instance(cores=MAX_CORES, cores_per_chip=4).chips == MAX_CORES // 4


def test_describe_catalogue_instance() -> None:
    assert instance("inf1.6xlarge").describe() == (
        "inf1.6xlarge: 16 NeuronCores on 4 chip(s) of 4 cores, 8 GiB per chip, "
        "chain interconnect, torch-neuron"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cores": 0}, r"^Instance cores: must be an integer >= 1, got 0$"),
        ({"cores": -4}, r"^Instance cores: must be an integer >= 1, got -4$"),
        ({"cores": 8.0}, r"^Instance cores: must be an integer >= 1, got 8\.0$"),
        ({"cores": True}, r"^Instance cores: must be an integer >= 1, got True$"),
        ({"cores": "8"}, r"^Instance cores: must be an integer >= 1, got '8'$"),
        ({"cores": MAX_CORES + 4}, rf"^Instance cores: must be at most {MAX_CORES}, got 4100$"),
        (
            {"cores": 8, "cores_per_chip": 0},
            r"^Instance cores_per_chip: must be an integer >= 1, got 0$",
        ),
        (
            {"cores": 8, "cores_per_chip": 2.0},
            r"^Instance cores_per_chip: must be an integer >= 1, got 2\.0$",
        ),
        (
            {"cores": 6, "cores_per_chip": 4},
            r"^Instance cores: 6 is not a multiple of cores_per_chip=4$",
        ),
        (
            {"cores": 8, "chip_memory_gib": 0},
            r"^Instance chip_memory_gib: must be a number > 0, got 0$",
        ),
        (
            {"cores": 8, "chip_memory_gib": -1.5},
            r"^Instance chip_memory_gib: must be a number > 0, got -1\.5$",
        ),
        (
            {"cores": 8, "chip_memory_gib": math.nan},
            r"^Instance chip_memory_gib: must be a number > 0, got nan$",
        ),
        (
            {"cores": 8, "chip_memory_gib": math.inf},
            r"^Instance chip_memory_gib: must be finite, got inf$",
        ),
        (
            {"cores": 8, "chip_memory_gib": True},
            r"^Instance chip_memory_gib: must be a number > 0, got True$",
        ),
        (
            {"cores": 8, "chip_memory_gib": "8"},
            r"^Instance chip_memory_gib: must be a number > 0, got '8'$",
        ),
        ({"cores": 8, "name": ""}, r"^Instance name: must be a non-empty string, got ''$"),
        ({"cores": 8, "name": 3}, r"^Instance name: must be a non-empty string, got 3$"),
        (
            {"cores": 8, "topology": "mesh"},
            r"^Instance topology: 'mesh' is not one of chain, ring, torus$",
        ),
        (
            {"cores": 8, "framework": "jax"},
            r"^Instance framework: 'jax' is not one of torch-neuron, torch-neuronx$",
        ),
    ],
)
def test_custom_instance_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Instance(**kwargs)


def test_instance_is_frozen() -> None:
    inst = Instance(cores=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        inst.cores = 4  # type: ignore[misc]


def test_chip_of_and_chip_cores() -> None:
    inst = instance("inf1.6xlarge")
    assert [inst.chip_of(c) for c in (0, 3, 4, 7, 8, 15)] == [0, 0, 1, 1, 2, 3]
    assert list(inst.chip_cores(2)) == [8, 9, 10, 11]
    trn = instance("trn1.32xlarge")
    assert [trn.chip_of(c) for c in (0, 1, 2, 31)] == [0, 0, 1, 15]


def _edges(graph: nx.Graph) -> set[frozenset[int]]:
    return {frozenset(e) for e in graph.edges}


def test_inf1_is_a_chain() -> None:
    assert _edges(instance("inf1.6xlarge").graph) == {
        frozenset({0, 1}),
        frozenset({1, 2}),
        frozenset({2, 3}),
    }
    big = instance("inf1.24xlarge").graph
    assert nx.utils.graphs_equal(big, nx.path_graph(16))
    assert instance("inf1.xlarge").graph.number_of_edges() == 0


@pytest.mark.parametrize(("name", "chips"), [("inf2.24xlarge", 6), ("inf2.48xlarge", 12)])
def test_inf2_is_a_ring(name: str, chips: int) -> None:
    graph = instance(name).graph
    assert nx.utils.graphs_equal(graph, nx.cycle_graph(chips))


@pytest.mark.parametrize("name", ["trn1.32xlarge", "trn2.48xlarge"])
def test_trn_is_a_4x4_torus(name: str) -> None:
    graph = instance(name).graph
    assert graph.number_of_edges() == 32
    assert all(degree == 4 for _, degree in graph.degree)
    assert nx.is_isomorphic(graph, nx.grid_2d_graph(4, 4, periodic=True))
    # row-major numbering: chip 5 = (1, 1) neighbours (1, 0), (1, 2), (0, 1), (2, 1)
    assert set(graph[5]) == {4, 6, 1, 9}
    assert set(graph[0]) == {1, 3, 4, 12}  # wrap-around links


@pytest.mark.parametrize(
    ("chips", "rows", "cols"), [(2, 1, 2), (3, 1, 3), (5, 1, 5), (6, 2, 3), (8, 2, 4), (12, 3, 4)]
)
def test_custom_torus_shape(chips: int, rows: int, cols: int) -> None:
    graph = Instance(cores=chips, cores_per_chip=1, chip_memory_gib=1, topology="torus").graph
    assert nx.is_isomorphic(graph, nx.grid_2d_graph(rows, cols, periodic=True))


def test_single_chip_graphs_have_no_links() -> None:
    for topology in ("chain", "ring", "torus"):
        graph = Instance(cores=2, cores_per_chip=2, topology=topology).graph
        assert list(graph.nodes) == [0] and graph.number_of_edges() == 0


def test_ring_of_two_chips_is_one_link() -> None:
    graph = Instance(cores=4, cores_per_chip=2, topology="ring").graph
    assert _edges(graph) == {frozenset({0, 1})}


def test_hops_chain() -> None:
    inst = instance("inf1.6xlarge")
    assert inst.hops(0, 3) == 0
    assert inst.hops(3, 4) == 1
    assert inst.hops(0, 15) == 3
    assert inst.hops(15, 0) == 3
    assert instance("inf1.24xlarge").hops(0, 63) == 15


def test_hops_ring_and_torus() -> None:
    ring = instance("inf2.48xlarge")  # 12 chips of 2 cores
    assert ring.hops(0, 23) == 1  # chip 0 to chip 11 across the wrap
    assert ring.hops(0, 12) == 6  # the far side
    torus = instance("trn1.32xlarge")  # 4 x 4 chips of 2 cores
    assert torus.hops(0, 2 * 10) == 4  # chip 10 = (2, 2)
    assert torus.hops(0, 2 * 15) == 2  # chip 15 = (3, 3), one wrap each way
    assert torus.hops(0, 2 * 5 + 1) == 2


@pytest.mark.parametrize("core", [-1, 16, 1.0, True])
def test_hops_refuses_cores_outside_the_instance(core: object) -> None:
    with pytest.raises(
        ConfigError, match=rf"^core {core!r} does not exist; inf1\.6xlarge has cores 0-15$"
    ):
        instance("inf1.6xlarge").hops(0, core)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["inf1.24xlarge", "inf2.48xlarge", "trn1.32xlarge", "trn2.48xlarge"]),
    st.data(),
)
def test_hops_is_a_metric_over_chips(name: str, data: st.DataObject) -> None:
    inst = instance(name)
    a, b, c = (data.draw(st.integers(0, inst.cores - 1)) for _ in range(3))
    assert inst.hops(a, b) == inst.hops(b, a)
    assert (inst.hops(a, b) == 0) == (inst.chip_of(a) == inst.chip_of(b))
    assert inst.hops(a, c) <= inst.hops(a, b) + inst.hops(b, c)
    assert inst.hops(a, b) == nx.shortest_path_length(inst.graph, inst.chip_of(a), inst.chip_of(b))
