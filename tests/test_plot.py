"""Structural checks on the figures of ncplace.plot: their artists, not their pixels."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from matplotlib.text import Text

import ncplace
from ncplace import plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _guide_group_issue() -> tuple[ncplace.Layout, ncplace.Mix]:
    """The guide's "Overlapping Models with Differing Model Sizes" example, with traffic."""
    inst = ncplace.Instance(cores=8, cores_per_chip=4)
    rt = ncplace.Runtime(inst)
    proc = rt.start_process(env={"NEURONCORE_GROUP_SIZES": "2,2"})
    sizes = {"m0": 2, "m1": 2, "m2": 1, "m3": 1, "m4": 1}
    for name, k in sizes.items():
        proc.load(name, cores=k)
    rates = {"m0": 80.0, "m1": 50.0, "m2": 40.0, "m3": 30.0, "m4": 60.0}
    mix = ncplace.Mix(
        [ncplace.Model(n, cores=k, rate=rates[n], throughput=100.0) for n, k in sizes.items()],
        instance=inst,
    )
    return rt.layout(), mix


def _fleet_64() -> tuple[ncplace.Layout, ncplace.Mix]:
    """inf1.24xlarge: two processes, pipelines and replicated 1-core models, one hostile name."""
    inst = ncplace.instance("inf1.24xlarge")
    long_name = "resnet50-" + "x" * 80
    hostile = "evil\n$x^{_\tname"
    models = [
        ncplace.Model("bert", cores=4, replicas=4, rate=1500.0, throughput=1000.0),
        ncplace.Model(long_name, cores=1, replicas=8, rate=100.0, throughput=50.0),
        ncplace.Model(hostile, cores=2, replicas=2),
        ncplace.Model("_private", cores=1, replicas=1),
    ]
    rt = ncplace.Runtime(inst)
    p0 = rt.start_process(env={"NEURON_RT_NUM_CORES": "32"})
    with p0.neuron_cores_context(start_nc=0, nc_count=16):
        p0.load("bert", cores=4)
    with p0.neuron_cores_context(start_nc=16, nc_count=8):
        p0.load(long_name, cores=1)
    p1 = rt.start_process(env={"NEURON_RT_VISIBLE_CORES": "40-63"})
    p1.load(hostile, cores=2)
    p1.load(hostile, cores=2)
    p1.load("_private", cores=1)
    return rt.layout(), ncplace.Mix(models, instance=inst)


def _by_gid(fig: Figure, gid: str) -> list:
    return [a for a in fig.findobj() if a.get_gid() == gid]


def _cells(layout: ncplace.Layout) -> int:
    return sum(len(cores) for _, cores in layout.copies())


def test_layout_8_cores_draws_one_block_per_copy_core_cell_stacked_where_shared():
    lay, mix = _guide_group_issue()
    fig = plot.layout(lay, mix)
    main, _ = fig.axes
    rects = [a for a in main.patches if a.get_gid() == "copy"]
    assert len(rects) == _cells(lay) == 7
    at_nc0 = sorted((r.get_y(), r.get_label()) for r in rects if r.get_x() < 0)
    assert [(round(y, 2), name) for y, name in at_nc0] == [(0.08, "m0"), (1.08, "m2"), (2.08, "m4")]
    at_nc2 = sorted((r.get_y(), r.get_label()) for r in rects if 1.4 < r.get_x() < 2)
    assert [name for _, name in at_nc2] == ["m1", "m3"]
    assert len(_by_gid(fig, "chip-boundary")) == 2  # one per axes: main and load panel
    assert len([a for a in main.lines if a.get_gid() == "chip-boundary"]) == 1
    assert [t.get_text() for t in _by_gid(fig, "chip-label")] == ["chip 0", "chip 1"]
    assert len(_by_gid(fig, "process")) == 1
    assert len(_by_gid(fig, "unallocated")) == 1
    assert [t.get_text() for t in _by_gid(fig, "group-label")] == ["ncg0", "ncg1"]
    assert "headroom 0.556x" in main.get_title(loc="left")


