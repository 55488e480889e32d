"""Replay: scripts run against the emulator land where the runtime would put them."""

from __future__ import annotations

import os
import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ncplace
from ncplace import (
    ConfigError,
    CoresUnavailable,
    Error,
    Instance,
    Layout,
    Mix,
    Model,
    Placement,
    PlacementError,
)
from ncplace.codegen import generate_code, generate_scripts
from ncplace.dryrun import match_model, replay, replay_file
from ncplace.layout import ProcessSpan

GUIDE = Instance(cores=8, cores_per_chip=4)
GUIDE_MIX = Mix(
    [
        Model(f"p{k}", cores=k, file=f"model-with-{k}-neuron-pipeline-cores.pt")
        for k in (1, 2, 3, 4)
    ],
    instance=GUIDE,
)


def loads(layout: Layout) -> list[tuple[str, tuple[tuple[int, ...], ...], int]]:
    return [(p.model, p.replicas, p.process) for p in layout.placements]


def procs(layout: Layout) -> list[tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]]:
    return [(p.cores, p.groups) for p in layout.processes]


# --- the guide's own snippets -----------------------------------------------------------------

DEFAULT = """
import torch
import torch_neuron

m0 = torch.jit.load('model-with-1-neuron-pipeline-cores.pt')  # Loads to nc0
m1 = torch.jit.load('model-with-1-neuron-pipeline-cores.pt')  # Loads to nc1
"""

OVERLAPPING = """
import torch
import torch_neuron

m0 = torch.jit.load('model-with-1-neuron-pipeline-cores.pt')  # Loads to nc0
m1 = torch.jit.load('model-with-2-neuron-pipeline-cores.pt')  # Loads to nc0-nc1
m2 = torch.jit.load('model-with-1-neuron-pipeline-cores.pt')  # Loads to nc1
"""

MULTIPLE_GROUPS = """
import torch
import torch_neuron

m0 = torch.jit.load('model-with-3-neuron-pipeline-cores.pt')  # Loads to nc0-nc2
m1 = torch.jit.load('model-with-4-neuron-pipeline-cores.pt')  # Loads to nc3-nc6
m2 = torch.jit.load('model-with-1-neuron-pipeline-cores.pt')  # Loads to nc7
"""

GROUPS_OVERLAP = """
import torch
import torch_neuron

m0 = torch.jit.load('model-with-2-neuron-pipeline-cores.pt')  # Loads to nc0-nc1
m1 = torch.jit.load('model-with-2-neuron-pipeline-cores.pt')  # Loads to nc2-nc3
m2 = torch.jit.load('model-with-1-neuron-pipeline-cores.pt')  # Loads to nc0
m3 = torch.jit.load('model-with-1-neuron-pipeline-cores.pt')  # Loads to nc2
m4 = torch.jit.load('model-with-1-neuron-pipeline-cores.pt')  # Loads to nc0
"""

INCOMPATIBLE = """
import torch
import torch_neuron

m0 = torch.jit.load('model-with-2-neuron-pipeline-cores.pt')  # Loads to nc0-nc1
m1 = torch.jit.load('model-with-2-neuron-pipeline-cores.pt')  # Loads to nc2-nc3
m2 = torch.jit.load('model-with-3-neuron-pipeline-cores.pt')  # Loads to nc0-nc2
"""

COPIES_LOOP = """
import torch
import torch_neuron

models = list()
for _ in range(4):
    model = torch.jit.load('model-with-2-neuron-pipeline-cores.pt')
    models.append(model)
"""

MANUAL = """
import torch
import torch_neuron

# NOTE: Order of loads does NOT matter

with torch_neuron.experimental.neuron_cores_context(2):
    m1 = torch.jit.load('model-with-2-neuron-pipeline-cores.pt')  # Loads to nc2-nc3

with torch_neuron.experimental.neuron_cores_context(0):
    m2 = torch.jit.load('model-with-3-neuron-pipeline-cores.pt')  # Loads to nc0-nc2

with torch_neuron.experimental.neuron_cores_context(0):
    m0 = torch.jit.load('model-with-2-neuron-pipeline-cores.pt')  # Loads to nc0-nc1

with torch_neuron.experimental.neuron_cores_context(3):
    m3 = torch.jit.load('model-with-1-neuron-pipeline-cores.pt')  # Loads to nc3
"""

