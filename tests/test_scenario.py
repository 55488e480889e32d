"""Scenario files: the bundled guide scenarios, the format, and malformed files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from corruption import FIELD_VALUES, corrupt
from hypothesis import given, settings
from hypothesis import strategies as st

import ncplace
from ncplace import (
    ConfigError,
    CoresUnavailable,
    Instance,
    PlacementError,
    Scenario,
    emulate_file,
    instance,
    load_scenario,
)
from ncplace.scenario import (
    MAX_LOADS,
    CoresContext,
    LoadStep,
    MulticoreContext,
    ProcessStep,
)

try:  # tests/ on sys.path (pytest's default rootdir-less import mode)
    from test_guide_examples import GUIDE_EXAMPLES, GuideExample, assert_guide_layout
except ImportError:  # tests/ imported as a package
    from tests.test_guide_examples import GUIDE_EXAMPLES, GuideExample, assert_guide_layout

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"


def test_one_bundled_scenario_per_guide_example() -> None:
    assert sorted(p.name for p in SCENARIOS.iterdir()) == sorted(
        f"{e.slug}.yaml" for e in GUIDE_EXAMPLES
    )


@pytest.mark.parametrize("example", GUIDE_EXAMPLES, ids=lambda e: e.slug)
def test_bundled_scenario_reproduces_the_guide(example: GuideExample) -> None:
    path = SCENARIOS / f"{example.slug}.yaml"
    layout = emulate_file(path)
    assert_guide_layout(layout, example)
    api_layout, _ = example.run()
    assert layout == api_layout  # same processes, environments and loads as the guide's script


@pytest.mark.parametrize("example", GUIDE_EXAMPLES, ids=lambda e: e.slug)
def test_bundled_scenario_quotes_the_guide(example: GuideExample) -> None:
    path = SCENARIOS / f"{example.slug}.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f'# The guide\'s "{example.section}"')
    scenario = load_scenario(path)
    assert scenario.description == f"Guide: {example.section}"
    assert scenario.label == str(path)
    if example.slug == "multiple-model-copies":
        assert "models[0] on ncg0 = nc0-nc1" in text
        return
    for model, process, replicas in example.loads:
        if process == 0:  # the script's '# Loads to' comment, quoted in the file
            first, last = replicas[0][0], replicas[-1][-1]
            where = f"nc{first}" if first == last else f"nc{first}-nc{last}"
            assert re.search(
                rf"{model} = torch.jit.load\(.*# Loads (replications )?to {where}\n", text
            ), (model, where)


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own folder, so that the files it writes are read by the relative
    name a user would type, and messages name them so."""
    monkeypatch.chdir(tmp_path)


def _write(tmp_path: Path, text: str, name: str = "guide.yaml") -> Path:
    """``text`` written to ``name`` in the test's folder; the relative path to it."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    return Path(name)


# The format -------------------------------------------------------------------------------------


def test_the_format_example_of_the_docstring(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
instance: {cores: 8, cores_per_chip: 4}
framework: torch-neuron
processes:
  - env: {NEURON_RT_NUM_CORES: "4"}
    loads:
      - {name: m1, cores: 2, context: {start_nc: 2}}
      - {name: m2, cores: 1, context: {start_nc: 0, nc_count: 4}}
      - {name: m3, cores: 1, context: multicore}
      - {name: m4, cores: 1, repeat: 4}
    stop: false
""",
    )
    scenario = load_scenario(path)
    assert scenario == Scenario(
        Instance(cores=8, cores_per_chip=4),
        (
            ProcessStep(
                {"NEURON_RT_NUM_CORES": "4"},
                (
                    LoadStep("m1", 2, CoresContext(start_nc=2)),
                    LoadStep("m2", 1, CoresContext(0, 4)),
                    LoadStep("m3", 1, MulticoreContext()),
                    LoadStep("m4", 1, None, repeat=4),
                ),
            ),
        ),
        framework="torch-neuron",
    )
    layout = scenario.run()
    assert [(p.model, p.replicas) for p in layout.placements] == [
        ("m1", ((2, 3),)),
        ("m2", ((0,), (1,), (2,), (3,))),
        ("m3", ((0,), (1,), (2,), (3,))),
        # default placement after those: copy counts (2, 2, 3, 3)
        ("m4", ((0,),)),
        ("m4", ((1,),)),
        ("m4", ((0,),)),
        ("m4", ((1,),)),
    ]
    assert emulate_file(path) == layout


