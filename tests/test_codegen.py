"""Placement code generation: identifiers, block checks, hostile names, golden scripts."""

from __future__ import annotations

import ast
import builtins
import keyword
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncplace import Instance, Layout, Mix, Model, Placement, PlacementError, instance
from ncplace.codegen import (
    RESERVED_NAMES,
    comment_text,
    generate_code,
    generate_scripts,
    identifier,
    plan_code,
    plan_header,
)
from ncplace.dryrun import replay
from ncplace.errors import ConfigError
from ncplace.layout import ProcessSpan

GOLDEN = Path(__file__).parent / "golden"


def one_process(inst: Instance, cores: range, *placements: Placement) -> Layout:
    visible = f"{cores[0]}-{cores[-1]}" if len(cores) > 1 else str(cores[0])
    return Layout.single_process(inst, placements, cores, {"NEURON_RT_VISIBLE_CORES": visible})


# --- identifiers and comments -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bert", "bert"),
        ("BERT-base", "bert_base"),
        ("resnet50", "resnet50"),
        ("3d-unet", "model_3d_unet"),
        ("résumé", "resume"),
        ("模型", "model"),
        ("list", "list_model"),
        ("os", "os_model"),
        ("torch", "torch_model"),
        ("torch_neuronx", "torch_neuronx_model"),
        ("class", "class_model"),
        ("match", "match_model"),
        ("type", "type_model"),
        ("_", "model"),
        ("__import__", "import_model"),
        ("__import__('os').system('x')", "import_os_system_x"),
        ("a" * 60, "a" * 40),
    ],
)
def test_identifier_is_readable_and_safe(name, expected):
    assert identifier(name) == expected


def test_identifier_avoids_taken_names():
    assert identifier("bert", {"bert"}) == "bert_2"
    assert identifier("bert", {"bert", "bert_2"}) == "bert_3"
    assert identifier("import", set()) == "import_model"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=8))
def test_identifiers_are_valid_unique_and_never_reserved(names):
    taken: set[str] = set()
    for name in names:
        ident = identifier(name, taken)
        assert ident.isidentifier() and ident.isascii()
        assert not keyword.iskeyword(ident) and not keyword.issoftkeyword(ident)
        assert ident not in dir(builtins) and ident not in RESERVED_NAMES
        assert ident not in taken and not ident.startswith("_")
        taken.add(ident)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("a\nb", "a?b"),
        ("a\r\nb\x0cc\u2028d\x85e\tf", "a??b?c?d?e?f"),
        ("rtl\u202eevil", "rtl?evil"),
        ("模型 ok", "模型 ok"),
        ("x" * 100, "x" * 77 + "..."),
    ],
)
def test_comment_text_is_one_printable_line(text, expected):
    assert comment_text(text) == expected


# --- what the code says -----------------------------------------------------------------------

INF8 = Instance(cores=8, cores_per_chip=4)


def small_mix() -> Mix:
    return Mix(
        [
            Model("bert", cores=4, rate=900.0, throughput=2000.0, file="models/bert.pt"),
            Model("resnet", cores=1, replicas=3),
            Model("list", cores=1),
        ],
        instance=INF8,
    )


def small_layout() -> Layout:
    return one_process(
        INF8,
        range(8),
        Placement("bert", [(0, 1, 2, 3)]),
        Placement("resnet", [(4,), (5,), (6,)]),
        Placement("list", [(7,)]),
    )


def test_code_sets_visible_cores_before_importing_the_framework():
    code = generate_code(small_layout(), small_mix())
    lines = code.splitlines()
    env_line = lines.index("os.environ['NEURON_RT_VISIBLE_CORES'] = '0-7'")
    assert env_line < lines.index("import torch  # noqa: E402")
    assert env_line < lines.index("import torch_neuron  # noqa: E402")
    assert lines.index("import os") < env_line


def test_code_loads_each_model_in_its_block_with_a_comment():
    code = generate_code(small_layout(), small_mix())
    assert (
        "# bert: nc0-nc3, 1 copy of 4 cores\n"
        "with torch_neuron.experimental.neuron_cores_context(start_nc=0, nc_count=4):\n"
        "    bert = torch.jit.load('models/bert.pt')\n"
    ) in code
    assert (
        "# resnet: nc4-nc6, 3 copies of 1 core (nc4, nc5, nc6)\n"
        "# Call resnet from 3 threads at once to use all its copies.\n"
        "with torch_neuron.experimental.neuron_cores_context(start_nc=4, nc_count=3):\n"
        "    resnet = torch.jit.load('resnet.pt')\n"
    ) in code
    assert "    list_model = torch.jit.load('list.pt')\n" in code