MULTICORE = """
import torch
import torch_neuron

with torch_neuron.experimental.multicore_context():
    m0 = torch.jit.load('model-with-1-neuron-pipeline-cores.pt')  # Loads replications to nc0-nc7
"""

REPLICATION = """
import torch
import torch_neuron

with torch_neuron.experimental.neuron_cores_context(start_nc=2, nc_count=4):
    m0 = torch.jit.load('model-with-2-neuron-pipeline-cores.pt')  # Loads replications to nc2-nc5
"""

ALL = tuple(range(8))


@pytest.mark.parametrize(
    ("code", "env", "processes", "expected"),
    [
        (DEFAULT, {}, [(ALL, ())], [("p1", ((0,),), 0), ("p1", ((1,),), 0)]),
        (
            DEFAULT,
            {"NEURON_RT_NUM_CORES": "2"},
            [((0, 1), ())],
            [("p1", ((0,),), 0), ("p1", ((1,),), 0)],
        ),
        (
            DEFAULT,
            {"NEURON_RT_VISIBLE_CORES": "4-5"},
            [((4, 5), ())],
            [("p1", ((4,),), 0), ("p1", ((5,),), 0)],
        ),
        (
            OVERLAPPING,
            {"NEURON_RT_VISIBLE_CORES": "0-1"},
            [((0, 1), ())],
            [("p1", ((0,),), 0), ("p2", ((0, 1),), 0), ("p1", ((1,),), 0)],
        ),
        (
            MULTIPLE_GROUPS,
            {"NEURONCORE_GROUP_SIZES": "3,4,1"},
            [(ALL, ((0, 1, 2), (3, 4, 5, 6), (7,)))],
            [("p3", ((0, 1, 2),), 0), ("p4", ((3, 4, 5, 6),), 0), ("p1", ((7,),), 0)],
        ),
        (
            GROUPS_OVERLAP,
            {"NEURONCORE_GROUP_SIZES": "2,2"},
            [((0, 1, 2, 3), ((0, 1), (2, 3)))],
            [
                ("p2", ((0, 1),), 0),
                ("p2", ((2, 3),), 0),
                ("p1", ((0,),), 0),
                ("p1", ((2,),), 0),
                ("p1", ((0,),), 0),
            ],
        ),
        (
            INCOMPATIBLE,
            {"NEURONCORE_GROUP_SIZES": "2,2"},
            [((0, 1, 2, 3), ((0, 1), (2, 3)))],
            [("p2", ((0, 1),), 0), ("p2", ((2, 3),), 0), ("p3", ((0, 1, 2),), 0)],
        ),
        (
            COPIES_LOOP,
            {"NEURONCORE_GROUP_SIZES": "2,2,2,2"},
            [(ALL, ((0, 1), (2, 3), (4, 5), (6, 7)))],
            [("p2", ((2 * i, 2 * i + 1),), 0) for i in range(4)],
        ),
        (
            MANUAL,
            {"NEURON_RT_NUM_CORES": "4"},
            [((0, 1, 2, 3), ())],
            [
                ("p2", ((2, 3),), 0),
                ("p3", ((0, 1, 2),), 0),
                ("p2", ((0, 1),), 0),
                ("p1", ((3,),), 0),
            ],
        ),
        (
            MULTICORE,
            {"NEURON_RT_NUM_CORES": "8"},
            [(ALL, ())],
            [("p1", tuple((c,) for c in ALL), 0)],
        ),
        (
            REPLICATION,
            {"NEURON_RT_NUM_CORES": "8"},
            [(ALL, ())],
            [("p2", ((2, 3), (4, 5)), 0)],
        ),
    ],
    ids=[
        "default",
        "num-cores",
        "visible-cores",
        "overlapping-models",
        "multiple-groups",
        "groups-overlap-issue",
        "incompatible-sizes",
        "multiple-copies-loop",
        "manual-core-selection",
        "automatic-multicore",
        "explicit-replication",
    ],
)
def test_guide_snippets_replay_to_the_guide_layouts(code, env, processes, expected):
    layout = replay(code, GUIDE_MIX, env=env)
    assert procs(layout) == processes
    assert loads(layout) == expected