def test_json_scenario(tmp_path: Path) -> None:
    data = {
        "instance": "inf1.6xlarge",
        "processes": [
            {"env": {"NEURON_RT_VISIBLE_CORES": "8-11"}, "loads": [{"name": "a", "cores": 4}]}
        ],
    }
    path = _write(tmp_path, json.dumps(data), "s.json")
    layout = emulate_file(path)
    assert layout.instance == instance("inf1.6xlarge")
    assert [(p.model, p.replicas) for p in layout.placements] == [("a", ((8, 9, 10, 11),))]


def test_framework_defaults_to_the_instance_and_can_be_overridden() -> None:
    data = {"instance": "inf2.24xlarge", "processes": [{"loads": [{"name": "m", "repeat": 3}]}]}
    scenario = Scenario.from_dict(data)
    assert scenario.framework == "torch-neuronx"
    assert [p.replicas for p in scenario.run().placements] == [((0,),), ((1,),), ((2,),)]
    scenario = Scenario.from_dict({**data, "framework": "torch-neuron"})
    assert scenario.framework == "torch-neuron"
    assert [p.replicas for p in scenario.run().placements] == [((0,),), ((1,),), ((2,),)]


def test_stop_frees_the_cores_for_later_processes() -> None:
    data = {
        "instance": {"cores": 8},
        "processes": [
            {"env": {"NEURON_RT_NUM_CORES": 6}, "loads": [{"name": "old"}], "stop": True},
            {"env": {"NEURON_RT_NUM_CORES": 4}, "loads": [{"name": "new"}]},
        ],
    }
    layout = Scenario.from_dict(data).run()
    assert [p.cores for p in layout.processes] == [(0, 1, 2, 3)]
    assert [(p.model, p.process) for p in layout.placements] == [("new", 0)]
    with pytest.raises(CoresUnavailable):
        Scenario.from_dict(
            {**data, "processes": [{**data["processes"][0], "stop": False}, data["processes"][1]]}
        ).run()


def test_env_numbers_are_taken_as_text_and_processes_may_hold_cores_only() -> None:
    scenario = Scenario.from_dict(
        {
            "instance": {"cores": 8},
            "processes": [
                {"env": {"NEURON_RT_NUM_CORES": 2}},
                {"env": {"NEURON_RT_VISIBLE_CORES": 5}, "loads": None},
            ],
        }
    )
    assert dict(scenario.processes[0].env) == {"NEURON_RT_NUM_CORES": "2"}
    layout = scenario.run()
    assert [p.cores for p in layout.processes] == [(0, 1), (5,)]
    assert layout.placements == ()
    bare = Scenario.from_dict({"instance": {"cores": 4}, "processes": [None]}).run()
    assert bare.processes[0].cores == (0, 1, 2, 3)  # an empty process entry: no env, no loads


def test_an_empty_context_is_the_default_context() -> None:
    data = {"instance": {"cores": 4}, "processes": [{"loads": [{"name": "m", "context": {}}]}]}
    scenario = Scenario.from_dict(data)
    assert scenario.processes[0].loads[0].context == CoresContext(-1, -1)
    assert scenario.run().placements[0].replicas == ((0,),)


@pytest.mark.parametrize("example", GUIDE_EXAMPLES, ids=lambda e: e.slug)
def test_to_dict_round_trips(example: GuideExample) -> None:
    scenario = load_scenario(SCENARIOS / f"{example.slug}.yaml")
    again = Scenario.from_dict(json.loads(json.dumps(scenario.to_dict())))
    assert again == scenario
    assert again.run() == scenario.run()


def test_replay_returns_the_runtime() -> None:
    rt = load_scenario(SCENARIOS / "multiple-processes.yaml").replay()
    assert [p.cores for p in rt.processes] == [(0, 1), (2, 3)]
    assert rt.free_cores() == (4, 5, 6, 7)


def test_public_names() -> None:
    assert ncplace.Scenario is Scenario
    assert ncplace.load_scenario is load_scenario
    assert ncplace.emulate_file is emulate_file
    assert {"Scenario", "load_scenario", "emulate_file"} <= set(ncplace.__all__)


# Malformed files --------------------------------------------------------------------------------