def test_header_shows_grid_score_and_extra_lines():
    code = generate_code(small_layout(), small_mix(), header="Plan: status optimal\nsecond")
    header = code.split("import os")[0]
    for row in small_layout().render().splitlines():
        assert f"#   {row}".rstrip() in header
    assert "# Score: peak core load 1 (headroom 1x), overlap 0, at most 1 copy per core," in header
    assert "#   0 idle core(s), 0 chip crossing(s), 3 handle(s), feasible: yes." in header
    assert "# Plan: status optimal\n# second\n" in header
    assert all(line.startswith("#") or not line for line in header.splitlines())


def test_the_grid_of_a_layout_past_500_models_is_one_line():
    """Past 500 models the header says the grid is not drawn (a grid and its legend of
    thousands of lines is no help in a comment, and drawing 10,000 models took 0.7 s)."""
    inst = Instance(cores=64, cores_per_chip=4, chip_memory_gib=32)
    models = [Model(f"m{i}", rate=0.01, throughput=100) for i in range(501)]
    placements = [Placement(m.name, [(i % 64,)]) for i, m in enumerate(models)]
    layout = one_process(inst, range(64), *placements)
    header = generate_code(layout, Mix(models, instance=inst)).split("import os")[0]
    assert "#   (not drawn for 501 models, over 500: Layout.render() draws it)\n" in header
    assert "m500 = " not in header
    fewer = one_process(inst, range(64), *placements[:500])
    drawn = generate_code(fewer, Mix(models[:500], instance=inst)).split("import os")[0]
    assert "not drawn" not in drawn and "#   m0 = m0" in drawn


def test_start_nc_is_relative_to_the_visible_cores_for_torch_neuronx():
    inst = instance("inf2.24xlarge")
    mix = Mix([Model("a"), Model("b", replicas=2)], instance=inst)
    layout = one_process(inst, range(6, 10), Placement("a", [(9,)]), Placement("b", [(6,), (7,)]))
    code = generate_code(layout, mix)
    assert "os.environ['NEURON_RT_VISIBLE_CORES'] = '6-9'" in code
    assert "import torch_neuronx  # noqa: E402" in code
    assert "torch_neuron.experimental" not in code
    assert "with torch_neuronx.neuron_cores_context(start_nc=3, nc_count=1):\n    a = " in code
    assert "with torch_neuronx.neuron_cores_context(start_nc=0, nc_count=2):\n    b = " in code


def test_a_model_loaded_twice_gets_two_handles_and_a_routing_note():
    mix = Mix([Model("m", cores=2, replicas=2)], instance=INF8)
    layout = one_process(INF8, range(8), Placement("m", [(0, 1)]), Placement("m", [(4, 5)]))
    code = generate_code(layout, mix)
    assert "# m has 2 handles (m, m_2): the application routes requests across them." in code
    assert "    m = torch.jit.load('m.pt')" in code and "    m_2 = torch.jit.load('m.pt')" in code
    assert replay(code, mix).canonical() == layout.canonical()


def test_framework_defaults_to_the_mix_and_can_be_chosen():
    mix = Mix([Model("a")], instance=INF8)
    layout = one_process(INF8, range(2), Placement("a", [(1,)]))
    assert "import torch_neuron " in generate_code(layout, mix)
    neuronx = generate_code(layout, mix, framework="torch-neuronx")
    assert "torch_neuronx.neuron_cores_context(start_nc=1, nc_count=1)" in neuronx
    with pytest.raises(ConfigError, match="framework 'jax' is not one of"):
        generate_code(layout, mix, framework="jax")


# --- what cannot be written -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        (Placement("m", [(0, 1), (3, 4)]), r"copy 1 uses cores \[3, 4\], expected \[2, 3\]"),
        (Placement("m", [(0,)]), r"copy 0 uses cores \[0\], expected \[0, 1\]"),
        (Placement("m", [(1, 0)]), r"copy 0 uses cores \[1, 0\], expected \[1, 2\]"),
        (Placement("m", [(4, 5)]), r"uses core\(s\) \[4, 5\] outside its process's cores nc0-nc3"),
        (Placement("m", []), "has no copies"),
    ],
)
def test_only_explicit_blocks_inside_the_process_are_codeable(placement, message):
    mix = Mix([Model("m", cores=2)], instance=INF8)
    with pytest.raises(PlacementError, match=message):
        generate_code(one_process(INF8, range(4), placement), mix)


