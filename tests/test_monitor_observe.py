"""observe reads what a neuron-monitor report says about processes, hardware and rates."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import ncplace
from ncplace import ConfigError, Mix, Model, ProcessSpan
from ncplace.cli import main
from ncplace.monitor import Calibration, calibrate

# One runtime entry in neuron-monitor's format (fields trimmed to those ncplace reads).
RUNTIME = {
    "pid": 1,
    "error": "",
    "report": {
        "memory_used": {
            "period": 5.0,
            "neuron_runtime_used_bytes": {"host": 2605992, "neuron_device": 63105088},
            "loaded_models": [
                {
                    "name": "1.13.5.0+7dcf000a6-/tmp/tmp1ikwbtbb",
                    "uuid": "7bea561aa46311ed910c02c01684f658",
                    "model_id": 10001,
                    "subgraphs": {"sg_00": {"neuroncore_index": 0, "neuron_device_index": 0}},
                }
            ],
            "error": "",
        },
        "neuroncore_counters": {"period": 5.0, "neuroncores_in_use": {}, "error": ""},
    },
}


def runtime(pid: int | None, models: list[int], in_use: dict[int, float], memory: list[int]):
    """A runtime entry of ``pid`` (first format when None) with one model per core of
    ``models``, utilization ``in_use`` and device memory reported on the cores ``memory``."""
    entry = copy.deepcopy(RUNTIME)
    del entry["pid"]
    if pid is None:
        entry["neuron_runtime_index"] = 0
    else:
        entry["pid"] = pid
    template = entry["report"]["memory_used"]["loaded_models"][0]
    loaded = []
    for i, core in enumerate(models):
        model = copy.deepcopy(template)
        model["model_id"] = 10001 + i
        model["subgraphs"]["sg_00"].update(neuroncore_index=core % 2, neuron_device_index=core // 2)
        loaded.append(model)
    entry["report"]["memory_used"]["loaded_models"] = loaded
    entry["report"]["memory_used"]["neuron_runtime_used_bytes"]["usage_breakdown"] = {
        "neuroncore_memory_usage": {str(c): {"model_code": 1024} for c in memory}
    }
    entry["report"]["neuroncore_counters"]["neuroncores_in_use"] = {
        str(c): {"neuroncore_utilization": u} for c, u in in_use.items()
    }
    return entry


INF2_HARDWARE = {
    "neuron_device_count": 3,
    "neuroncore_per_device_count": 2,
    "neuron_device_type": "inferentia2",
    "neuron_device_memory_size": 32 * 2**30,
}


def test_a_process_owns_every_core_it_reports_memory_or_utilization_on():
    report = {
        "neuron_runtime_data": [
            runtime(11, [0], {0: 50.0, 1: 0.0}, [0, 2]),
            runtime(12, [3], {3: 10.0}, [2, 4, 5]),
        ]
    }
    seen = ncplace.read_monitor(report, instance="inf2.24xlarge")
    assert seen.layout.processes == (ProcessSpan((0, 1, 2)), ProcessSpan((3, 4, 5)))
    assert seen.pids == (11, 12)
    assert ncplace.score(seen.layout, Mix([Model("7bea561a")], instance="inf2.24xlarge"))


def test_memory_on_a_core_past_the_machine_is_an_error():
    report = {"neuron_runtime_data": [runtime(11, [0], {}, [40])]}
    with pytest.raises(
        ConfigError, match=r"neuroncore_memory_usage: core 40 is no core of inf2\.xlarge"
    ):
        ncplace.read_monitor(report, instance="inf2.xlarge")


@pytest.mark.parametrize(
    ("kind", "framework", "topology"),
    [
        ("inferentia2", "torch-neuronx", "ring"),
        ("trainium", "torch-neuronx", "torus"),
        ("Inferentia", "torch-neuron", "chain"),
    ],
)
def test_an_unknown_machine_is_built_from_neuron_hardware_info(kind, framework, topology):
    report = {
        "neuron_runtime_data": [runtime(11, [0], {0: 20.0}, [0])],
        "neuron_hardware_info": {**INF2_HARDWARE, "neuron_device_type": kind},
        "instance_info": {"instance_type": "inf9.future"},
    }
    inst = ncplace.read_monitor(report).layout.instance
    assert (inst.cores, inst.cores_per_chip, inst.chip_memory_gib) == (6, 2, 32.0)
    assert (inst.framework, inst.topology) == (framework, topology)
    assert inst.name == f"3x {kind.lower()} (from neuron_hardware_info)"
    bad = copy.deepcopy(report)
    bad["neuron_hardware_info"]["neuron_device_type"] = "gpu"
    with pytest.raises(ConfigError, match=r"neuron_device_type 'gpu' is not one of inferentia, "):
        ncplace.read_monitor(bad)


def test_observe_says_which_instance_it_built(capsys, tmp_path):
    path = tmp_path / "report.json"
    path.write_text(
        json.dumps(
            {
                "neuron_runtime_data": [runtime(11, [0], {0: 20.0}, [0, 1])],
                "neuron_hardware_info": INF2_HARDWARE,
            }
        )
    )
    assert main(["observe", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        f"{path}: 1 process(es), 1 model(s) on 3x inferentia2 (from neuron_hardware_info): 6 "
        "NeuronCores on 3 chip(s) of 2 cores, 32 GiB per chip, ring interconnect, torch-neuronx"
    )
    assert main(["observe", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["instance"].startswith("3x inferentia2 (from neuron_hardware_info): 6 NeuronCores")
    assert data["layout"]["processes"][0]["cores"] == [0, 1]


def test_a_first_format_runtime_index_is_not_a_pid(capsys, tmp_path):
    first = runtime(None, [0], {0: 5.0}, [])
    gone = {"neuron_runtime_index": 1, "error": "runtime exited", "report": {}}
    seen = ncplace.read_monitor({"neuron_runtime_data": [first, gone]}, instance="inf2.xlarge")
    assert seen.pids == (None,)
    assert seen.notes == ("runtime index 1 left out: runtime exited",)
    assert seen.to_dict()["models"][0]["pid"] is None
    path = tmp_path / "v1.json"
    path.write_text(json.dumps({"neuron_runtime_data": [first]}))
    assert main(["observe", str(path), "--instance", "inf2.xlarge"]) == 0
    assert "proc0: no pid (a first-format report), cores nc0\n" in capsys.readouterr().out


def test_calibrating_against_a_mix_without_rates_has_nothing_to_compare(capsys, tmp_path):
    report = {"neuron_runtime_data": [runtime(11, [0, 1], {0: 40.0, 1: 40.0}, [])]}
    bare = Mix([Model("m", replicas=2)], instance="inf2.xlarge")
    seen = ncplace.read_monitor(report, bare)
    assert calibrate(seen, bare) == (Calibration("m", None, (0, 1), False, predicted=False),)
    rated = Mix([Model("m", replicas=2, rate=400, throughput=1000)], instance="inf2.xlarge")
    assert calibrate(seen, rated)[0].ratio == pytest.approx(2.0)
    path, mix_file = tmp_path / "r.json", tmp_path / "mix.yaml"
    path.write_text(json.dumps(report))
    mix_file.write_text("instance: inf2.xlarge\nmodels:\n  - name: m\n    replicas: 2\n")
    assert main(["observe", str(path), "--mix", str(mix_file)]) == 0
    out = capsys.readouterr().out
    assert (
        "Measured against the mix: the mix gives no rate and throughput, so it predicts no "
        "load; there is nothing to compare\n"
    ) in out
    assert "x the predicted load" not in out


def test_the_example_report_still_reads(tmp_path):
    example = Path(__file__).resolve().parents[1] / "examples" / "neuron-monitor.json"
    seen = ncplace.read_monitor(example, instance="inf1.6xlarge")
    assert sum(len(p.cores) for p in seen.layout.processes) == 16
