"""Today's machines: trn1n and trn2, logical NeuronCores, memory banks, custom Trainiums."""

from __future__ import annotations

import pytest

import ncplace
from ncplace import ConfigError, Instance, Mix, Model, instance
from ncplace.hardware import connected, tensor_degrees, with_lnc


def test_trn2_at_lnc_1_shows_the_physical_cores_with_one_bank_per_two() -> None:
    # logical-neuroncore-config.rst: 8 physical cores per device, 128 on a 48xlarge at LNC=1,
    # four 24 GB HBM banks per device, each shared by two physical cores.
    inst = instance("trn2.48xlarge:lnc=1")
    assert (inst.name, inst.cores, inst.chips, inst.cores_per_chip) == (
        "trn2.48xlarge:lnc=1",
        128,
        16,
        8,
    )
    assert (inst.lnc, inst.memory_cores, inst.pool_memory_gib, inst.pools) == (1, 2, 24.0, 64)
    assert inst.chip_memory_gib == 96.0 and inst.memory_gib == 1536.0  # trn2-arch.rst
    default = instance("trn2.48xlarge")
    assert (default.cores, default.lnc, default.memory_cores, default.pool_memory_gib) == (
        64,
        2,
        1,
        24.0,
    )
    assert instance("trn2.48xlarge:lnc=2") is default
    assert instance("trn2.3xlarge:lnc=1").cores == 8
    assert instance("trn2u.48xlarge:LNC=1").cores == 128
    assert with_lnc(inst, 2) is default


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "trn1.32xlarge:lnc=1",
            r"^instance 'trn1\.32xlarge:lnc=1': trn1\.32xlarge has no logical NeuronCore "
            r"configuration; LNC applies to trn2 machines only$",
        ),
        ("trn2.48xlarge:lnc=3", r"^instance 'trn2\.48xlarge:lnc=3': lnc must be 1 or 2, got '3'$"),
        ("trn2.48xlarge:cores=3", r"unknown option 'cores=3'; expected lnc=1 or lnc=2$"),
        ("trn9.48xlarge:lnc=1", r"^unknown instance 'trn9\.48xlarge:lnc=1'"),
    ],
)
def test_bad_lnc_names(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        instance(name)


def test_instance_describes_its_banks_and_lnc() -> None:
    assert instance("trn2.48xlarge:lnc=1").describe() == (
        "trn2.48xlarge:lnc=1: 128 NeuronCores on 16 chip(s) of 8 cores, 96 GiB per chip in banks "
        "of 24 GiB per 2 core(s), torus interconnect, torch-neuronx, LNC=1"
    )


def test_custom_trainium_needs_its_chip_width_and_memory() -> None:
    with pytest.raises(ConfigError, match=r"^Instance cores_per_chip: required for a machine"):
        Instance(cores=32, framework="torch-neuronx")
    with pytest.raises(ConfigError, match=r"^Instance cores_per_chip: required"):
        Instance(cores=32, topology="torus")
    with pytest.raises(ConfigError, match=r"^Instance chip_memory_gib: required .* 3 cores"):
        Instance(cores=6, cores_per_chip=3, framework="torch-neuronx")
    assert Instance(cores=64, cores_per_chip=4, framework="torch-neuronx").chip_memory_gib == 96.0
    assert Instance(cores=8, cores_per_chip=2, topology="torus").chip_memory_gib == 32.0
    assert Instance(cores=8).chip_memory_gib == 8.0  # Inf1-like: as before


def test_tensor_parallel_degrees_per_family() -> None:
    assert tensor_degrees(instance("trn1.32xlarge")) == (1, 2, 8, 16, 32)
    assert tensor_degrees(instance("trn1.2xlarge")) == (1, 2)
    assert tensor_degrees(instance("inf2.48xlarge")) == (1, 2, 4, 8, 12, 24)
    assert tensor_degrees(instance("inf2.24xlarge")) == (1, 2, 4, 8, 12)
    assert tensor_degrees(instance("trn2.48xlarge")) == (1, 2, 4, 8, 16, 32, 64)
    assert tensor_degrees(instance("trn2.48xlarge:lnc=1"))[-1] == 128
    assert tensor_degrees(Instance(cores=6, cores_per_chip=2)) == (1, 2, 3, 4, 5, 6)


def test_connected_runs_on_the_trn1_torus() -> None:
    trn1 = instance("trn1.32xlarge")  # 4 x 4 torus of 2-core devices, row by row
    assert connected(trn1, 0, 8)  # devices 0-3: one row
    assert not connected(trn1, 4, 8)  # devices 2-5: 3 and 4 are in different rows
    assert not connected(trn1, 6, 8)  # devices 3-6: 3 links none of 4, 5, 6
    assert connected(trn1, 8, 8) and connected(trn1, 1, 2)  # a row; one core on each of 2 devices


def test_memory_is_checked_per_hbm_bank_on_trn2() -> None:
    with pytest.raises(
        ncplace.InfeasibleMix,
        match=r"memory_gib: one copy puts at least 30 GiB on one memory bank, more than a memory "
        r"bank's 24 GiB$",
    ):
        Mix([Model("big", memory_gib=30)], "trn2.48xlarge")
    # Split over two logical cores (two banks) it fits; at LNC=1 two cores share one bank.
    mix = Mix([Model("big", cores=2, parallel="tensor", memory_gib=30)], "trn2.48xlarge")
    layout = ncplace.Layout.single_process(mix.instance, [ncplace.Placement("big", ((0, 1),))])
    assert ncplace.score(layout, mix).memory_overflow_gib == 0.0
    lnc1 = Mix([Model("big", cores=2, parallel="tensor", memory_gib=30)], "trn2.48xlarge:lnc=1")
    crowded = ncplace.Layout.single_process(lnc1.instance, [ncplace.Placement("big", ((0, 1),))])
    assert ncplace.score(crowded, lnc1).memory_overflow_gib == pytest.approx(6.0)
    apart = ncplace.Layout.single_process(lnc1.instance, [ncplace.Placement("big", ((1, 2),))])
    assert ncplace.score(apart, lnc1).memory_overflow_gib == 0.0


def test_a_trn2n_report_reads_as_the_catalogue_machine_at_its_lnc() -> None:
    from monitor_reports import report_of

    for name in ("trn2n.48xlarge", "trn2n.48xlarge:lnc=1"):
        inst = instance(name)
        layout = ncplace.Layout.single_process(inst, [ncplace.Placement("a", ((inst.cores - 1,),))])
        report = report_of(layout, instance_type="trn2n.48xlarge")
        observed = ncplace.read_monitor(report)
        assert observed.layout.instance == inst
        assert observed.layout.instance.chip_memory_gib == 96.0


def test_the_emulator_switches_to_lnc_1_when_a_process_asks_for_it() -> None:
    rt = ncplace.Runtime(instance("trn2.48xlarge"))
    p = rt.start_process({"NEURON_LOGICAL_NC_CONFIG": "1", "NEURON_RT_VISIBLE_CORES": "120-127"})
    assert rt.instance is not instance("trn2.48xlarge")
    assert rt.instance == instance("trn2.48xlarge:lnc=1")
    assert p.cores == tuple(range(120, 128))
    q = rt.start_process({"NEURON_LOGICAL_NC_CONFIG": " 1 ", "NEURON_RT_NUM_CORES": "8"})
    assert q.cores == tuple(range(8))
    with pytest.raises(
        ConfigError,
        match=r"^NEURON_LOGICAL_NC_CONFIG='2': the live processes use LNC=1; ncplace emulates one "
        r"LNC per machine at a time \(the core numbering differs\)$",
    ):
        rt.start_process({"NEURON_LOGICAL_NC_CONFIG": "2"})
    assert rt.layout().instance.cores == 128


@pytest.mark.parametrize(
    ("machine", "value", "message"),
    [
        (
            "trn2.48xlarge",
            "3",
            r"^NEURON_LOGICAL_NC_CONFIG='3': expected 1 \(physical cores\) or 2",
        ),
        ("trn2.48xlarge", "one", r"^NEURON_LOGICAL_NC_CONFIG='one': expected 1"),
        (
            "trn1.32xlarge",
            "1",
            r"^NEURON_LOGICAL_NC_CONFIG='1': trn1\.32xlarge has no logical NeuronCore "
            r"configuration; the variable applies to trn2 machines only$",
        ),
    ],
)
def test_bad_lnc_settings_are_refused(machine: str, value: str, message: str) -> None:
    rt = ncplace.Runtime(instance(machine))
    with pytest.raises(ConfigError, match=message):
        rt.start_process({"NEURON_LOGICAL_NC_CONFIG": value})
    assert rt.processes == () and rt.instance is instance(machine)


def test_processes_own_disjoint_cores_and_tensor_parallel_ranks_start_at_their_first() -> None:
    rt = ncplace.Runtime(instance("trn1.32xlarge"))
    llm = rt.start_process({"NEURON_RT_VISIBLE_CORES": "0-7"})
    api = rt.start_process({"NEURON_RT_NUM_CORES": "2"})
    assert api.cores == (8, 9)
    assert llm.load_ranks("llama", 8).replicas == (tuple(range(8)),)
    assert api.load("embed").replicas == ((8,),) and api.load("rerank").replicas == ((9,),)
    with pytest.raises(ncplace.CoresUnavailable, match=r"Requested:nc4-nc11"):
        rt.start_process({"NEURON_RT_VISIBLE_CORES": "4-11"})
    layout = rt.layout()
    assert [p.process for p in layout.placements] == [0, 1, 1]
    assert layout.owner()[:10] == [0] * 8 + [1, 1]
    llm.stop()
    assert rt.start_process({"NEURON_RT_VISIBLE_CORES": "4-7"}).cores == (4, 5, 6, 7)


def test_mix_files_take_lnc_on_trn2_only() -> None:
    data = {"instance": "trn2.3xlarge", "lnc": 1, "models": [{"name": "a"}]}
    assert Mix.from_dict(data).instance.cores == 8
    with pytest.raises(
        ConfigError,
        match=r"^mix: lnc: inf2\.xlarge has no logical NeuronCore configuration; LNC applies to "
        r"trn2 machines only$",
    ):
        Mix.from_dict({**data, "instance": "inf2.xlarge"})
    with pytest.raises(ConfigError, match=r"^mix: lnc: lnc must be 1 or 2, got 4$"):
        Mix.from_dict({**data, "lnc": 4})
    with pytest.raises(ConfigError, match=r"^mix processes: expected ProcessSpec objects, got 5$"):
        Mix([Model("a")], "inf1.xlarge", processes=5)  # type: ignore[arg-type]