def test_the_guide_multiple_processes_example_is_the_script_run_twice():
    layout = replay([DEFAULT, DEFAULT], GUIDE_MIX, env={"NEURON_RT_NUM_CORES": "2"})
    assert procs(layout) == [((0, 1), ()), ((2, 3), ())]
    assert loads(layout) == [
        ("p1", ((0,),), 0),
        ("p1", ((1,),), 0),
        ("p1", ((2,),), 1),
        ("p1", ((3,),), 1),
    ]


# --- the script's environment -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "env", "cores"),
    [
        ("os.environ['NEURON_RT_VISIBLE_CORES'] = '4-5'", {}, (4, 5)),
        ("os.environ.update({'NEURON_RT_NUM_CORES': '3'})", {}, (0, 1, 2)),
        ("os.environ.update(NEURON_RT_VISIBLE_CORES='6')", {}, (6,)),
        ("os.environ.setdefault('NEURON_RT_NUM_CORES', '2')", {}, (0, 1)),
        (
            "os.environ.setdefault('NEURON_RT_NUM_CORES', '2')",
            {"NEURON_RT_NUM_CORES": "3"},
            (0, 1, 2),
        ),
        ("os.putenv('NEURON_RT_VISIBLE_CORES', '6-7')", {}, (6, 7)),
        ("del os.environ['NEURON_RT_NUM_CORES']", {"NEURON_RT_NUM_CORES": "3"}, ALL),
        ("os.unsetenv('NEURON_RT_NUM_CORES')", {"NEURON_RT_NUM_CORES": "3"}, ALL),
        ("from os import environ; environ['NEURON_RT_VISIBLE_CORES'] = '1-2'", {}, (1, 2)),
        ("import os.path; os.environ['NEURON_RT_VISIBLE_CORES'] = '3'", {}, (3,)),
        ("assert os.getenv('NEURON_RT_NUM_CORES') == '3'", {"NEURON_RT_NUM_CORES": "3"}, (0, 1, 2)),
        ("", {"NEURON_RT_VISIBLE_CORES": "2-4", "NEURON_RT_NUM_CORES": "1"}, (2, 3, 4)),
    ],
)
def test_the_script_environment_is_honoured(setup, env, cores):
    code = f"import os\n{setup}\nimport torch\nm = torch.jit.load('p1')\n"
    layout = replay(code, GUIDE_MIX, env=env)
    assert layout.processes[0].cores == cores


def test_only_placement_variables_reach_the_process_and_later_changes_are_too_late():
    code = (
        "import os\nimport torch\n"
        "os.environ['NEURON_RT_VISIBLE_CORES'] = '2'\n"
        "a = torch.jit.load('p1')\n"
        "os.environ['NEURON_RT_VISIBLE_CORES'] = '5'\n"
        "b = torch.jit.load('p1')\n"
    )
    layout = replay(code, GUIDE_MIX, env={"OTHER": "x"})
    assert dict(layout.processes[0].env) == {"NEURON_RT_VISIBLE_CORES": "2"}
    assert loads(layout) == [("p1", ((2,),), 0), ("p1", ((2,),), 0)]


def test_the_shell_placement_variables_do_not_leak_into_a_replay(monkeypatch):
    monkeypatch.setenv("NEURON_RT_VISIBLE_CORES", "7")
    monkeypatch.setenv("NCPLACE_TEST_VISIBLE", "yes")
    code = "import os\nassert os.environ['NCPLACE_TEST_VISIBLE'] == 'yes'\nimport torch\n"
    code += "m = torch.jit.load('p1')\n"
    assert replay(code, GUIDE_MIX).processes[0].cores == ALL
    assert os.environ["NEURON_RT_VISIBLE_CORES"] == "7"


