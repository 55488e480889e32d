"""Layouts: their queries, their validation, and the text grid render() draws."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ncplace
from ncplace import Instance, Layout, Placement, PlacementError, ProcessSpan, Runtime, instance
from ncplace.layout import _display_width, layout_from_dict, layout_to_dict

try:  # tests/ on sys.path (pytest's default rootdir-less import mode)
    from test_guide_examples import guide_example
except ImportError:  # tests/ imported as a package
    from tests.test_guide_examples import guide_example

EIGHT = Instance(cores=8, cores_per_chip=4)


# Exact renders of guide layouts -----------------------------------------------------------------


def test_render_overlapping_models_with_differing_model_sizes() -> None:
    layout, _ = guide_example("overlapping-models-with-differing-model-sizes").run()
    assert layout.render() == (
        " m4                     |\n"
        " m2          m3         |\n"
        " m0--------  m1-------- |\n"
        "ncg0  ncg0  ncg1  ncg1  |\n"
        "proc0 proc0 proc0 proc0 |   -     -     -     -\n"
        "-------------------------------------------------\n"
        " nc0   nc1   nc2   nc3  |  nc4   nc5   nc6   nc7"
    )


def test_render_multiple_processes() -> None:
    layout, _ = guide_example("multiple-processes").run()
    assert layout.render() == (
        " m0    m1    m0    m1   |\n"
        "proc0 proc0 proc1 proc1 |   -     -     -     -\n"
        "-------------------------------------------------\n"
        " nc0   nc1   nc2   nc3  |  nc4   nc5   nc6   nc7"
    )


def test_render_multiple_groups_shows_a_pipeline_crossing_chips() -> None:
    layout, _ = guide_example("multiple-neuroncore-groups").run()
    assert layout.render() == (
        " m0--------------  m1---|------------------  m2\n"
        "ncg0  ncg0  ncg0  ncg1  | ncg1  ncg1  ncg1  ncg2\n"
        "proc0 proc0 proc0 proc0 | proc0 proc0 proc0 proc0\n"
        "-------------------------------------------------\n"
        " nc0   nc1   nc2   nc3  |  nc4   nc5   nc6   nc7"
    )


def test_render_tells_copies_of_one_load_from_separate_copies() -> None:
    replication, _ = guide_example("explicit-replication").run()
    assert replication.render().splitlines()[0] == "             m0-------- |  m0--------"
    multicore, _ = guide_example("automatic-multicore").run()
    assert multicore.render().splitlines()[0] == " m0    m0    m0    m0   |  m0    m0    m0    m0"


def test_render_empty_machine() -> None:
    assert Layout(EIGHT, (), ()).render() == (
        " -   -   -   -  |  -   -   -   -\n"
        "---------------------------------\n"
        "nc0 nc1 nc2 nc3 | nc4 nc5 nc6 nc7"
    )


# Structure at 64 cores --------------------------------------------------------------------------


def _cells(line: str, width: int, cores: int, cores_per_chip: int) -> list[str]:
    """The text of each core's cell: cells are ``width`` wide, after a one-space gap, or a
    three-character `` | `` at a chip boundary; ``-`` continuation marks are dropped."""
    padded = line.ljust(cores * (width + 3))
    starts = [c * (width + 1) + 2 * (c // cores_per_chip) for c in range(cores)]
    return [padded[s : s + width].strip(" -") for s in starts]


def test_render_structure_at_64_cores() -> None:
    inst = instance("inf1.24xlarge")
    rt = Runtime(inst)
    p0 = rt.start_process({"NEURON_RT_NUM_CORES": "16", "NEURONCORE_GROUP_SIZES": "8,8"})
    p1 = rt.start_process({"NEURON_RT_VISIBLE_CORES": "32-47"})
    p0.load("bert", cores=8)
    p0.load("gpt", cores=8)
    p0.load("tiny")
    with p1.multicore_context():
        p1.load("resnet", cores=4)
    with p1.neuron_cores_context(start_nc=2):
        p1.load("x")
    lines = rt.layout().render().split("\n")
    assert len(lines) == 6  # two model rows, groups, owners, rule, header
    header, ruler = lines[-1], lines[-2]
    assert set(ruler) == {"-"} and len(ruler) == 64 * 7 - 1 + 2 * 15
    width = 6  # the widest label, "resnet"
    assert _cells(header, width, 64, 4) == [f"nc{c}" for c in range(64)]
    bars = [i for i, ch in enumerate(header) if ch == "|"]
    assert bars == [c * (width + 1) + 2 * (c // 4) - 2 for c in range(4, 64, 4)]  # 16 chips
    for line in lines[:-2]:
        assert [i for i, ch in enumerate(line) if ch == "|"] == bars[: line.count("|")]
        assert len(line) <= len(ruler)
    top, low, groups, owners = (_cells(line, width, 64, 4) for line in lines[:4])
    assert owners == ["proc0"] * 16 + [""] * 16 + ["proc1"] * 16 + [""] * 16
    assert groups == ["ncg0"] * 8 + ["ncg1"] * 8 + [""] * 48
    assert low[:16] == ["bert"] + [""] * 7 + ["gpt"] + [""] * 7
    assert low[32:48] == ["resnet", "", "", ""] * 4
    assert top[:16] == ["tiny"] + [""] * 15
    assert top[32:48] == ["", "", "x"] + [""] * 13
    assert all(cell == "" for cell in top[48:] + low[48:] + top[16:32] + low[16:32])
    # copies are drawn as runs: bert spans nc0-nc7 with '-' after its name
    assert re.match(r"^ bert-+\|-+ \|  gpt-+\|-+ \| ", lines[1])


# Hostile names ----------------------------------------------------------------------------------

HOSTILE = [
    "two\nlines",
    "tab\there",
    "carriage\rreturn",
    "pipe|name",
    "x" * 500,
    "模型",
    "模型模型模型模型模型",
    "e\u0301t\u0301e\u0301",
    "\u0301leading-combining",
    "zero\u200bwidth",
    "rtl\u202eoverride",
    "bell\x07",
    "esc\x1b[31mred",
    "nbsp\xa0space",
    "emoji\U0001f600",
    " ",
]


def _assert_grid(text: str, inst: Instance) -> None:
    lines = text.split("\n")
    header, ruler = lines[-1], lines[-2]
    bars = [i for i, ch in enumerate(header) if ch == "|"]
    width = _display_width(ruler)
    assert set(ruler) == {"-"}
    for line in lines:
        assert all(ch.isprintable() for ch in line)
        assert _display_width(line) <= width
        columns = []
        col = 0
        for ch in line:
            if ch == "|":
                columns.append(col)
            col += _display_width(ch)
        assert columns == bars[: len(columns)]


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_cannot_break_the_grid(name: str) -> None:
    rt = Runtime(EIGHT)
    p = rt.start_process()
    p.load("ok")
    with p.neuron_cores_context(start_nc=3):
        p.load(name, cores=2)
    with p.multicore_context():
        p.load(name)
    layout = rt.layout()
    text = layout.render()
    _assert_grid(text, EIGHT)
    assert len(text.split("\n")) == 5  # two model rows, owners, rule, header


def test_hostile_names_are_shown_readably() -> None:
    layout = Layout.single_process(
        EIGHT,
        [
            Placement("a\nb", ((0,),)),
            Placement("c\td", ((1,),)),
            Placement("e|f", ((2,),)),
            Placement("a-very-long-model-name-indeed", ((3,),)),
            Placement("模型", ((4,),)),
            Placement("", ((5,),)),
        ],
    )
    row = layout.render().split("\n")[0]
    assert "a?b" in row and "c?d" in row and "e\N{BROKEN BAR}f" in row
    assert "a-very-long-m~ |" in row  # cut to 14 columns with a ~
    assert "模型" in row
    assert re.search(r"\?\s*$", row)  # an empty name still shows as a mark


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=6))
def test_any_names_keep_the_grid_aligned(names: list[str]) -> None:
    inst = Instance(cores=8, cores_per_chip=2)
    placements = [
        Placement(n, ((i % 8, (i + 1) % 8),) if i % 8 < 7 else ((7,),)) for i, n in enumerate(names)
    ]
    text = Layout.single_process(inst, placements).render()
    _assert_grid(text, inst)
    assert len(text.split("\n")) <= len(names) + 3


def test_display_width_counts_wide_and_combining_characters() -> None:
    assert _display_width("ab") == 2
    assert _display_width("模型") == 4
    assert _display_width(unicodedata.normalize("NFD", "é")) == 1


# Layout data -------------------------------------------------------------------------------------


def test_layout_queries() -> None:
    layout = Layout(
        EIGHT,
        (ProcessSpan((0, 1, 2, 3)), ProcessSpan((6, 7), env={"NEURON_RT_VISIBLE_CORES": "6-7"})),
        (
            Placement("a", [(0, 1), (2, 3)]),
            Placement("b", [(1,)]),
            Placement("a", [(6,)], process=1),
        ),
    )
    assert layout.copies() == [("a", (0, 1)), ("a", (2, 3)), ("b", (1,)), ("a", (6,))]
    assert layout.copies_per_core() == [1, 2, 1, 1, 0, 0, 1, 0]
    assert layout.models() == ("a", "b")
    assert [p.process for p in layout.placements_of("a")] == [0, 1]
    assert layout.owner() == [0, 0, 0, 0, None, None, 1, 1]
    assert layout.placements[0].cores == (0, 1, 2, 3)
    assert layout.placements[0].replicas == ((0, 1), (2, 3))  # lists became tuples
    reordered = Layout(EIGHT, layout.processes, tuple(reversed(layout.placements)))
    assert reordered.canonical() == layout.canonical()
    assert reordered != layout


def test_single_process_layout() -> None:
    layout = Layout.single_process(EIGHT, [Placement("m", [(0,)])])
    assert layout.processes == (ProcessSpan(tuple(range(8))),)
    assert Layout.single_process(EIGHT, [], cores=range(2, 4)).processes[0].cores == (2, 3)


def test_placement_must_name_an_existing_process() -> None:
    with pytest.raises(
        PlacementError,
        match=r"^placement of 'm' names process 1, but the layout has 1 process\(es\)$",
    ):
        Layout(EIGHT, (ProcessSpan((0,)),), (Placement("m", [(0,)], process=1),))


def test_process_span_is_immutable_and_hashable() -> None:
    env = {"A": "1"}
    span = ProcessSpan([0, 1], [[0], [1]], env)
    env["A"] = "2"
    assert span.env == {"A": "1"}
    assert span.cores == (0, 1) and span.groups == ((0,), (1,))
    with pytest.raises(TypeError):
        span.env["A"] = "3"  # type: ignore[index]
    assert hash(span) == hash(ProcessSpan((0, 1), ((0,), (1,)), {"A": "1"}))
    assert span == ProcessSpan((0, 1), ((0,), (1,)), {"A": "1"})
    assert span != ProcessSpan((0, 1))


ROUND_TRIP_MIXES = (
    ncplace.Mix.from_file(Path(__file__).resolve().parents[1] / "examples" / "mix.yaml"),
    ncplace.Mix(
        [
            ncplace.Model("a", cores=2, rate=100, throughput=200),
            ncplace.Model("b", replicas=2, rate=300, throughput=400),
            ncplace.Model("c", rate=10, throughput=100),
        ],
        instance="inf1.6xlarge",
    ),
    ncplace.Mix(
        [
            ncplace.Model(f"m{i}", replicas=1 + i % 2, rate=50 * (i + 1), throughput=500)
            for i in range(5)
        ],
        instance="inf2.24xlarge",
    ),
)


@pytest.mark.parametrize("policy", sorted(ncplace.POLICIES))
def test_layout_dict_round_trip(policy):
    done = 0
    for mix in ROUND_TRIP_MIXES:
        try:
            layout = ncplace.POLICIES[policy](mix)
        except ncplace.Error:
            continue
        data = json.loads(json.dumps(layout_to_dict(layout)))
        assert data["cores"] == mix.instance.cores
        assert layout_from_dict(data, mix.instance) == layout
        done += 1
    assert done, f"{policy} expressed none of the mixes"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([], "layout: expected a layout object, got list"),
        ({"cores": 8, "processes": [], "placements": []}, "the layout has 8 cores, the instance"),
        ({"placements": []}, "processes: expected a list, got None"),
        (
            {"processes": [{"cores": [0, 99]}], "placements": []},
            r"processes\[0\].cores: expected a list of cores in 0..15",
        ),
        (
            {"processes": [{"cores": [0], "env": {"A": 1}}], "placements": []},
            "env: expected a mapping of strings",
        ),
        (
            {"processes": [{"cores": [0]}], "placements": [{"model": "", "replicas": []}]},
            "model: expected a name",
        ),
        (
            {"processes": [{"cores": [0]}], "placements": [{"model": "m", "replicas": [[True]]}]},
            "replicas: expected a list of cores",
        ),
        (
            {
                "processes": [{"cores": [0]}],
                "placements": [{"model": "m", "replicas": [[0]], "process": 3}],
            },
            "names process 3",
        ),
    ],
)
def test_layout_from_dict_names_what_is_wrong(data, match):
    with pytest.raises(ncplace.Error, match=match):
        layout_from_dict(data, ncplace.instance("inf1.6xlarge"))


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    value=st.none()
    | st.booleans()
    | st.integers(-3, 20)
    | st.text(max_size=3)
    | st.lists(st.integers(-1, 17), max_size=3),
)
def test_any_corruption_of_a_layout_file_reads_or_is_an_error(data, value):
    mix = ROUND_TRIP_MIXES[0]
    tree = layout_to_dict(ncplace.POLICIES["default"](mix))
    spots: list[tuple[object, object]] = [(tree, k) for k in tree]
    for p in tree["processes"] + tree["placements"]:
        spots += [(p, k) for k in p]
    for p in tree["placements"]:
        spots += [(p["replicas"], i) for i in range(len(p["replicas"]))]
    node, key = data.draw(st.sampled_from(spots))
    node[key] = value  # type: ignore[index]
    try:
        layout = layout_from_dict(tree, mix.instance)
    except ncplace.Error as error:
        assert "\n" not in str(error)
        return
    layout.render()


def test_core_span_names_a_run_only_when_the_cores_are_one():
    from ncplace.layout import core_span

    assert core_span((4,)) == "nc4"
    assert core_span((4, 5, 6, 7)) == "nc4-nc7"
    assert core_span((0, 2, 5)) == "nc0,nc2,nc5"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Placement("a", 5), r"^placement of 'a': replicas: expected a list of copies"),
        (lambda: Placement("a", [5]), r"each a list of cores, got \[5\]$"),
        (lambda: ProcessSpan(5), r"^ProcessSpan: expected cores .* got 5, \(\), \{\}$"),
        (lambda: ProcessSpan((0,), env=5), r"^ProcessSpan: expected cores .* got \(0,\), \(\), 5$"),
        (
            lambda: Layout("inf1.xlarge", (), ()),
            r"^Layout instance: expected an Instance, got str$",
        ),
        (
            lambda: Layout(EIGHT, (0,), ()),
            r"^Layout processes\[0\]: expected a ProcessSpan, got int",
        ),
    ],
)
def test_layout_parts_of_the_wrong_shape_are_named(build, message):
    with pytest.raises(PlacementError, match=message):
        build()