GOOD_HEAD = "instance: {cores: 8, cores_per_chip: 4}\nprocesses:\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD_HEAD + "  - loads: [{name: a}]\n  - loads:\n      - {name: m1, cores: 0}\n",
            r"^guide\.yaml: processes\[1\]\.loads\[0\]\.cores: must be an integer >= 1, got 0$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, cores: two}]\n",
            r"^guide\.yaml: processes\[0\]\.loads\[0\]\.cores: must be an integer >= 1, "
            r"got 'two'$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, cores: 1.5}]\n",
            r"processes\[0\]\.loads\[0\]\.cores: must be an integer >= 1, got 1\.5$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, cores: true}]\n",
            r"processes\[0\]\.loads\[0\]\.cores: must be an integer >= 1, got True$",
        ),
        (
            GOOD_HEAD + "  - loads: [{cores: 2}]\n",
            r"^guide\.yaml: processes\[0\]\.loads\[0\]\.name: missing$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: 7}]\n",
            r"^guide\.yaml: processes\[0\]\.loads\[0\]\.name: must be a non-empty string, got 7$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: ''}]\n",
            r"processes\[0\]\.loads\[0\]\.name: must be a non-empty string, got ''$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, copies: 2}]\n",
            r"^guide\.yaml: processes\[0\]\.loads\[0\]: unknown field\(s\) copies; "
            r"accepted: name, cores, context, repeat$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, repeat: 0}]\n",
            rf"processes\[0\]\.loads\[0\]\.repeat: must be an integer from 1 to {MAX_LOADS}, "
            r"got 0$",
        ),
        (
            GOOD_HEAD + f"  - loads: [{{name: a, repeat: {MAX_LOADS + 1}}}]\n",
            rf"\.repeat: must be an integer from 1 to {MAX_LOADS}, got {MAX_LOADS + 1}$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, repeat: 6000}, {name: b, repeat: 6000}]\n",
            rf"^guide\.yaml: processes: 12000 loads in all \(repeats included\); a scenario "
            rf"replays at most {MAX_LOADS}$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, context: multi}]\n",
            r"^guide\.yaml: processes\[0\]\.loads\[0\]\.context: expected 'multicore' or a "
            r"mapping with start_nc and/or nc_count, got 'multi'$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, context: {start: 2}}]\n",
            r"^guide\.yaml: processes\[0\]\.loads\[0\]\.context: unknown field\(s\) start; "
            r"accepted: start_nc, nc_count$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, context: {start_nc: '2'}}]\n",
            r"^guide\.yaml: processes\[0\]\.loads\[0\]\.context\.start_nc: must be an integer "
            r"\(-1 for the default\), got '2'$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, context: {nc_count: 2.0}}]\n",
            r"processes\[0\]\.loads\[0\]\.context\.nc_count: must be an integer .*got 2\.0$",
        ),
        (
            GOOD_HEAD + "  - loads: {name: a}\n",
            r"^guide\.yaml: processes\[0\]\.loads: expected a list of loads, got dict$",
        ),
        (
            GOOD_HEAD + "  - loads: [a]\n",
            r"^guide\.yaml: processes\[0\]\.loads\[0\]: expected a mapping with at least "
            r"'name', got str$",
        ),
        (
            GOOD_HEAD + "  - envs: {}\n",
            r"^guide\.yaml: processes\[0\]: unknown field\(s\) envs; accepted: env, loads, stop$",
        ),
        (
            GOOD_HEAD + "  - env: [NEURON_RT_NUM_CORES=2]\n",
            r"^guide\.yaml: processes\[0\]\.env: expected a mapping of variable names to "
            r"values, got list$",
        ),
        (
            GOOD_HEAD + "  - env: {NEURON_RT_NUM_CORES: [2]}\n",
            r"^guide\.yaml: processes\[0\]\.env\.NEURON_RT_NUM_CORES: must be a string or a "
            r"number, got \[2\]$",
        ),
        (
            GOOD_HEAD + "  - env: {NEURON_RT_NUM_CORES: yes}\n",
            r"processes\[0\]\.env\.NEURON_RT_NUM_CORES: must be a string or a number, got True$",
        ),
        (
            GOOD_HEAD + "  - env: {3: x}\n",
            r"^guide\.yaml: processes\[0\]\.env: variable names must be strings, got 3$",
        ),
        (
            GOOD_HEAD + "  - stop: yes please\n",
            r"^guide\.yaml: processes\[0\]\.stop: must be true or false, got 'yes please'$",
        ),
        (
            GOOD_HEAD + "  - 5\n",
            r"^guide\.yaml: processes\[0\]: expected a mapping with 'env' and 'loads', got int$",
        ),
        (
            "instance: {cores: 8}\nprocesses: []\n",
            r"^guide\.yaml: processes: expected a non-empty list of processes, got \[\]$",
        ),
        (
            "instance: {cores: 8}\n",
            r"^guide\.yaml: processes: expected a non-empty list of processes, got nothing$",
        ),
        (
            "instance: {cores: 8}\nprocesses: {env: {}}\n",
            r"^guide\.yaml: processes: expected a non-empty list of processes, got dict$",
        ),
        (
            "instance: {cores: 8}\nprocesses: [{}]\nproceses: []\n",
            r"^guide\.yaml: unknown field\(s\) proceses; "
            r"accepted: description, instance, framework, processes$",
        ),
        (
            "instance: {cores: 8}\nframework: jax\nprocesses: [{}]\n",
            r"^guide\.yaml: framework: 'jax' is not one of torch-neuron, torch-neuronx$",
        ),
        (
            "instance: {cores: 8}\ndescription: [a]\nprocesses: [{}]\n",
            r"^guide\.yaml: description: must be text, got \['a'\]$",
        ),
        ("processes: [{}]\n", r"^guide\.yaml: instance: missing"),
        ("instance: inf9.huge\nprocesses: [{}]\n", r"^guide\.yaml: instance: unknown instance"),
        (
            "instance: {cores: 0}\nprocesses: [{}]\n",
            r"^guide\.yaml: instance\.cores: must be an integer >= 1, got 0$",
        ),
        ("", r"^guide\.yaml: expected a mapping with 'instance' and 'processes', got an empty"),
        ("- a\n- b\n", r"^guide\.yaml: expected a mapping .* got a list$"),
        (
            "instance: {cores: 8}\nprocesses:\n  - loads: [{name: a}\n",
            r"^guide\.yaml: invalid YAML at line 4: ",
        ),
        ("instance: !!python/object:os.system {}\n", r"^guide\.yaml: invalid YAML at line 1: "),
    ],
)
def test_malformed_scenario(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_scenario(_write(tmp_path, text))


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"instance": "inf1.xlarge",\n "processes": [}\n', "s.json")
    with pytest.raises(ConfigError, match=r"^s\.json: invalid JSON at line 2: "):
        load_scenario(path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read scenario file: "):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r": cannot read scenario file: "):
        load_scenario(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match=r"b\.yaml: not a UTF-8 text file$"):
        load_scenario(binary)


# Errors while replaying -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        (
            GOOD_HEAD
            + "  - env: {NEURON_RT_NUM_CORES: '6'}\n  - env: {NEURON_RT_NUM_CORES: '4'}\n",
            CoresUnavailable,
            r"^guide\.yaml: processes\[1\]: NeuronCore\(s\) not available - Requested:4 "
            r"contiguous core\(s\) Available:2 \(nc6-nc7\) \(largest free run 2\)$",
        ),
        (
            GOOD_HEAD + "  - env: {NEURON_RT_VISIBLE_CORES: '3,5,6'}\n",
            ConfigError,
            r"^guide\.yaml: processes\[0\]: NEURON_RT_VISIBLE_CORES='3,5,6': Neuron cores are "
            r"not contiguous \(3 then 5\)",
        ),
        (
            GOOD_HEAD + "  - env: {NEURON_RT_NUM_CORES: 1.5}\n",
            ConfigError,
            r"^guide\.yaml: processes\[0\]: NEURON_RT_NUM_CORES='1\.5': not a whole number",
        ),
        (
            GOOD_HEAD + "  - env: {NEURONCORE_GROUP_SIZES: '2,2'}\n"
            "    loads: [{name: a, cores: 2}, {name: b, cores: 3}]\n",
            PlacementError,
            r"^guide\.yaml: processes\[0\]\.loads\[1\]: load 'b': load 1 goes to group 1 at nc2 "
            r"and needs 3 cores, past the process's last core nc3$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, context: {start_nc: 7}, cores: 2}]\n",
            PlacementError,
            r"^guide\.yaml: processes\[0\]\.loads\[0\]: load 'a': 1 copy of 2 core\(s\) from "
            r"start_nc=7 need relative cores 7-8, but the process has 0-7$",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, context: {nc_count: 0}}]\n",
            PlacementError,
            r"^guide\.yaml: processes\[0\]\.loads\[0\]: neuron_cores_context nc_count=0: invalid",
        ),
        (
            GOOD_HEAD + "  - loads: [{name: a, context: {start_nc: -3}}]\n",
            PlacementError,
            r"^guide\.yaml: processes\[0\]\.loads\[0\]: neuron_cores_context start_nc=-3: invalid",
        ),
        (
            GOOD_HEAD + "  - env: {NEURON_RT_NUM_CORES: '2'}\n"
            "    loads: [{name: a, cores: 3, context: multicore}]\n",
            PlacementError,
            r"^guide\.yaml: processes\[0\]\.loads\[0\]: load 'a': a copy needs 3 cores but the "
            r"process owns 2 \(nc0-nc1\)$",
        ),
        (
            "instance: inf2.xlarge\nprocesses:\n  - loads: [{name: a, cores: 2}]\n",
            PlacementError,
            r"^guide\.yaml: processes\[0\]\.loads\[0\]: load 'a': torch-neuronx has no "
            r"NeuronCore Pipeline",
        ),
        (
            GOOD_HEAD + "  - env: {'bad name': x}\n",
            ConfigError,
            r"^guide\.yaml: processes\[0\]: environment variable name 'bad name' is not a valid",
        ),
    ],
)
def test_replay_errors_name_the_place(
    tmp_path: Path, text: str, error: type[Exception], message: str
) -> None:
    scenario = load_scenario(_write(tmp_path, text))  # the file itself is well formed
    with pytest.raises(error, match=message):
        scenario.run()
    with pytest.raises(error, match=message):
        emulate_file("guide.yaml")