def test_real_modules_environment_and_argv_are_restored_even_when_the_script_raises():
    import collections

    modules = dict(sys.modules)
    environ = dict(os.environ)
    argv = list(sys.argv)
    code = """
import os, sys
import torch, torch_neuron, torch_neuronx
import torch_neuron.experimental
os.environ['NEURON_RT_VISIBLE_CORES'] = '0'
sys.modules['os'].environ['NCPLACE_TEST_LEAK'] = '1'
sys.modules['torch'] = torch
sys.modules['torch_neuron.experimental'] = torch
sys.modules['collections'] = None
sys.argv.append('--extra')
assert sys.argv[0] == '<replay>'
m = torch.jit.load('p1')
raise RuntimeError('boom')
"""
    with pytest.raises(Error, match=r"<replay>, line 13: the script raised RuntimeError: boom"):
        replay(code, GUIDE_MIX)
    assert not [name for name in sys.modules if name.partition(".")[0].startswith("torch")]
    assert all(sys.modules.get(name) is module for name, module in modules.items())
    assert sys.modules["collections"] is collections
    assert dict(os.environ) == environ
    assert sys.argv == argv


def test_environment_values_must_be_strings():
    with pytest.raises(Error, match="TypeError: str expected, not int"):
        replay("import os\nos.environ['NEURON_RT_NUM_CORES'] = 2\n", GUIDE_MIX)
    with pytest.raises(ConfigError, match="replay env: 'X'=1: names and values must be strings"):
        replay("", GUIDE_MIX, env={"X": 1})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="expected a mapping"):
        replay("", GUIDE_MIX, env=["X=1"])  # type: ignore[arg-type]


# --- matching paths to models -----------------------------------------------------------------


def test_paths_match_by_file_then_name_then_name_dot_pt_then_file_basename():
    mix = Mix(
        [
            Model("bert", file="models/bert-pipe4.pt", cores=4),
            Model("resnet"),
            Model("models/bert-pipe4.pt"),
            Model("vit", file="/opt/vit.pt"),
        ],
        instance=GUIDE,
    )
    assert match_model("models/bert-pipe4.pt", mix).name == "bert"
    assert match_model("./models/x/../bert-pipe4.pt", mix).name == "bert"
    assert match_model("resnet", mix).name == "resnet"
    assert match_model("resnet.pt", mix).name == "resnet"
    assert match_model("/srv/weights/resnet.pt", mix).name == "resnet"
    assert match_model("/srv/elsewhere/vit.pt", mix).name == "vit"
    with pytest.raises(
        Error,
        match=r"torch.jit.load\('nope.pt'\): no model of the mix has this file, name or "
        r"'<name>.pt'; the mix loads 'models/bert-pipe4.pt', 'resnet.pt', "
        r"'models/bert-pipe4.pt.pt', '/opt/vit.pt'",
    ):
        match_model("nope.pt", mix)


def test_an_unknown_path_in_a_script_names_the_path_and_line():
    with pytest.raises(
        Error, match=r"^<replay>, line 3: torch.jit.load\('missing\\n.pt'\): no model"
    ):
        replay("import torch\n\nm = torch.jit.load('missing\\n.pt')\n", GUIDE_MIX)


def test_models_sharing_a_file_take_loads_in_turn():
    mix = Mix([Model("a", file="same.pt"), Model("b", file="same.pt")], instance=GUIDE)
    code = "import torch\n" + "".join(f"m{i} = torch.jit.load('same.pt')\n" for i in range(3))
    assert [p.model for p in replay(code, mix).placements] == ["a", "b", "a"]


# --- moving models ----------------------------------------------------------------------------


def test_set_neuron_cores_and_set_multicore_move_a_loaded_model():
    code = """
import torch
import torch_neuron
from torch_neuron.experimental import set_multicore, set_neuron_cores

a = torch.jit.load('p1')
b = torch.jit.load('p2')
torch_neuron.experimental.set_neuron_cores(a, start_nc=4, nc_count=2)
set_multicore(b)
c = torch.jit.load('p1')
assert a.replicas == ((4,), (5,)), a
"""
    layout = replay(code, GUIDE_MIX, env={"NEURON_RT_NUM_CORES": "6"})
    assert sorted(loads(layout)) == [
        ("p1", ((0,),), 0),
        ("p1", ((4,), (5,)), 0),
        ("p2", ((0, 1), (2, 3), (4, 5)), 0),
    ]