def test_layout_load_panel_bars_sum_to_the_scorer_loads_with_a_limit_line():
    lay, mix = _guide_group_issue()
    fig = plot.layout(lay, mix)
    load_ax = fig.axes[1]
    per_core = [0.0] * lay.instance.cores
    for bar in (p for p in load_ax.patches if p.get_gid() == "load"):
        per_core[round(bar.get_x() + bar.get_width() / 2)] += bar.get_height()
    expected = ncplace.score(lay, mix).loads
    assert per_core == pytest.approx(list(expected))
    assert per_core[0] == pytest.approx(0.4 + 0.4 + 0.6 + 0.4)  # m0 half, m2, m4, ... on nc0
    (limit,) = [ln for ln in load_ax.lines if ln.get_gid() == "load-limit"]
    assert list(limit.get_ydata()) == [1.0, 1.0]
    (over,) = [ln for ln in load_ax.lines if ln.get_gid() == "overload"]
    assert list(over.get_xdata()) == [0]


def test_layout_colours_are_stable_per_model_across_layouts_and_orders():
    lay, mix = _guide_group_issue()
    colors = plot.model_colors(mix.names)
    assert plot.model_colors(reversed(mix.names)) == colors
    assert len(set(colors.values())) == len(colors)
    other = ncplace.Layout.single_process(
        lay.instance,
        [ncplace.Placement(name, ((i,),)) for i, name in enumerate(reversed(mix.names))],
    )
    for fig in (plot.layout(lay, mix), plot.layout(other, mix)):
        for rect in _by_gid(fig, "copy"):
            assert rect.get_facecolor() == pytest.approx(colors[rect.get_label()])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=20, unique=True))
def test_model_colors_distinct_up_to_twenty_names_and_order_free(names):
    colors = plot.model_colors(names)
    assert len(set(colors.values())) == len(names)
    assert plot.model_colors(sorted(names)) == colors


def test_layout_64_cores_is_readable_and_truncates_hostile_names(tmp_path):
    lay, mix = _fleet_64()
    out = tmp_path / "fleet.png"
    fig = plot.layout(lay, mix, title="a\ntitle " + "y" * 200, path=out)
    main = fig.axes[0]
    assert len([p for p in main.patches if p.get_gid() == "copy"]) == _cells(lay) == 16 + 8 + 4 + 1
    assert len([ln for ln in main.lines if ln.get_gid() == "chip-boundary"]) == 15
    assert len(_by_gid(fig, "chip-label")) == 16
    labelled = [t.get_text() for t in fig.axes[-1].get_xticklabels() if t.get_text()]
    assert labelled == [f"nc{c}" for c in range(0, 64, 4)]
    assert len(_by_gid(fig, "process")) == 2
    assert len(_by_gid(fig, "unallocated")) == 1
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert all("\n" not in t and "\t" not in t for t in texts)
    assert all(len(t) <= plot.TITLE_CHARS for t in texts)
    legend = [t.get_text() for t in main.get_legend().get_texts()]
    assert legend[1] == "resnet50-" + "x" * (plot.LEGEND_CHARS - 10) + "\u2026"
    assert "evil $x^{_ name" in legend and "_private" in legend
    title = main.get_title(loc="left")
    assert title.startswith("a title yyy") and len(title) == plot.TITLE_CHARS
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_layout_unallocated_cores_are_hatched_runs():
    lay, _ = _fleet_64()
    fig = plot.layout(lay)
    spans = sorted((r.get_x(), r.get_width()) for r in _by_gid(fig, "unallocated"))
    assert [(round(x + 0.5 - plot._PAD_X), round(w + 2 * plot._PAD_X)) for x, w in spans] == [
        (32, 8)
    ]
    assert len(fig.axes) == 1  # no mix: no load panel


def test_layout_into_given_axes_shades_load_instead_of_a_panel():
    lay, mix = _guide_group_issue()
    outer = Figure()
    ax = outer.add_subplot()
    fig = plot.layout(lay, mix, ax=ax, title="mine")
    assert fig is outer and fig.axes == [ax]
    shades = _by_gid(fig, "load-shade")
    assert len(shades) == sum(1 for load in ncplace.score(lay, mix).loads if load > 0) == 4
    assert ax.get_title(loc="left") == "mine"


def test_layout_with_a_mix_that_does_not_match_raises_the_scorer_error():
    lay, mix = _guide_group_issue()
    other = mix.with_models([ncplace.Model("zz")])
    with pytest.raises(ncplace.Error, match="missing from the layout: 'zz'"):
        plot.layout(lay, other)