# Building scenarios in Python -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: LoadStep("m", 0), r"^cores: must be an integer >= 1, got 0$"),
        (lambda: LoadStep("m", repeat=-1), r"^repeat: must be an integer from 1 to"),
        (lambda: LoadStep("m", context="multicore"), r"^context: expected CoresContext, "),
        (lambda: CoresContext(True), r"^start_nc: must be an integer"),
        (lambda: ProcessStep(loads="m"), r"^loads: expected a list of loads, got str$"),
        (lambda: ProcessStep(loads=["m"]), r"^loads\[0\]: expected a LoadStep, got 'm'$"),
        (lambda: ProcessStep(stop=1), r"^stop: must be true or false, got 1$"),
        (lambda: Scenario("inf1.xlarge", ()), r"^instance: expected an Instance, got"),
        (lambda: Scenario(Instance(cores=4), ()), r"^processes: expected a non-empty list"),
        (lambda: Scenario(Instance(cores=4), (None,)), r"^processes\[0\]: expected a ProcessStep"),
    ],
)
def test_python_construction_is_validated(build: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()  # type: ignore[operator]


def test_scenarios_are_frozen_and_hashable() -> None:
    scenario = load_scenario(SCENARIOS / "manual-core-selection.yaml")
    with pytest.raises(AttributeError):
        scenario.framework = "torch-neuronx"  # type: ignore[misc]
    assert hash(scenario) == hash(load_scenario(SCENARIOS / "manual-core-selection.yaml"))
    with pytest.raises(TypeError):
        scenario.processes[0].env["X"] = "1"  # type: ignore[index]


def test_yaml_aliases_cannot_multiply_loads_past_the_limit(tmp_path: Path) -> None:
    loads = ", ".join("{name: m}" for _ in range(200))
    processes = "\n".join(["  - &p {loads: [" + loads + "]}"] + ["  - *p"] * 60)
    path = _write(tmp_path, "instance: {cores: 8}\nprocesses:\n" + processes + "\n")
    with pytest.raises(
        ConfigError, match=rf"^guide\.yaml: processes: 12200 loads in all .* at most {MAX_LOADS}$"
    ):
        load_scenario(path)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), value=FIELD_VALUES)
def test_any_corruption_of_a_scenario_file_runs_or_is_an_error(data, value):
    path = data.draw(st.sampled_from(sorted(SCENARIOS.iterdir())))
    tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    corrupt(data, tree, value)
    try:
        layout = Scenario.from_dict(tree, label=path.name).run()
    except ncplace.Error as error:
        assert "\n" not in str(error)
        assert str(error).startswith(f"{path.name}: ")
        return
    layout.render()