def test_torch_neuronx_has_the_four_calls_at_top_level_and_round_robin_default():
    code = """
import torch
import torch_neuronx

with torch_neuronx.neuron_cores_context(start_nc=0, nc_count=1):
    a = torch.jit.load('p1')
b = torch.jit.load('p1')
c = torch.jit.load('p1')
torch_neuronx.set_neuron_cores(c, 2)
with torch_neuronx.multicore_context():
    d = torch.jit.load('p1')
torch_neuronx.set_multicore(a)
"""
    layout = replay(code, GUIDE_MIX, env={"NEURON_RT_NUM_CORES": "3"})
    assert sorted(loads(layout)) == [
        ("p1", ((0,),), 0),
        ("p1", ((0,), (1,), (2,)), 0),
        ("p1", ((0,), (1,), (2,)), 0),
        ("p1", ((2,),), 0),
    ]
    same_under_torch_neuron = code.replace("torch_neuronx", "torch_neuron.experimental")
    same_under_torch_neuron = same_under_torch_neuron.replace(
        "import torch_neuron.experimental", "import torch_neuron"
    )
    layout = replay(same_under_torch_neuron, GUIDE_MIX, env={"NEURON_RT_NUM_CORES": "3"})
    assert ("p1", ((1,),), 0) in loads(layout)


def test_framework_follows_the_import_unless_given():
    code = "import torch\nimport torch_neuronx\nm = torch.jit.load('p2')\n"
    with pytest.raises(PlacementError, match="line 3: load 'p2': torch-neuronx has no NeuronCore"):
        replay(code, GUIDE_MIX)
    assert loads(replay(code, GUIDE_MIX, framework="torch-neuron")) == [("p2", ((0, 1),), 0)]
    with pytest.raises(ConfigError, match="framework 'tf' is not one of"):
        replay(code, GUIDE_MIX, framework="tf")


# --- errors keep their class and gain the place -----------------------------------------------


def test_runtime_errors_keep_their_class_and_gain_the_line():
    script = "import os\nos.environ['NEURON_RT_VISIBLE_CORES'] = '0-1'\nimport torch\n"
    script += "m = torch.jit.load('p1')\n"
    with pytest.raises(
        CoresUnavailable, match=r"^<replay>\[1\], line 4: NeuronCore\(s\) not available"
    ):
        replay([script, script], GUIDE_MIX)
    bad = "import torch_neuron\nwith torch_neuron.experimental.neuron_cores_context(nc_count=0):\n"
    bad += "    pass\n"
    with pytest.raises(PlacementError, match=r"^<replay>, line 2: neuron_cores_context nc_count=0"):
        replay(bad, GUIDE_MIX)
    caught = "import torch_neuron\ntry:\n    with torch_neuron.experimental.neuron_cores_context"
    caught += "(nc_count=0):\n        pass\nexcept ValueError:\n    pass\n"
    assert replay(caught, GUIDE_MIX).processes[0].cores == ALL


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def f(:\n", r"^<replay>, line 1: invalid Python: "),
        ("import sys\nsys.exit(3)\n", r"^<replay>: the script exited with status 3$"),
        ("import os\nos._exit(4)\n", r"^<replay>: the script exited with status 4$"),
        (
            "raise KeyboardInterrupt\n",
            r"^<replay>, line 1: the script raised KeyboardInterrupt$",
        ),
        (
            "import io, torch\ntorch.jit.load(io.BytesIO())\n",
            r"line 2: torch.jit.load: replay needs a file path",
        ),
        (
            "import torch_neuron as t\nt.experimental.set_multicore(3)\n",
            r"set_multicore: expected a model",
        ),
    ],
)
def test_script_errors_are_one_clear_line(code, message):
    with pytest.raises(Error, match=message) as info:
        replay(code, GUIDE_MIX)
    assert "\n" not in str(info.value)


def test_a_clean_exit_or_a_script_without_loads_is_fine():
    assert replay("import sys\nsys.exit(0)\n", GUIDE_MIX).processes == ()
    script = "import torch\nif __name__ == '__main__':\n    m = torch.jit.load('p4')\n"
    assert loads(replay(script, GUIDE_MIX)) == [("p4", ((0, 1, 2, 3),), 0)]


