"""Mixes: models validated on construction, mix files read with errors that point at the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from corruption import FIELD_VALUES, corrupt
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ncplace import (
    POLICIES,
    ConfigError,
    Error,
    Instance,
    Mix,
    Model,
    PlacementError,
    instance,
    score,
)
from ncplace.mix import min_chip_share

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MIX_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own folder, so that the files it writes are read by the relative
    name a user would type, and messages name them so."""
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "mix.yaml") -> Path:
    """``text`` written to ``name`` in the test's folder; the relative path to it."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    return Path(name)


def load(tmp_path: Path, text: str, name: str = "mix.yaml") -> Mix:
    return Mix.from_file(write(tmp_path, text, name))


# --- Model ------------------------------------------------------------------------------------


def test_model_defaults_and_derived_values():
    m = Model("bert", cores=4, replicas=2, rate=900.0, throughput=2000.0, memory_gib=1.2)
    assert m.demand == pytest.approx(0.45)
    assert m.width == 8
    assert m.min_replicas == 2 and m.max_replicas(16) == 2 and m.fixed_replicas
    assert m.path == "bert.pt"
    assert Model("x", file="a/b.pt").path == "a/b.pt"
    assert Model("x").demand == 1.0


def test_replicas_forms():
    auto = Model("a", cores=4, replicas="auto")
    assert (auto.min_replicas, auto.max_replicas(16), auto.fixed_replicas) == (1, 4, False)
    ranged = Model("r", cores=2, replicas=[2, 3])  # type: ignore[arg-type]
    assert ranged.replicas == (2, 3)
    assert (ranged.min_replicas, ranged.max_replicas(16), ranged.width) == (2, 3, 4)
    assert Model("w", cores=32, replicas="auto").max_replicas(16) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, r"model '': name: must be a non-empty string, got ''"),
        ({"name": "  "}, r"name: must be a non-empty string"),
        ({"name": 3}, r"name: must be a non-empty string, got 3"),
        ({"name": "m", "cores": 0}, r"model 'm': cores: must be an integer >= 1, got 0"),
        ({"name": "m", "cores": 1.5}, r"cores: must be an integer >= 1, got 1.5"),
        ({"name": "m", "cores": True}, r"cores: must be an integer >= 1, got True"),
        ({"name": "m", "replicas": 0}, r"replicas: must be an integer >= 1, 'auto'.*got 0"),
        ({"name": "m", "replicas": "many"}, r"replicas: .*got 'many'"),
        ({"name": "m", "replicas": (3, 2)}, r"replicas: .*got \(3, 2\)"),
        ({"name": "m", "replicas": (0, 2)}, r"replicas: .*got \(0, 2\)"),
        ({"name": "m", "replicas": (1, 2, 3)}, r"replicas: .*got \(1, 2, 3\)"),
        ({"name": "m", "rate": -1.0, "throughput": 1.0}, r"rate: must be a number > 0, got -1.0"),
        ({"name": "m", "rate": 1.0, "throughput": 0}, r"throughput: must be a number > 0, got 0"),
        ({"name": "m", "rate": float("nan"), "throughput": 1.0}, r"rate: must be a number > 0"),
        ({"name": "m", "rate": 5.0}, r"'m': throughput: missing while rate is given"),
        ({"name": "m", "throughput": 5.0}, r"'m': rate: missing while throughput is given"),
        ({"name": "m", "exclusive": "yes"}, r"exclusive: must be true or false, got 'yes'"),
        ({"name": "m", "memory_gib": -0.5}, r"memory_gib: must be a number >= 0, got -0.5"),
        ({"name": "m", "memory_gib": float("inf")}, r"memory_gib: must be a number >= 0"),
        ({"name": "m", "file": ""}, r"file: must be a non-empty string, got ''"),
        ({"name": "m", "start": -1}, r"start: must be an integer >= 0, got -1"),
    ],
)
def test_model_rules(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Model(**kwargs)


# --- Mix (Python) -----------------------------------------------------------------------------


def test_mix_defaults_and_lookup():
    mix = Mix([Model("a"), Model("b", cores=2)], instance="inf1.6xlarge")
    assert mix.instance.name == "inf1.6xlarge" and mix.framework == "torch-neuron"
    assert mix.names == ("a", "b") and len(mix) == 2 and mix["b"].cores == 2
    assert [m.name for m in mix] == ["a", "b"]
    with pytest.raises(KeyError):
        mix["zz"]
    assert Mix([Model("a")], instance="inf2.xlarge").framework == "torch-neuronx"


def test_with_instance_and_with_models():
    mix = Mix([Model("a")], instance("inf1.xlarge"))
    assert mix.with_instance("inf1.6xlarge").instance.cores == 16
    assert mix.with_models([Model("z")]).names == ("z",)
    forced = Mix([Model("a")], instance("inf1.xlarge"), "torch-neuronx")
    assert forced.with_instance("inf1.6xlarge").framework == "torch-neuronx"


@pytest.mark.parametrize(
    ("models", "inst", "match"),
    [
        ([], "inf1.xlarge", r"models: a mix needs at least one model"),
        (
            [Model("a"), Model("a", cores=2)],
            "inf1.xlarge",
            r"model 'a': name: duplicate model name 'a' \(first at models\[0\]\)",
        ),
        ([Model("big", cores=8)], "inf1.xlarge", r"'big': cores: a copy needs 8 cores but "),
        (
            [Model("p", cores=2)],
            "inf2.xlarge",
            r"'p': cores: torch-neuronx has no NeuronCore Pipeline.*got 2",
        ),
        (
            [Model("s", replicas=3, start=2)],
            "inf1.xlarge",
            r"'s': start: a block of 3 copies x 1 core = 3 cores from core 2 ends at core 4, "
            r"past core 3, the last of inf1.xlarge",
        ),
        (
            [Model("e", cores=2, replicas=2, exclusive=True), Model("f", cores=2, exclusive=True)],
            "inf1.xlarge",
            r"models: exclusive models need e 2x2 \+ f 2x1 = 6 cores to themselves but "
            r"inf1.xlarge has 4",
        ),
        (
            [Model("e", cores=2, exclusive=True), Model("g", cores=3)],
            "inf1.xlarge",
            r"exclusive models need e 2x1 = 2 cores to themselves, leaving 4 - 2 = 2 on "
            r"inf1.xlarge, but a copy of 'g' needs 3",
        ),
        (
            [Model("m", memory_gib=9.0)],
            "inf1.xlarge",
            r"'m': memory_gib: one copy puts at least 9 GiB on one chip, more than a chip's 8 GiB",
        ),
        (
            [Model("m", cores=8, memory_gib=40.0)],
            "inf1.6xlarge",
            r"memory_gib: one copy puts at least 4 of its 8 cores x 5 GiB = 20 GiB on one chip",
        ),
    ],
)
def test_mix_that_cannot_fit_is_reported_with_arithmetic(models, inst, match):
    with pytest.raises(ConfigError, match=match):
        Mix(models, instance(inst))


def test_total_memory_beyond_the_machine():
    models = [Model("a", memory_gib=7.5, replicas=4), Model("b", memory_gib=3.0, replicas=2)]
    with pytest.raises(
        ConfigError,
        match=r"models: need a 7.5x4 \+ b 3x2 = 36 GiB of device memory \(memory_gib x replicas\) "
        r"but inf1.6xlarge has 4 chip\(s\) x 8 GiB = 32 GiB",
    ):
        Mix(models, instance("inf1.6xlarge"))


def test_pinned_blocks_overlapping_an_exclusive_block():
    models = [Model("e", cores=2, exclusive=True, start=0), Model("f", start=1)]
    with pytest.raises(
        ConfigError,
        match=r"model 'f': start: its block nc1 overlaps the block nc0-nc1 of 'e' \(models\[0\]\), "
        r"and 'e' is exclusive",
    ):
        Mix(models, instance("inf1.xlarge"))
    # Two non-exclusive pins may share cores.
    assert Mix([Model("a", start=1), Model("b", start=1)], instance("inf1.xlarge"))


def test_mixes_at_the_limits_fit():
    inst = instance("inf1.xlarge")
    assert Mix([Model("e", cores=2, replicas=2, exclusive=True)], inst)
    assert Mix([Model("e", cores=3, exclusive=True), Model("g")], inst)
    assert Mix([Model("m", memory_gib=8.0)], inst)
    assert Mix([Model("m", memory_gib=8.0, replicas=4)], instance("inf1.6xlarge"))
    # A 2-core copy can straddle two chips: 10 GiB over 2 cores is 5 GiB on each chip.
    assert Mix([Model("m", cores=2, memory_gib=10.0)], instance("inf1.6xlarge"))
    assert Mix([Model("s", replicas=2, start=2)], inst)


@pytest.mark.parametrize(
    ("cores", "inst", "expected"),
    [
        (1, "inf1.6xlarge", 1),
        (2, "inf1.6xlarge", 1),  # nc3-nc4 straddles chips 0 and 1
        (3, "inf1.6xlarge", 2),
        (4, "inf1.6xlarge", 2),
        (5, "inf1.6xlarge", 3),
        (8, "inf1.6xlarge", 4),
        (16, "inf1.6xlarge", 4),
        (4, "inf1.xlarge", 4),  # one chip: no way to split
        (2, "inf2.24xlarge", 1),
    ],
)
def test_min_chip_share(cores, inst, expected):
    assert min_chip_share(cores, instance(inst)) == expected


# --- mix files --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", MIX_FILES, ids=lambda p: p.name)
def test_examples_load_and_have_a_feasible_layout(path):
    from ncplace import POLICIES, score

    mix = Mix.from_file(path)
    assert 4 <= len(mix) <= 12
    assert any(m.rate is not None for m in mix)
    assert score(POLICIES["greedy"](mix), mix).feasible
    assert path.read_text(encoding="utf-8").lstrip().startswith("#")


def test_the_required_examples_exist():
    names = {p.name for p in MIX_FILES}
    assert {
        "mix.yaml",
        "bert-pipeline-inf1-6xlarge.yaml",
        "vision-skewed-inf1-xlarge.yaml",
        "mixed-pipelines-inf1-24xlarge.yaml",
        "memory-tight-inf2.yaml",
    } <= names


def test_bundled_example_shape():
    mix = Mix.from_file(EXAMPLES / "mix.yaml")
    assert mix.instance.name == "inf1.6xlarge"
    assert 6 <= len(mix) <= 10
    assert {m.cores for m in mix} == {1, 2, 4}
    assert sum(m.exclusive for m in mix) == 1
    assert all(m.memory_gib for m in mix)
    demands = sorted(m.demand for m in mix)
    assert demands[-1] / demands[0] > 10  # skewed traffic


def test_yaml_file_reads_every_field(tmp_path):
    mix = load(
        tmp_path,
        """
