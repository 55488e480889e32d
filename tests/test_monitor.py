"""Reading the running layout from neuron-monitor reports (``ncplace.read_monitor``,
``ncplace observe``, ``ncplace recommend --current``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from corruption import JSON_VALUES, corrupt
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from monitor_reports import report_of, uuid_of

import ncplace
from ncplace import POLICIES, ConfigError, Instance, Layout, Mix, Model, Placement, ProcessSpan
from ncplace.cli import main
from ncplace.monitor import Calibration, calibrate

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "neuron-monitor.json"
BUNDLED = ROOT / "examples" / "mix.yaml"
EXAMPLE_NAMES = {
    uuid_of(name)[:4]: name
    for name in (
        "yolov5s",
        "efficientnet-b0",
        "mobilenet-v2",
        "distilbert-sst2",
        "t5-small-encoder",
        "sentence-embedder",
    )
}

# The first runtime of the report the Neuron docs' Prometheus exporter ships as its sample
# (trimmed): one model on core 0 of device 0, 2.93 % busy.
DOCS_RUNTIME = {
    "pid": 20843,
    "neuron_runtime_tag": "1",
    "error": "",
    "report": {
        "memory_used": {
            "period": 5.000727574,
            "neuron_runtime_used_bytes": {"host": 2605992, "neuron_device": 63105088},
            "loaded_models": [
                {
                    "name": "1.13.5.0+7dcf000a6-/tmp/tmp1ikwbtbb",
                    "uuid": "7bea561aa46311ed910c02c01684f658",
                    "model_id": 10001,
                    "is_running": False,
                    "subgraphs": {
                        "sg_00": {
                            "memory_used_bytes": {"host": 12328, "neuron_device": 62547744},
                            "neuroncore_index": 0,
                            "neuron_device_index": 0,
                        }
                    },
                }
            ],
            "error": "",
        },
        "neuroncore_counters": {
            "period": 5.000727893,
            "neuroncores_in_use": {
                "0": {"neuroncore_utilization": 2.926414908153532},
                "1": {"neuroncore_utilization": 0},
                "2": {"neuroncore_utilization": 0},
                "3": {"neuroncore_utilization": 0},
            },
            "error": "",
        },
    },
}


def copies(layout: Layout) -> list[tuple[str, int, tuple[int, ...]]]:
    return sorted((p.model, p.process, r) for p in layout.placements for r in p.replicas)


def test_the_docs_sample_reads_as_one_copy_on_core_0():
    seen = ncplace.read_monitor({"neuron_runtime_data": [DOCS_RUNTIME]}, instance="inf1.xlarge")
    assert seen.pids == (20843,)
    assert seen.layout.placements == (Placement("7bea561a", ((0,),), 0),)
    assert seen.layout.processes == (ProcessSpan((0,)),)
    assert seen.utilization == pytest.approx((0.02926414908153532, 0.0, 0.0, 0.0))
    (model,) = seen.models
    assert (model.uuid, model.reported_name, model.model_ids) == (
        "7bea561aa46311ed910c02c01684f658",
        "1.13.5.0+7dcf000a6-/tmp/tmp1ikwbtbb",
        (10001,),
    )


def test_core_indices_are_local_to_their_device_and_pipelines_span_their_subgraphs():
    inst = Instance(cores=32, cores_per_chip=2)
    runtime = copy.deepcopy(DOCS_RUNTIME)
    sg = runtime["report"]["memory_used"]["loaded_models"][0]["subgraphs"]
    sg["sg_00"].update(neuron_device_index=5, neuroncore_index=1)
    sg["sg_01"] = {"neuron_device_index": 6, "neuroncore_index": 0}
    sg["sg_02"] = {"neuron_device_index": 6, "neuroncore_index": 0}  # a second subgraph, same core
    seen = ncplace.read_monitor({"neuron_runtime_data": [runtime]}, instance=inst)
    assert seen.layout.placements[0].replicas == ((11, 12),)


def test_a_global_index_on_its_device_is_read_as_global_and_others_are_errors():
    runtime = copy.deepcopy(DOCS_RUNTIME)
    sg = runtime["report"]["memory_used"]["loaded_models"][0]["subgraphs"]["sg_00"]
    sg.update(neuron_device_index=1, neuroncore_index=5)
    report = {"neuron_runtime_data": [runtime]}
    assert ncplace.read_monitor(report, instance="inf1.6xlarge").layout.placements[0].replicas == (
        (5,),
    )
    sg.update(neuroncore_index=9)
    with pytest.raises(ConfigError, match="neuroncore_index 9 of neuron_device_index 1 is no core"):
        ncplace.read_monitor(report, instance="inf1.6xlarge")


def test_the_bundled_report_is_the_default_placement_of_the_bundled_mix():
    mix = Mix.from_file(BUNDLED)
    seen = ncplace.read_monitor(EXAMPLE, mix, names=EXAMPLE_NAMES)
    assert copies(seen.layout) == copies(POLICIES["default"](mix))
    assert seen.layout.instance == mix.instance
    assert ncplace.score(seen.layout, mix).exclusive_violations == 2
    assert seen.utilization[8] == pytest.approx(0.9)


def test_shapes_name_the_models_they_tell_apart_and_the_error_lists_the_rest():
    mix = Mix.from_file(BUNDLED)
    with pytest.raises(ConfigError) as info:
        ncplace.read_monitor(EXAMPLE, mix)
    message = str(info.value)
    assert "copy shapes do not tell which mix model these are" in message
    assert f"{uuid_of('yolov5s')} (1 copy of 2 cores)" in message
    assert "unmatched mix models: yolov5s, efficientnet-b0, mobilenet-v2" in message
    assert uuid_of("bert-base-4c") not in message and uuid_of("resnet50") not in message
    assert "--name UUID=MODEL" in message


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    policy=st.sampled_from(sorted(POLICIES)),
    n=st.integers(1, 6),
)
def test_a_policy_layout_survives_the_round_trip_through_a_report(seed, policy, n):
    import random

    rng = random.Random(seed)
    models = [
        Model(
            f"m{i}",
            cores=rng.choice((1, 1, 2)),
            replicas=rng.choice((1, 2)),
            rate=rng.randint(1, 500),
            throughput=1000,
        )
        for i in range(n)
    ]
    mix = Mix(models, instance="inf1.6xlarge")
    try:
        layout = POLICIES[policy](mix)
    except ncplace.Error:  # a technique that cannot express the mix (round_robin on torch-neuron)
        reject()
    names = {uuid_of(m): m for m in mix.names}
    seen = ncplace.read_monitor(report_of(layout), mix, names=names)
    assert copies(seen.layout) == copies(layout)
    used = [
        sorted({c for p in layout.placements if p.process == i for r in p.replicas for c in r})
        for i in range(len(layout.processes))
    ]
    assert [list(p.cores) for p in seen.layout.processes] == used
    assert ncplace.score(seen.layout, mix).peak_load == pytest.approx(
        ncplace.score(layout, mix).peak_load
    )


def test_recommend_current_keeps_what_already_sits_well():
    mix = Mix.from_file(BUNDLED)
    seen = ncplace.read_monitor(EXAMPLE, mix, names=EXAMPLE_NAMES)
    plan = ncplace.optimize(
        mix, time_limit=5, current=seen.layout, objective="peak", deterministic=True
    )
    assert plan.status == "optimal" and plan.objective == pytest.approx(0.75)
    assert ncplace.score(plan.layout, mix).peak_load == pytest.approx(plan.objective)
    before, after = (
        {m: sorted(r for p in lay.placements_of(m) for r in p.replicas) for m in mix.names}
        for lay in (seen.layout, plan.layout)
    )
    moved = sorted(m for m in mix.names if before[m] != after[m])
    assert moved == ["sentence-embedder", "t5-small-encoder"]


def test_a_stream_is_read_at_its_last_complete_report(tmp_path):
    first = {"neuron_runtime_data": []}
    last = {"neuron_runtime_data": [DOCS_RUNTIME]}
    path = tmp_path / "mon.jsonl"
    path.write_text(json.dumps(first) + "\n" + json.dumps(last) + "\n" + '{"neuron_runt')
    seen = ncplace.read_monitor(path, instance="inf1.xlarge")
    assert len(seen.layout.placements) == 1


def test_the_instance_comes_from_the_report_when_nothing_else_gives_it():
    report = {
        "neuron_runtime_data": [DOCS_RUNTIME],
        "instance_info": {"instance_type": "inf1.2xlarge"},
    }
    assert ncplace.read_monitor(report).layout.instance.name == "inf1.2xlarge"
    report = {
        "neuron_runtime_data": [DOCS_RUNTIME],
        "neuron_hardware_info": {"neuron_device_count": 2, "neuroncore_per_device_count": 4},
    }
    inst = ncplace.read_monitor(report).layout.instance
    assert (inst.cores, inst.cores_per_chip) == (8, 4)
    with pytest.raises(ConfigError, match="give the instance"):
        ncplace.read_monitor({"neuron_runtime_data": [DOCS_RUNTIME]})


def test_a_runtime_that_exited_is_left_out_with_a_note():
    gone = {"pid": 77, "error": "open /proc/77/stat: no such file or directory", "report": {}}
    seen = ncplace.read_monitor(
        {"neuron_runtime_data": [gone, DOCS_RUNTIME]}, instance="inf1.xlarge"
    )
    assert seen.pids == (20843,)
    assert seen.notes == (
        "runtime of pid 77 left out: open /proc/77/stat: no such file or directory",
    )


def _with(path: tuple[object, ...], value: object) -> dict:
    runtime = copy.deepcopy(DOCS_RUNTIME)
    node: object = runtime
    for key in path[:-1]:
        node = node[key]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    return {"neuron_runtime_data": [runtime]}


MODEL = ("report", "memory_used", "loaded_models", 0)


@pytest.mark.parametrize(
    ("report", "match"),
    [
        ({"neuron_runtime_data": "x"}, "neuron_runtime_data: expected a list, got a str"),
        ({}, "neuron_runtime_data: expected a list, got nothing"),
        (
            _with(("pid",), "12"),
            r"neuron_runtime_data\[0\]: pid: expected an integer >= 0, got '12'",
        ),
        (_with(("report",), {}), "no report.memory_used.*memory_used metric group"),
        (_with((*MODEL, "subgraphs"), {}), "subgraphs: the model has none"),
        (_with((*MODEL, "subgraphs"), []), "subgraphs: expected a Mapping, got a list"),
        (
            _with((*MODEL, "subgraphs", "sg_00", "neuroncore_index"), -1),
            "neuroncore_index: expected an integer >= 0, got -1",
        ),
        (_with((*MODEL, "uuid"), 5), "expected a uuid or name string, got 5"),
        (_with((*MODEL, "uuid"), "ab\x1b[2Jcd"), r"uuid 'ab\\x1b\[2Jcd': expected printable text"),
        (
            _with(("report", "neuroncore_counters", "neuroncores_in_use", "9"), {}),
            "core 9 is no core of",
        ),
        (
            _with(("report", "neuroncore_counters", "neuroncores_in_use", "x"), {}),
            "core 'x' is not an integer",
        ),
        (
            _with(
                ("report", "neuroncore_counters", "neuroncores_in_use", "0"),
                {"neuroncore_utilization": "hi"},
            ),
            r"neuroncores_in_use.0.neuroncore_utilization: expected a percent >= 0, got 'hi'",
        ),
        (
            _with((*MODEL, "subgraphs", "sg\n01"), None),
            r"subgraphs\['sg\\n01'\]: expected an object, got NoneType$",
        ),
        (
            _with(
                ("report", "neuroncore_counters", "neuroncores_in_use", "1\n"),
                {"neuroncore_utilization": -3},
            ),
            r"neuroncores_in_use\['1\\n'\].neuroncore_utilization: expected a percent >= 0",
        ),
    ],
)
def test_malformed_reports_say_where_and_what_is_accepted(report, match):
    with pytest.raises(ConfigError, match=match) as error:
        ncplace.read_monitor(report, instance="inf1.xlarge")
    assert "\n" not in str(error.value)


def test_unreadable_files_and_bad_names_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(
        ConfigError, match=r"bad.json: not a neuron-monitor report in JSON \(.* line 1"
    ):
        ncplace.read_monitor(bad, instance="inf1.xlarge")
    with pytest.raises(ConfigError, match="cannot read neuron-monitor report"):
        ncplace.read_monitor(tmp_path / "missing.json", instance="inf1.xlarge")
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="got a JSON list"):
        ncplace.read_monitor(bad, instance="inf1.xlarge")
    with pytest.raises(
        ConfigError, match=r"^read_monitor: expected a report file path .*got list$"
    ):
        ncplace.read_monitor([DOCS_RUNTIME], instance="inf1.xlarge")  # type: ignore[arg-type]
    mix = Mix.from_file(BUNDLED)
    with pytest.raises(ConfigError, match="the mix has no model 'nope'"):
        ncplace.read_monitor(EXAMPLE, mix, names={"b1f9": "nope"})
    with pytest.raises(ConfigError, match="'zzzz' -> 'yolov5s': the key matches no model"):
        ncplace.read_monitor(EXAMPLE, mix, names={"zzzz": "yolov5s"})
    report = {"neuron_runtime_data": [DOCS_RUNTIME]}
    second = copy.deepcopy(DOCS_RUNTIME)
    second["report"]["memory_used"]["loaded_models"][0]["uuid"] = "7bea0000"
    report["neuron_runtime_data"].append(second)
    with pytest.raises(ConfigError, match="the key matches 2 models"):
        ncplace.read_monitor(report, names={"7bea": "a"}, instance="inf1.xlarge")


def test_hostile_names_stay_data():
    name = "x'); import os; os.system('boom') #\n\u202e"
    mix = Mix([Model(name, rate=100, throughput=1000)], instance="inf1.xlarge")
    layout = Layout.single_process(mix.instance, [Placement(name, ((2,),))])
    seen = ncplace.read_monitor(report_of(layout), mix)
    assert seen.layout.placements[0].model == name
    code = ncplace.generate_code(
        ncplace.optimize(mix, time_limit=1, current=seen.layout).layout, mix
    )
    compile(code, "<generated>", "exec")


def test_observe_prints_the_running_layout_against_the_mix(capsys):
    argv = ["observe", str(EXAMPLE), "--mix", str(BUNDLED)]
    argv += [f"--name={k}={v}" for k, v in EXAMPLE_NAMES.items()]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{EXAMPLE}: 1 process(es), 8 model(s) on inf1.6xlarge")
    assert "proc0: pid 4242, cores nc0-nc15" in out
    assert "bert-base-4c       proc0    f018e19ae7d32d112e894a7c9b88ab45  2: nc0-nc3 nc4-nc7" in out
    assert "measured    90.0%   90.0%   60.0%" in out
    assert "predicted   75.0%   75.0%   60.0%" in out
    assert "exclusive violations         2" in out
    assert "ncplace recommend" in out and "--current" in out and "--name=b1f9=yolov5s" in out


def test_observe_json_and_without_a_mix(capsys, tmp_path):
    plot = tmp_path / "seen.png"
    assert main(["observe", str(EXAMPLE), "--format", "json", "--plot", str(plot)]) == 0
    assert plot.read_bytes().startswith(b"\x89PNG")
    data = json.loads(capsys.readouterr().out)
    assert data["pids"] == [4242] and data["score"] is None
    assert data["layout"]["instance"] == "inf1.6xlarge"
    assert [m["model"] for m in data["models"]][:2] == [
        uuid_of("bert-base-4c")[:8],
        uuid_of("resnet50")[:8],
    ]
    assert main(["observe", str(tmp_path / "none.json")]) == 2
    assert "cannot read neuron-monitor report" in capsys.readouterr().err


MOVED = ("t5-small-encoder", "sentence-embedder")


def mix_names() -> tuple[str, ...]:
    return Mix.from_file(BUNDLED).names


def test_recommend_current_says_what_moves(capsys):
    argv = ["recommend", str(BUNDLED), "--current", str(EXAMPLE), "--time-limit", "5"]
    argv += ["--objective", "peak", "--deterministic"]
    argv += [f"--name={k}={v}" for k, v in EXAMPLE_NAMES.items()]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        f"Against the current layout ({EXAMPLE}): 6 of 8 model(s) stay where they run; "
        "moved: t5-small-encoder (nc0 -> nc13), sentence-embedder (nc1 -> nc15)." in out
    )
    assert "optimized  current  default" in out
    assert main([*argv, "--format", "json"]) == 0
    moves = json.loads(capsys.readouterr().out)["moves"]
    assert moves["stay"] == [n for n in mix_names() if n not in MOVED]
    assert moves["move"] == [
        {"model": "t5-small-encoder", "from": [[0]], "to": [[13]]},
        {"model": "sentence-embedder", "from": [[1]], "to": [[15]]},
    ]
    assert moves["not_running"] == []
    assert main(["recommend", str(BUNDLED), "--name", "a=b"]) == 2
    assert "give --current too" in capsys.readouterr().err
    assert main(["recommend", str(BUNDLED), "--current", str(EXAMPLE)]) == 2
    assert f"{EXAMPLE}: copy shapes do not tell" in capsys.readouterr().err


def test_calibration_reads_each_model_on_the_cores_it_has_to_itself():
    mix = Mix.from_file(BUNDLED)
    seen = ncplace.read_monitor(EXAMPLE, mix, names=EXAMPLE_NAMES)
    readings = {c.model: c for c in calibrate(seen, mix)}
    assert list(readings) == list(mix.names)
    assert readings["resnet50"].ratio == pytest.approx(1.2)
    assert readings["resnet50"].cores == (8, 9)
    assert readings["bert-base-4c"].cores == (2, 3, 4, 5, 6, 7)  # t5 and the embedder share nc0-1
    assert readings["efficientnet-b0"].ratio == pytest.approx(0.143 / (100 / 700))
    assert readings["t5-small-encoder"] == Calibration("t5-small-encoder", None, (), False)


def test_calibration_counts_copies_sharing_a_core_and_flags_saturation():
    mix = Mix(
        [
            Model("a", replicas=2, rate=500, throughput=1000),  # 0.25 per copy
            Model("b", rate=800, throughput=1000),
            Model("idle", rate=100, throughput=1000),
        ],
        instance="inf1.xlarge",
    )
    layout = Layout.single_process(
        mix.instance,
        [Placement("a", ((0,), (0,))), Placement("b", ((1,),)), Placement("idle", ((2,),))],
    )
    names = {uuid_of(m): m for m in mix.names}
    seen = ncplace.read_monitor(report_of(layout, [0.6, 1.0, 0.1, 0.0]), mix, names=names)
    a, b, idle = calibrate(seen, mix)
    assert (a.ratio, a.saturated) == (pytest.approx(1.2), False)
    assert (b.ratio, b.saturated) == (pytest.approx(1.25), True)
    assert (idle.ratio, idle.saturated) == (pytest.approx(1.0), False)


def test_observe_says_which_numbers_of_the_mix_look_off(capsys):
    argv = ["observe", str(EXAMPLE), "--mix", str(BUNDLED)]
    argv += [f"--name={k}={v}" for k, v in EXAMPLE_NAMES.items()]
    assert main([*argv, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["calibration"][1] == {
        "model": "resnet50",
        "ratio": pytest.approx(1.2),
        "cores": [8, 9],
        "saturated": False,
    }
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        "  resnet50: 1.20x the predicted load on nc8-nc9: rate 900 looks like 1080 requests/s "
        "(or throughput 600 like 500)\n"
        "  within 5% of the mix: bert-base-4c, yolov5s, efficientnet-b0, mobilenet-v2, "
        "distilbert-sst2\n"
        "  sharing every core (no reading): t5-small-encoder, sentence-embedder\n" in out
    )


def test_observe_scores_what_runs_and_lists_what_does_not(capsys, tmp_path):
    mix_file = tmp_path / "mix.yaml"
    mix_file.write_text(
        "instance: inf1.xlarge\n"
        "models:\n"
        "  - {name: pipe, cores: 2, rate: 300, throughput: 500}\n"
        "  - {name: small, rate: 100, throughput: 1000}\n"
        "  - {name: later, rate: 100, throughput: 1000}\n"
    )
    mix = Mix.from_file(mix_file)
    layout = Layout.single_process(mix.instance, [Placement("pipe", ((0, 1),))], cores=(0, 1))
    report = tmp_path / "mon.json"
    report.write_text(json.dumps(report_of(layout, [0.6, 0.6, 0.0, 0.0])))
    assert main(["observe", str(report), "--mix", str(mix_file)]) == 0
    out = capsys.readouterr().out
    assert "Not running (left out of the score): small, later" in out
    assert "peak load                0.600" in out
    assert "  within 5% of the mix: pipe" in out
    assert main(["recommend", str(mix_file), "--current", str(report), "--time-limit", "2"]) == 0
    out = capsys.readouterr().out
    assert (
        f"Against the current layout ({report}): 1 of 3 model(s) stay where they run; "
        "not running now: small, later." in out
    )
    assert "optimized  current" not in out  # the running layout lacks models: no current column


def test_recommend_current_takes_a_layout_ncplace_wrote(tmp_path, capsys):
    plan_file = tmp_path / "plan.json"
    argv = ["recommend", str(BUNDLED), "--time-limit", "5"]
    assert main([*argv, "--format", "json", "-o", str(plan_file)]) == 0
    assert main([*argv, "--current", str(plan_file)]) == 0
    out = capsys.readouterr().out
    assert f"Against the current layout ({plan_file}): 8 of 8 model(s) stay where they run." in out
    layout = json.loads(plan_file.read_text())["layout"]
    layout["placements"][0]["model"] = "gone"
    bare = tmp_path / "layout.json"
    bare.write_text(json.dumps(layout))
    assert main([*argv, "--current", str(bare)]) == 2
    assert "model(s) 'gone' of the layout are not in the mix" in capsys.readouterr().err
    assert main([*argv, "--current", str(plan_file), "--name", "a=b"]) == 2
    assert "--name names the models of a neuron-monitor report" in capsys.readouterr().err


def test_a_report_from_other_hardware_than_the_instance_is_an_error():
    report = {
        "neuron_runtime_data": [DOCS_RUNTIME],
        "neuron_hardware_info": {"neuron_device_count": 16, "neuroncore_per_device_count": 8},
    }
    with pytest.raises(
        ConfigError,
        match=r"reports 16 device\(s\) of 8 core\(s\), but trn2\.48xlarge has 16 chip\(s\) of 4",
    ):
        ncplace.read_monitor(report, instance="trn2.48xlarge")
    report["instance_info"] = {"instance_type": "inf1.6xlarge"}
    with pytest.raises(ConfigError, match=r"but inf1\.6xlarge has 4 chip"):
        ncplace.read_monitor(report)


def test_a_core_reported_by_several_runtimes_counts_once():
    idle = copy.deepcopy(DOCS_RUNTIME)
    idle["pid"] = 5
    idle["report"]["memory_used"]["loaded_models"] = []
    seen = ncplace.read_monitor(
        {"neuron_runtime_data": [DOCS_RUNTIME, idle]}, instance="inf1.xlarge"
    )
    assert seen.utilization[0] == pytest.approx(0.02926414908153532)
    assert seen.layout.processes == (ProcessSpan((0,)), ProcessSpan(()))
    assert seen.pids == (20843, 5)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), value=JSON_VALUES)
def test_any_corruption_of_a_report_reads_or_is_a_config_error(data, value):
    report = report_of(POLICIES["default"](Mix.from_file(BUNDLED)))
    corrupt(data, report, value)
    try:
        seen = ncplace.read_monitor(report, instance="inf1.6xlarge")
    except ConfigError as error:
        assert "\n" not in str(error)
        return
    assert len(seen.utilization) == 16
    assert all(v is None or v >= 0 for v in seen.utilization)
    seen.layout.render()