def test_saving_to_an_unwritable_path_is_a_config_error(tmp_path):
    lay, _ = _guide_group_issue()
    with pytest.raises(ncplace.ConfigError, match="cannot write plot to"):
        plot.layout(lay, path=tmp_path / "missing-dir" / "x.png")


def _rows():
    lay, mix = _guide_group_issue()
    bad = ncplace.score(lay, mix)
    good = replace(bad, peak_load=0.8, headroom=1.25, overlap=0, exclusive_violations=0)
    infeasible = replace(bad, feasible=False, exclusive_violations=2)
    return [
        SimpleNamespace(name="optimizer", score=good, reason=None),
        SimpleNamespace(name="group_sizes", score=bad, reason=None),
        SimpleNamespace(name="multi\ncore", score=infeasible, reason=None),
        SimpleNamespace(name="processes", score=None, reason="needs 12 cores\nbut 8 $x^ " * 9),
    ]


def test_compare_draws_headroom_and_overlap_with_infeasible_and_na_marked(tmp_path):
    out = tmp_path / "cmp.png"
    fig = plot.compare(SimpleNamespace(rows=_rows()), path=out)
    head_ax, over_ax = fig.axes
    heads = [p for p in head_ax.patches if p.get_gid() == "headroom"]
    overs = [p for p in over_ax.patches if p.get_gid() == "overlap"]
    assert [round(p.get_width(), 3) for p in heads] == [1.25, 0.556, 0.556]
    assert [p.get_width() for p in overs] == [0, 3, 3]
    assert [bool(p.get_hatch()) for p in heads] == [False, False, True]
    values = [t.get_text() for t in _by_gid(fig, "headroom-value")]
    assert values == [" 1.25x", " 0.556x", " 0.556x  infeasible"]
    na = [t.get_text() for t in _by_gid(fig, "n/a")]
    assert len(na) == 2 and na[0].startswith("n/a: needs 12 cores but 8 $x^") and na[1] == "n/a"
    assert len(na[0]) == len("n/a: ") + 60
    assert [t.get_text() for t in head_ax.get_yticklabels()] == [
        "optimizer",
        "group_sizes",
        "multi core",
        "processes",
    ]
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_compare_of_nothing_is_a_config_error():
    with pytest.raises(ncplace.ConfigError, match="no rows"):
        plot.compare([])


def test_compare_takes_a_real_comparison_when_the_module_exists():
    comparison = pytest.importorskip("ncplace.comparison")
    _, mix = _guide_group_issue()
    table = comparison.compare(mix, optimizer=False)
    fig = plot.compare(table)
    scored = [r for r in table.rows if r.score is not None]
    assert len(_by_gid(fig, "headroom")) == len(scored)
    assert len(_by_gid(fig, "n/a")) == 2 * (len(table.rows) - len(scored))


def _results():
    rows = []
    for cores, models, status, runtime, gap in [
        (4, 2, "optimal", 0.01, 0.0),
        (16, 10, "optimal", 0.2, 0.0),
        (64, 40, "feasible", 5.0, 0.02),
        (256, 300, "unknown", float("nan"), None),
        (8, 3, "infeasible", 0.05, None),
    ]:
        for method in ("cp-sat", "highs"):
            rows.append(
                {
                    "cores": cores,
                    "models": models,
                    "status": status,
                    "runtime_s": runtime,
                    "gap": gap,
                    "method": method,
                }
            )
    return rows


def _points(fig: Figure) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ax in fig.axes[:1]:
        for coll in ax.collections:
            counts[coll.get_gid()] = counts.get(coll.get_gid(), 0) + len(coll.get_offsets())
    return counts


def test_scaling_from_dicts_and_dataframe_agree_and_mark_status(tmp_path):
    pd = pytest.importorskip("pandas")
    rows = _results()
    out = tmp_path / "scaling.png"
    fig = plot.scaling(rows, path=out)
    assert _points(fig) == {"status-optimal": 4, "status-feasible": 2, "status-infeasible": 2}
    assert _points(plot.scaling(pd.DataFrame(rows))) == _points(fig)
    assert "8 solve(s); 2 with an open gap (worst 2.00%)" in fig.get_suptitle()
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend == ["optimal", "feasible", "infeasible", "cp-sat", "highs"]
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_scaling_takes_status_enums_and_dataclasses():
    from dataclasses import dataclass
    from enum import Enum

    class Status(str, Enum):
        OPTIMAL = "optimal"

    @dataclass
    class Result:
        cores: int
        models: int
        runtime_s: float
        status: Status

    fig = plot.scaling([Result(4, 2, 0.1, Status.OPTIMAL), Result(16, 8, 0.3, Status.OPTIMAL)])
    assert _points(fig) == {"status-optimal": 2}