def test_unknown_models_pipelines_on_neuronx_and_several_processes_are_refused():
    mix = Mix([Model("m", cores=2)], instance=INF8)
    with pytest.raises(PlacementError, match="model\\(s\\) 'x\\?y' that the mix does not define"):
        generate_code(one_process(INF8, range(8), Placement("x\ny", [(0,)])), mix)
    with pytest.raises(PlacementError, match="torch-neuronx has no NeuronCore Pipeline"):
        generate_code(one_process(INF8, range(8), Placement("m", [(0, 1)])), mix, "torch-neuronx")
    two = Layout(
        INF8,
        (ProcessSpan(range(4)), ProcessSpan(range(4, 8))),
        (Placement("m", [(0, 1)], 0),),
    )
    with pytest.raises(PlacementError, match=r"has 2 processes; .* use generate_scripts"):
        generate_code(two, mix)
    with pytest.raises(PlacementError, match="no process"):
        generate_scripts(Layout(INF8, (), ()), mix)
    gap = Layout(INF8, (ProcessSpan((0, 2)),), (Placement("m", [(0, 1)]),))
    with pytest.raises(PlacementError, match="needs a non-empty contiguous run"):
        generate_code(gap, mix)


def test_one_script_per_process_replays_to_the_layout():
    mix = Mix([Model("a", cores=2), Model("b", replicas=2), Model("c")], instance=INF8)
    layout = Layout(
        INF8,
        (ProcessSpan(range(0, 4)), ProcessSpan(range(4, 6)), ProcessSpan(range(6, 8))),
        (
            Placement("a", [(2, 3)], 0),
            Placement("b", [(4,), (5,)], 1),
            Placement("c", [(6,)], 2),
        ),
    )
    scripts = generate_scripts(layout, mix)
    assert len(scripts) == 3
    assert "# Process 2 of 3 (run each script as its own process): it owns nc4-nc5." in scripts[1]
    assert "os.environ['NEURON_RT_VISIBLE_CORES'] = '6-7'" in scripts[2]
    assert replay(scripts, mix).canonical() == layout.canonical()


# --- hostile names and paths ------------------------------------------------------------------

HOSTILE_NAMES = [
    "__import__('builtins').__setattr__('PWNED', 1)",
    "# -*- coding: utf-7 -*-",
    "a'b\"c",
    "'''",
    '"""\nimport builtins; builtins.PWNED = 1\n"""',
    "x\nimport builtins; builtins.PWNED = 1",
    "x\r# coding: latin-1\rbuiltins.PWNED = 1",
    "back\\slash\\",
    "résumé 模型 \u2028 next",
    "with spaces and\ttabs",
    "list",
    "os",
    "torch",
]
HOSTILE_PATHS = [
    "x.pt'); __import__('builtins').__setattr__('PWNED', 1); ('",
    "+AAo-import builtins+AAo-builtins.PWNED = 1+AAo-.pt",
    'models/"quoted".pt',
    "'''.pt",
    '"""\n__import__("builtins").PWNED = 1\n""".pt',
    "line\nbreak.pt",
    "C:\\models\\new\\table.pt",
    "模型/résumé.pt",
    "with space.pt",
    "\u2028\u2029\x85.pt",
    "tab\t.pt",
    "{__import__('builtins')}.pt",
    "last\\",
]


def hostile_mix(framework: str) -> tuple[Mix, Layout]:
    inst = Instance(cores=16, cores_per_chip=4, name="x coding: utf-7 +AAo-import os")
    pipelines = framework == "torch-neuron"
    models = [
        Model(name, cores=1 + (i % 2 if pipelines else 0), file=path)
        for i, (name, path) in enumerate(zip(HOSTILE_NAMES, HOSTILE_PATHS, strict=True))
    ]
    placements = []
    for i, m in enumerate(models):
        start = i % 15 if m.cores == 1 else min(i, 14)
        placements.append(Placement(m.name, [tuple(range(start, start + m.cores))]))
    return Mix(models, instance=inst, framework=framework), one_process(
        inst, range(16), *placements
    )