def test_replay_file_names_the_file(tmp_path):
    path = tmp_path / "serve.py"
    path.write_text("import torch\nm = torch.jit.load('p3')\nm = torch.jit.load('nope')\n")
    with pytest.raises(Error, match=rf"^{path}, line 3: torch.jit.load\('nope'\)"):
        replay_file(path, GUIDE_MIX)
    path.write_text("import torch\nm = torch.jit.load('p3')\n")
    assert loads(replay_file(path, GUIDE_MIX)) == [("p3", ((0, 1, 2),), 0)]
    with pytest.raises(ConfigError, match=r"missing\.py: cannot read script"):
        replay_file(tmp_path / "missing.py", GUIDE_MIX)
    path.write_bytes(
        b"# -*- coding: latin-1 -*-\nimport torch\nm = torch.jit.load('p1')  # caf\xe9\n"
    )
    assert loads(replay_file(path, GUIDE_MIX)) == [("p1", ((0,),), 0)]
    path.write_bytes(b"import torch\nm = torch.jit.load('p1')  # caf\xe9\n")
    with pytest.raises(ConfigError, match=r"serve\.py: cannot decode the script: 'utf-8' codec"):
        replay_file(path, GUIDE_MIX)
    assert ncplace.replay_file is replay_file and ncplace.replay is replay


# --- round trip: generated code replays to its layout -----------------------------------------


def random_block_layout(rng: random.Random, framework: str) -> tuple[Mix, Layout]:
    """A single-process layout of explicit blocks, with overlaps, split loads and shared files.

    Models sharing a file have the same pipeline size, as one compiled file has one.
    """
    per_chip = rng.choice([1, 2, 4])
    inst = Instance(cores=per_chip * rng.randint(1, 4), cores_per_chip=per_chip)
    first = rng.randrange(inst.cores)
    last = rng.randrange(first, inst.cores)
    span = range(first, last + 1)
    models, placements = [], []
    for i in range(rng.randint(1, 6)):
        k = 1 if framework == "torch-neuronx" else rng.randint(1, min(3, len(span)))
        path = rng.choice([None, f"m{i}.pt", f"shared-{k}-cores.pt", f"dir/{i}/model.pt"])
        models.append(Model(f"model {i}", cores=k, file=path))
        for _ in range(rng.choice([1, 1, 1, 2])):
            copies = rng.randint(1, len(span) // k)
            start = rng.randint(first, last + 1 - copies * k)
            blocks = [tuple(range(start + j * k, start + (j + 1) * k)) for j in range(copies)]
            placements.append(Placement(f"model {i}", blocks))
    rng.shuffle(placements)
    visible = {"NEURON_RT_VISIBLE_CORES": f"{first}-{last}"}
    layout = Layout.single_process(inst, placements, span, visible)
    return Mix(models, instance=inst, framework=framework), layout


def balanced_shared_files(mix: Mix, layout: Layout) -> bool:
    """Replay tells models sharing a file apart when each has as many loads as the others."""
    by_path: dict[str, set[int]] = {}
    for m in mix.models:
        by_path.setdefault(m.path, set()).add(len(layout.placements_of(m.name)))
    return all(len(counts) == 1 for counts in by_path.values())


@settings(max_examples=150, deadline=None)
@given(st.randoms(use_true_random=False), st.sampled_from(["torch-neuron", "torch-neuronx"]))
def test_generated_code_replays_to_exactly_its_layout(rng, framework):
    mix, layout = random_block_layout(rng, framework)
    code = generate_code(layout, mix)
    compile(code, "<generated>", "exec")
    replayed = replay(code, mix)
    if balanced_shared_files(mix, layout):
        assert replayed.canonical() == layout.canonical()
    else:
        assert sorted(replayed.copies_per_core()) == sorted(layout.copies_per_core())


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_generated_scripts_replay_to_a_multi_process_layout(rng):
    inst = Instance(cores=8, cores_per_chip=4)
    cuts = sorted(rng.sample(range(1, 8), rng.randint(1, 3)))
    bounds = list(zip([0, *cuts], [*cuts, 8], strict=True))
    models, placements, spans = [], [], []
    for proc, (a, b) in enumerate(bounds):
        spans.append(ProcessSpan(range(a, b)))
        name = f"m{proc}"
        models.append(Model(name, cores=1))
        start = rng.randrange(a, b)
        copies = rng.randint(1, b - start)
        placements.append(Placement(name, [(start + j,) for j in range(copies)], proc))
    mix = Mix(models, instance=inst)
    layout = Layout(inst, tuple(spans), tuple(placements))
    assert replay(generate_scripts(layout, mix), mix).canonical() == layout.canonical()