instance: inf1.6xlarge
models:
  - name: bert
    cores: 4
    replicas: [1, 2]
    rate: 900
    throughput: 2000
    exclusive: true
    memory_gib: 1.2
    file: models/bert.pt
    start: 4
  - name: small
    replicas: auto
""",
    )
    bert = mix["bert"]
    assert bert == Model("bert", 4, (1, 2), 900, 2000, True, 1.2, "models/bert.pt", 4)
    assert mix["small"].replicas == "auto"


def test_json_file_and_custom_instance(tmp_path):
    data = {
        "instance": {"cores": 8, "cores_per_chip": 4, "chip_memory_gib": 4, "topology": "ring"},
        "framework": "torch-neuronx",
        "models": [{"name": "a", "replicas": 2}],
    }
    mix = load(tmp_path, json.dumps(data), "mix.json")
    assert mix.instance == Instance(8, 4, 4.0, topology="ring")
    assert mix.framework == "torch-neuronx"


def test_instance_override(tmp_path):
    path = write(tmp_path, "instance: inf1.xlarge\nmodels: [{name: a}]\n")
    assert Mix.from_file(path, instance_name="inf1.6xlarge").instance.cores == 16
    with pytest.raises(ConfigError, match=r"unknown instance 'inf9'; known instances: inf1.xlarge"):
        Mix.from_file(path, instance_name="inf9")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("instance: [unclosed\n", r"^mix.yaml: invalid YAML at line 2: "),
        ("instance: inf1.xlarge\nmodels:\n  - name: a\n    name: b\n", r"invalid YAML at line 4"),
        ("", r"^mix.yaml: expected a mapping with 'instance' and 'models', got an empty file$"),
        ("- a\n- b\n", r"^mix.yaml: expected a mapping .*got a list$"),
        (
            "instance: inf1.xlarge\nmodels: [{name: a}]\ncolour: red\n",
            r"^mix.yaml: unknown field\(s\) colour; accepted: instance, models, framework, lnc, "
            r"processes, workers$",
        ),
        (
            'instance: inf1.xlarge\nmodels: [{name: a}]\n"col\\nour": red\n7: x\n',
            r"^mix.yaml: unknown field\(s\) 'col\\nour', 7; accepted: instance, models, framework, "
            r"lnc, processes, workers$",
        ),
        ("models: [{name: a}]\n", r"^mix.yaml: instance: missing; give a catalogue name"),
        (
            "instance: inf9.huge\nmodels: [{name: a}]\n",
            r"^mix.yaml: instance: unknown instance 'inf9.huge'; known instances: inf1.xlarge, ",
        ),
        ("instance: 16\nmodels: [{name: a}]\n", r"^mix.yaml: instance: expected a catalogue name"),
        (
            "instance: {cores: 16, chips: 4}\nmodels: [{name: a}]\n",
            r"^mix.yaml: instance: unknown field\(s\) chips; accepted: cores, cores_per_chip",
        ),
        (
            "instance: {cores_per_chip: 4}\nmodels: [{name: a}]\n",
            r"^mix.yaml: instance.cores: missing$",
        ),
        (
            "instance: {cores: -4}\nmodels: [{name: a}]\n",
            r"^mix.yaml: instance.cores: must be an integer >= 1, got -4$",
        ),
        (
            "instance: {cores: 6}\nmodels: [{name: a}]\n",
            r"^mix.yaml: instance.cores: 6 is not a multiple of cores_per_chip=4$",
        ),
        (
            "instance: {cores: 8, chip_memory_gib: 0}\nmodels: [{name: a}]\n",
            r"^mix.yaml: instance.chip_memory_gib: must be a number > 0, got 0$",
        ),
        (
            "instance: inf1.xlarge\nframework: pytorch\nmodels: [{name: a}]\n",
            r"^mix.yaml: framework: 'pytorch' is not one of torch-neuron, torch-neuronx$",
        ),
        ("instance: inf1.xlarge\n", r"^mix.yaml: models: missing; expected a non-empty list"),
        ("instance: inf1.xlarge\nmodels: []\n", r"^mix.yaml: models: expected a non-empty list"),
        (
            "instance: inf1.xlarge\nmodels: {a: 1}\n",
            r"^mix.yaml: models: expected a non-empty list",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a}, 7]\n",
            r"^mix.yaml: models\[1\]: expected a mapping with at least 'name', got int$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, colour: red, size: 2}]\n",
            r"^mix.yaml: models\[0\]: unknown field\(s\) colour, size; accepted: name, cores, ",
        ),
        ("instance: inf1.xlarge\nmodels: [{cores: 2}]\n", r"^mix.yaml: models\[0\].name: missing$"),
        (
            "instance: inf1.xlarge\nmodels: [{name: a}, {name: b}, {name: c, cores: 0}]\n",
            r"^mix.yaml: models\[2\].cores: must be an integer >= 1, got 0$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, cores: '2'}]\n",
            r"^mix.yaml: models\[0\].cores: must be an integer >= 1, got '2'$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: 12}]\n",
            r"^mix.yaml: models\[0\].name: must be a non-empty string, got 12$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, rate: -5, throughput: 10}]\n",
            r"^mix.yaml: models\[0\].rate: must be a number > 0, got -5$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, memory_gib: -1}]\n",
            r"^mix.yaml: models\[0\].memory_gib: must be a number >= 0, got -1$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, rate: 10}]\n",
            r"^mix.yaml: models\[0\].throughput: missing while rate is given",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, exclusive: maybe}]\n",
            r"^mix.yaml: models\[0\].exclusive: must be true or false, got 'maybe'$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, replicas: 0}]\n",
            r"^mix.yaml: models\[0\].replicas: must be an integer >= 1, 'auto', or a range "
            r"\[low, high\] with 1 <= low <= high, got 0$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, replicas: [3, 1]}]\n",
            r"^mix.yaml: models\[0\].replicas: .*got \[3, 1\]$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, replicas: [2]}]\n",
            r"^mix.yaml: models\[0\].replicas: .*got \[2\]$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, replicas: Auto}]\n",
            r"^mix.yaml: models\[0\].replicas: .*got 'Auto'$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, replicas: 1.5}]\n",
            r"^mix.yaml: models\[0\].replicas: .*got 1.5$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a}, {name: b}, {name: a}]\n",
            r"^mix.yaml: models\[2\].name: duplicate model name 'a' \(first at models\[0\]\); "
            r"names must be unique$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a}, {name: big, cores: 8}]\n",
            r"^mix.yaml: models\[1\].cores: a copy needs 8 cores but inf1.xlarge has 4$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, memory_gib: 12}]\n",
            r"^mix.yaml: models\[0\].memory_gib: one copy puts at least 12 GiB on one chip, "
            r"more than a chip's 8 GiB$",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, start: 4}]\n",
            r"^mix.yaml: models\[0\].start: a block of 1 copy x 1 core = 1 cores from core 4 ends "
            r"at core 4, past core 3",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: e, cores: 4, exclusive: true}, {name: b}]\n",
            r"^mix.yaml: models: exclusive models need e 4x1 = 4 cores to themselves, leaving "
            r"4 - 4 = 0 on inf1.xlarge, but a copy of 'b' needs 1$",
        ),
        (
            "instance: inf2.xlarge\nmodels: [{name: a, cores: 2}]\n",
            r"^mix.yaml: models\[0\].cores: torch-neuronx has no NeuronCore Pipeline",
        ),
    ],
)
def test_malformed_files_point_at_the_place(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load(tmp_path, text)


def test_duplicate_yaml_key_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"invalid YAML at line 4: duplicate key 'cores'"):
        load(tmp_path, "instance: inf1.xlarge\nmodels:\n  - {name: a, cores: 1,\n     cores: 2}\n")


def test_invalid_json_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match=r"^mix.json: invalid JSON at line 1: "):
        load(tmp_path, "{'instance': 1}", "mix.json")
    with pytest.raises(ConfigError, match=r"cannot read mix file"):
        Mix.from_file(tmp_path / "absent.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"instance: inf1.xlarge\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"not a UTF-8 text file"):
        Mix.from_file(bad)


def test_from_dict_label_defaults_to_mix():
    with pytest.raises(ConfigError, match=r"^mix: models\[0\].cores: must be an integer >= 1"):
        Mix.from_dict({"instance": "inf1.xlarge", "models": [{"name": "a", "cores": 0}]})


# --- round trip -------------------------------------------------------------------------------

_instances = st.one_of(
    st.sampled_from(["inf1.6xlarge", "inf1.24xlarge", "inf2.48xlarge"]).map(instance),
    st.builds(
        Instance,
        cores=st.sampled_from([32, 64]),
        cores_per_chip=st.sampled_from([2, 4]),
        chip_memory_gib=st.sampled_from([8.0, 16.0, 12.5]),
        name=st.sampled_from(["custom", "lab-box"]),
        topology=st.sampled_from(["chain", "ring", "torus"]),
        framework=st.sampled_from(["torch-neuron", "torch-neuronx"]),
    ),
)
_replicas = st.one_of(
    st.integers(1, 3),
    st.just("auto"),
    st.tuples(st.integers(1, 2), st.integers(2, 3)),
)
_traffic = st.one_of(
    st.just((None, None)),
    st.tuples(
        st.floats(0.5, 5000, allow_nan=False, allow_infinity=False),
        st.floats(1.0, 3000, allow_nan=False, allow_infinity=False),
    ),
)


@st.composite
def mixes(draw: st.DrawFn) -> Mix:
    inst = draw(_instances)
    framework = draw(st.sampled_from([None, "torch-neuron", "torch-neuronx"]))
    neuronx = (framework or inst.framework) == "torch-neuronx"
    names = draw(
        st.lists(
            st.text(min_size=1, max_size=8).filter(str.strip), min_size=1, max_size=4, unique=True
        )
    )
    models = []
    for name in names:
        rate, throughput = draw(_traffic)
        models.append(
            Model(
                name,
                cores=1 if neuronx else draw(st.integers(1, 4)),
                replicas=draw(_replicas),
                rate=rate,
                throughput=throughput,
                exclusive=draw(st.booleans()),
                memory_gib=draw(st.one_of(st.none(), st.floats(0, 2, allow_nan=False))),
                file=draw(st.one_of(st.none(), st.text(min_size=1, max_size=10))),
                start=draw(st.one_of(st.none(), st.integers(0, 20))),
            )
        )
    try:
        return Mix(tuple(models), inst, framework)
    except ConfigError:
        assume(False)
        raise


@settings(max_examples=80, deadline=None)
@given(mixes())
def test_to_dict_round_trips_through_from_dict(mix):
    data = mix.to_dict()
    assert Mix.from_dict(data) == mix
    assert Mix.from_dict(json.loads(json.dumps(data))) == mix
    assert Mix.from_dict(yaml.safe_load(yaml.safe_dump(data))) == mix


def test_to_dict_is_minimal_for_catalogue_instances():
    mix = Mix([Model("a"), Model("b", cores=2, replicas=(1, 2), exclusive=True)], "inf1.6xlarge")
    assert mix.to_dict() == {
        "instance": "inf1.6xlarge",
        "models": [{"name": "a"}, {"name": "b", "cores": 2, "replicas": [1, 2], "exclusive": True}],
    }


# --- what the examples' comments claim ---------------------------------------------------------


def _scores(name: str):
    from ncplace import POLICIES, score

    mix = Mix.from_file(EXAMPLES / name)
    out = {}
    for policy_name, policy in POLICIES.items():
        try:
            out[policy_name] = score(policy(mix), mix)
        except PlacementError:  # a technique that cannot express the mix
            out[policy_name] = None
    return mix, out


def test_bundled_example_claims():
    mix, s = _scores("mix.yaml")
    assert sum(m.width for m in mix) == 18  # "the 18 cores the copies would like"
    assert s["default"] is not None and s["default"].peak_load == pytest.approx(1.05)
    assert s["default"].exclusive_violations == 2 and not s["default"].feasible
    assert s["greedy"] is not None and s["greedy"].feasible
    assert s["greedy"].peak_load == pytest.approx(0.75)
    assert s["group_sizes"] is None and s["processes"] is None


def test_bert_pipeline_example_claims():
    mix, s = _scores("bert-pipeline-inf1-6xlarge.yaml")
    assert mix["bert-base-16c"].demand == pytest.approx(0.6)
    assert s["greedy"] is not None and s["greedy"].peak_load == pytest.approx(0.9)
    assert s["multicore"] is not None and round(s["multicore"].peak_load, 2) == 0.67
    assert s["multicore"].overlap == 80


def test_vision_example_claims():
    mix, s = _scores("vision-skewed-inf1-xlarge.yaml")
    assert {m.cores for m in mix} == {1} and len(mix) == 8
    total = sum(m.demand for m in mix)
    assert s["multicore"] is not None and s["multicore"].peak_load == pytest.approx(total / 4)
    assert s["multicore"].overlap == 28
    assert s["default"] is not None and s["greedy"] is not None
    assert s["greedy"].peak_load < s["default"].peak_load


def test_mixed_pipelines_example_claims():
    mix, s = _scores("mixed-pipelines-inf1-24xlarge.yaml")
    assert sum(m.width for m in mix) == 73  # "the copies want 73 cores for 64"
    assert {m.cores for m in mix} == {1, 2, 4, 8}
    assert s["default"] is not None and s["default"].exclusive_violations > 0
    assert s["greedy"] is not None and s["greedy"].feasible


def test_memory_tight_example_claims():
    mix, s = _scores("memory-tight-inf2.yaml")
    assert mix.framework == "torch-neuronx"
    decoders = [m for m in mix if m.memory_gib == 15.2]
    assert sum(m.min_replicas for m in decoders) == 6  # "six copies of 7B-parameter decoders"
    assert mix.instance.chip_memory_gib - 2 * 15.2 == pytest.approx(1.6)
    assert s["round_robin"] is not None and s["round_robin"].memory_overflow_gib > 0
    assert s["greedy"] is not None and s["greedy"].feasible


def test_packaged_copy_of_the_bundled_example_matches():
    packaged = Path(__file__).resolve().parent.parent / "src" / "ncplace" / "data" / "mix.yaml"
    if not packaged.exists():
        pytest.skip("no packaged copy of examples/mix.yaml")
    assert packaged.read_text(encoding="utf-8") == (EXAMPLES / "mix.yaml").read_text("utf-8")


def test_errors_survive_pickling():
    import pickle

    with pytest.raises(ConfigError) as info:
        Model("a", cores=0)
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, ConfigError)
    assert str(copy) == "model 'a': cores: must be an integer >= 1, got 0"


MIX_FILES = sorted(EXAMPLES.glob("*.yaml"))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), value=FIELD_VALUES)
def test_any_corruption_of_a_mix_file_reads_or_is_a_config_error(data, value):
    path = data.draw(st.sampled_from(MIX_FILES))
    tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    corrupt(data, tree, value)
    try:
        mix = Mix.from_dict(tree, label=path.name)
    except ConfigError as error:
        assert "\n" not in str(error)
        assert str(error).startswith(f"{path.name}: ")
        return
    assert Mix.from_dict(json.loads(json.dumps(mix.to_dict()))) == mix
    for policy in POLICIES.values():
        try:
            layout = policy(mix)
        except Error as error:
            assert "\n" not in str(error)
            continue
        assert score(layout, mix).peak_load >= 0


def test_parallel_says_how_a_multi_core_copy_spreads_and_follows_the_framework():
    tp = Model("llama", cores=8, parallel="tensor")
    assert Mix([tp], instance="trn1.32xlarge").models[0].parallel == "tensor"
    with pytest.raises(ConfigError, match=r"'llama': cores: torch-neuronx .* tensor-parallel"):
        Mix([Model("llama", cores=8)], instance="trn1.32xlarge")
    with pytest.raises(ConfigError, match=r"'llama': parallel: 'tensor' is not available under "):
        Mix([tp], instance="inf1.6xlarge")
    with pytest.raises(ConfigError, match=r"parallel: must be 'pipeline' or 'tensor', got 'data'"):
        Model("x", parallel="data")
    assert Mix([Model("b", cores=4, parallel="pipeline")], instance="inf1.6xlarge")
    assert Model("b", parallel="tensor").to_dict() == {"name": "b", "parallel": "tensor"}