@pytest.mark.parametrize(
    ("framework", "context"),
    [
        ("torch-neuron", "torch_neuron.experimental.neuron_cores_context"),
        ("torch-neuronx", "torch_neuronx.neuron_cores_context"),
    ],
)
def test_hostile_names_and_paths_stay_literals(framework, context, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    mix, layout = hostile_mix(framework)
    code = generate_code(layout, mix, header="evil\n__import__('os')\r\x0b")
    assert "coding" not in "".join(code.splitlines(keepends=True)[:2])
    tree = ast.parse(code.encode("utf-8"))  # as Python reads a file: honouring a coding line
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    for model in mix.models:
        assert model.file in strings
    calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert sorted(set(calls)) == sorted({"torch.jit.load", context})
    assert len(calls) == 2 * len(mix.models)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    targets = {
        t.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    assert len(targets) == len(mix.models)
    assert names - targets == {"os", "torch", context.split(".")[0]}
    assert not targets & RESERVED_NAMES
    assert code.splitlines()[0].startswith("# Placement code generated by ncplace")
    assert all(line.isprintable() for line in code.splitlines())
    assert len(code.splitlines()) == len(code.split("\n")) - 1
    compile(code.encode("utf-8"), "<generated>", "exec")
    assert replay(code, mix).canonical() == layout.canonical()
    assert not hasattr(builtins, "PWNED")
    assert list(tmp_path.iterdir()) == []


# --- golden scripts ---------------------------------------------------------------------------


def golden_cases() -> dict[str, str]:
    inf16 = instance("inf1.6xlarge")
    mix = Mix(
        [
            Model(
                "bert-base",
                cores=4,
                rate=900.0,
                throughput=2000.0,
                exclusive=True,
                file="/opt/models/bert_base_pipeline4.pt",
            ),
            Model("resnet50", replicas=4, rate=1500.0, throughput=1000.0, file="resnet50.pt"),
            Model("yolo-v5", cores=2, replicas=2, rate=300.0, throughput=400.0),
            Model("tiny classifier", rate=50.0, throughput=1200.0),
        ],
        instance=inf16,
    )
    pipeline = one_process(
        inf16,
        range(12),
        Placement("bert-base", [(0, 1, 2, 3)]),
        Placement("resnet50", [(4,), (5,), (6,), (7,)]),
        Placement("yolo-v5", [(8, 9), (10, 11)]),
        Placement("tiny classifier", [(7,)]),
    )
    inf2 = instance("inf2.24xlarge")
    neuronx_mix = Mix(
        [
            Model("llama-shard", replicas=2, memory_gib=12.0, rate=40.0, throughput=25.0),
            Model("embedder", rate=300.0, throughput=900.0, file="embed/traced.pt"),
        ],
        instance=inf2,
    )
    neuronx = one_process(
        inf2,
        range(2, 6),
        Placement("llama-shard", [(2,), (3,)]),
        Placement("embedder", [(4,)]),
    )
    split_mix = Mix(
        [
            Model("ranker", replicas=(1, 4), rate=1800.0, throughput=1000.0),
            Model("filter", rate=300.0, throughput=1000.0),
        ],
        instance=Instance(cores=8, cores_per_chip=4),
    )
    split = one_process(
        split_mix.instance,
        range(8),
        Placement("ranker", [(0,)]),
        Placement("ranker", [(3,), (4,)]),
        Placement("filter", [(1,)]),
    )
    plan = SimpleNamespace(
        layout=split,
        mix=split_mix,
        status=SimpleNamespace(value="optimal"),
        objective=0.6,
        bound=0.6,
        gap=0.0,
        ortools_version="9.15.6755",
    )
    return {
        "pipeline_inf1_6xlarge.py.golden": generate_code(pipeline, mix),
        "torch_neuronx_inf2_subspan.py.golden": generate_code(neuronx, neuronx_mix),
        "plan_split_copies.py.golden": plan_code(plan),
    }


@pytest.mark.parametrize("name", sorted(golden_cases()))
def test_golden_scripts(name, update_golden):
    code = golden_cases()[name]
    compile(code, name, "exec")
    path = GOLDEN / name
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(code, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run pytest --update-golden"
    assert code == path.read_text(encoding="utf-8"), (
        "generated code changed: see git diff after --update-golden"
    )


def test_the_plan_header_says_which_layouts_the_bound_covers() -> None:
    """A bound above ``sum k d / N`` only speaks for the layouts the optimizer searched; the
    script's header says so, as the CLI does."""
    from ncplace import optimize
    from ncplace.optimize.solve import ORTOOLS_VERSION

    inst = Instance(cores=4, cores_per_chip=4, chip_memory_gib=32)
    lumpy = Mix(
        (Model("big", cores=2, rate=9, throughput=10), Model("small", rate=1, throughput=10)),
        inst,
    )
    header = plan_header(optimize(lumpy, time_limit=2))
    assert header == (
        "Plan: status optimal, peak load 0.9, bound 0.9 (over layouts with one block per model), "
        f"gap 0%, CP-SAT (OR-Tools {ORTOOLS_VERSION})."
    )
    even = Mix(tuple(Model(f"m{i}", rate=5, throughput=10) for i in range(4)), inst)
    assert "bound 0.5, gap 0%" in plan_header(optimize(even, time_limit=2))


def test_the_plan_header_of_an_slo_plan_names_its_peak_and_simulated_max_scale() -> None:
    """An SLO plan's objective is still the layout's peak load (what ``score`` says); its
    alpha* is an estimate from the simulation and is written as such."""
    from types import SimpleNamespace

    plan = SimpleNamespace(
        status=SimpleNamespace(value="feasible"),
        objective=0.75,
        objective_name="slo",
        max_scale=1.0512,
        seed=3,
        bound=0.75,
        bound_scope="every layout",
        gap=0.0,
        ortools_version="9.x",
    )
    assert plan_header(plan) == (
        "Plan: status feasible, peak load 0.75, max scale 1.05 (simulated, seed 3), bound 0.75, "
        "gap 0%, CP-SAT (OR-Tools 9.x)."
    )