def test_scaling_without_required_columns_names_them():
    with pytest.raises(ncplace.ConfigError, match="lack column\\(s\\) runtime_s, status"):
        plot.scaling([{"cores": 4, "models": 2}])
    with pytest.raises(ncplace.ConfigError, match="no results"):
        plot.scaling([])


def test_clean_flattens_and_cuts():
    assert plot.clean("a\n\tb  c", 10) == "a b c"
    assert plot.clean("abcdef", 4) == "abc\u2026"
    assert plot.clean("abc", 0) == ""
    assert plot.clean(float("nan"), 5) == "nan"


def test_scaling_reads_benchmark_rows_as_one_solve_per_method():
    pd = pytest.importorskip("pandas")
    wide = [
        {
            "cores": 4,
            "models": 2,
            "opt_status": "feasible",
            "opt_block_status": "optimal",
            "opt_peak_time": 0.01,
            "opt_time": 0.05,
            "opt_block_peak": 0.8,
            "opt_block_bound": 0.8,
            "highs_status": "optimal",
            "highs_time": 0.02,
            "highs_solve_time": 0.015,
            "highs_objective": 0.8,
            "highs_bound": 0.8,
        },
        {
            "cores": 64,
            "models": 64,
            "opt_status": "feasible",
            "opt_block_status": "feasible",
            "opt_peak_time": 0.5,
            "opt_block_peak": 0.8,
            "opt_block_bound": 0.7,
            "highs_status": "skipped",
        },
    ]
    for results in (wide, pd.DataFrame(wide)):
        fig = plot.scaling(results)
        assert _points(fig) == {"status-optimal": 2, "status-feasible": 1}
        optimal = [c for c in fig.axes[0].collections if c.get_gid() == "status-optimal"]
        times = sorted(float(y) for c in optimal for _, y in c.get_offsets())
        assert times == [0.01, 0.015]
        assert "3 solve(s); 1 with an open gap (worst 12.50%)" in fig.get_suptitle()


def test_copy_labels_are_cut_to_their_block_and_name_it():
    inst = ncplace.Instance(cores=8, cores_per_chip=4)
    name = "a-very-long-model-name-" * 4
    lay = ncplace.Layout.single_process(
        inst, [ncplace.Placement(name, ((0,),)), ncplace.Placement("b", ((1, 2, 3, 4),))]
    )
    fig = plot.layout(lay)
    labels = {t.get_text() for t in _by_gid(fig, "copy-label")}
    short = next(t for t in labels if t.startswith("a-v"))
    assert short.endswith("\u2026") and 3 <= len(short) < 12
    assert "b" in labels


def test_layout_draws_measured_load_beside_the_prediction_or_alone():
    lay, mix = _guide_group_issue()
    measured = [0.9, None, 0.5, 0.5, 0.2, 0.0, None, 0.1]
    fig = plot.layout(lay, mix, measured=measured)
    load_ax = fig.axes[1]
    bars = [p for p in load_ax.patches if p.get_gid() == "measured"]
    seen = {round(b.get_x() + b.get_width() / 2 - 0.3): b.get_height() for b in bars}
    assert seen == {c: v for c, v in enumerate(measured) if v is not None}
    per_core = [0.0] * lay.instance.cores
    for bar in (p for p in load_ax.patches if p.get_gid() == "load"):
        per_core[round(bar.get_x() + bar.get_width() / 2)] += bar.get_height()
    assert per_core == pytest.approx(list(ncplace.score(lay, mix).loads))
    alone = plot.layout(lay, measured=measured)
    assert len(alone.axes) == 2
    centres = [round(b.get_x() + b.get_width() / 2, 6) for b in _by_gid(alone, "measured")]
    assert centres == [0, 2, 3, 4, 5, 7]
    assert not _by_gid(alone, "load")
    with pytest.raises(ncplace.ConfigError, match="measured has 2 value"):
        plot.layout(lay, mix, measured=[0.1, 0.2])
