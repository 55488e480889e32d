"""compare(): every policy (and the optimizer) scored side by side."""

from __future__ import annotations

import json
import sys

import pytest

import ncplace
from ncplace import (
    Comparison,
    ConfigError,
    Error,
    Layout,
    Mix,
    Model,
    Placement,
    compare,
    instance,
    score,
)

XL = instance("inf1.xlarge")

EXPECTED_TABLE = """\
| policy | feasible | peak load | headroom | overlap | max copies/core | idle cores | chip crossings | handles | note |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
| multicore | yes | 0.650 | 1.54 | 8 | 3 | 0 | 0 | 3 | copies not as the mix asks: a 2 (asks 1), b 4 (asks 2), c 4 (asks 1) |
| default | yes | 0.750 | 1.33 | 1 | 2 | 0 | 0 | 4 |  |
| greedy | yes | 0.750 | 1.33 | 1 | 2 | 0 | 0 | 3 |  |
| group_sizes | n/a | - | - | - | - | - | - | - | group_sizes: one group per copy needs a 2x1 + b 1x2 + c 1x1 = 5 cores but inf1.xlarge has 4; NeuronCore Groups cannot share cores |
| processes | n/a | - | - | - | - | - | - | - | processes: the process for 'c' asks for 1 core(s) after earlier processes took 4; one process per model needs a 2x1 + b 1x2 + c 1x1 = 5 cores but inf1.xlarge has 4, and processes cannot share cores |
| round_robin | n/a | - | - | - | - | - | - | - | round_robin is torch-neuronx's default placement; this mix is torch-neuron (see 'default' for its least-used placement) |"""  # noqa: E501


@pytest.fixture
def pipelined() -> Mix:
    """An exclusive 2-core pipeline beside two 1-core models on 4 cores."""
    return Mix(
        [
            Model("p", cores=2, exclusive=True, rate=50, throughput=100),
            Model("x", rate=20, throughput=100),
            Model("y", rate=20, throughput=100),
            Model("z", rate=20, throughput=100),
        ],
        XL,
    )


def test_markdown_table_is_pinned(small):
    assert compare(small, optimizer=False).to_markdown() == EXPECTED_TABLE


def test_rows_sorted_by_feasibility_headroom_overlap_name(pipelined):
    c = compare(pipelined, optimizer=False)
    # multicore spreads load thinnest (0.25 + 3 x 0.05 = 0.4 on every core) but shares the
    # exclusive pipeline's cores; default puts z beside the pipeline on nc0 (peak 0.7). Infeasible
    # rows come after every feasible one whatever their headroom, then the n/a rows by name.
    assert c.names == (
        "greedy",
        "multicore",
        "default",
        "group_sizes",
        "processes",
        "round_robin",
    )
    assert [r.feasible for r in c] == [True, False, False, False, False, False]
    multicore, default = c.row("multicore").score, c.row("default").score
    assert multicore is not None and default is not None
    assert (multicore.peak_load, default.peak_load) == (pytest.approx(0.4), pytest.approx(0.7))
    assert c.row("multicore").note == (
        "copies not as the mix asks: p 2 (asks 1), x 4 (asks 1), y 4 (asks 1) and 1 more; "
        "4 exclusive core(s) shared"
    )
    assert c.row("default").note == "1 exclusive core(s) shared"
    # greedy: p on nc0-1, then x, y, z on nc2, nc3, nc2: the pipeline's 0.5 is the peak
    greedy = c.row("greedy").score
    assert greedy is not None
    assert (greedy.peak_load, greedy.overlap, greedy.handles) == (pytest.approx(0.5), 1, 4)


def test_best_and_row(small, pipelined):
    c = compare(small, optimizer=False)
    best = c.best()
    assert best is not None and best.name == "multicore"
    assert c.row("greedy").name == "greedy"
    with pytest.raises(KeyError, match="no row 'nope'; rows: multicore, default, greedy"):
        c.row("nope")
    only_bad = compare(pipelined, policies=["multicore", "round_robin"], optimizer=False)
    assert only_bad.best() is None
    fallback = only_bad.best(feasible_only=False)
    assert fallback is not None and fallback.name == "multicore"
    none = compare(pipelined, policies=["round_robin"], optimizer=False)
    assert none.best(feasible_only=False) is None


def test_na_rows_keep_the_reason(small):
    row = compare(small, optimizer=False).row("round_robin")
    assert (row.layout, row.score, row.available, row.feasible) == (None, None, False, False)
    assert row.reason is not None and row.reason.startswith("round_robin is torch-neuronx's")
    assert row.note == row.reason


def test_choosing_policies(small):
    c = compare(small, policies=["greedy", "default"], optimizer=False)
    assert c.names == ("default", "greedy")
    assert compare(small, policies="greedy", optimizer=False).names == ("greedy",)
    with pytest.raises(ConfigError, match=r"unknown policy 'best'; known policies: default, "):
        compare(small, policies=["best"], optimizer=False)


def test_custom_policies(small):
    def everything_on_nc0(mix: Mix) -> Layout:
        """Stack every copy on the first cores."""
        return Layout.single_process(
            mix.instance,
            [
                Placement(m.name, tuple(tuple(range(m.cores)) for _ in range(m.min_replicas)))
                for m in mix
            ],
        )

    def refuses(mix: Mix) -> Layout:
        raise Error("cannot | will not")

    c = compare(small, policies={"stack": everything_on_nc0, "no": refuses}, optimizer=False)
    stack = c.row("stack")
    assert stack.description == "Stack every copy on the first cores."
    assert stack.score is not None and stack.score.loads == (0.5 + 1.5 + 0.1, 0.5, 0.0, 0.0)
    assert c.row("no").reason == "cannot | will not"
    assert "| cannot \\| will not |" in c.to_markdown()

    def crashes(mix: Mix) -> Layout:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        compare(small, policies={"bug": crashes}, optimizer=False)
    with pytest.raises(ConfigError, match="'optimized' is reserved"):
        compare(small, policies={"optimized": everything_on_nc0}, optimizer=False)


def test_to_dict_is_json_ready(small):
    c = compare(small, optimizer=False)
    data = json.loads(json.dumps(c.to_dict()))
    assert Mix.from_dict(data["mix"]) == small
    rows = {r["policy"]: r for r in data["rows"]}
    assert [r["policy"] for r in data["rows"]] == list(c.names)
    greedy = rows["greedy"]
    assert greedy["feasible"] is True and greedy["available"] is True
    assert greedy["score"]["peak_load"] == 0.75
    assert greedy["layout"] == {
        "instance": "inf1.xlarge",
        "cores": 4,
        "processes": [{"cores": [0, 1, 2, 3], "groups": [], "env": {}}],
        "placements": [
            {"model": "b", "replicas": [[0], [1]], "process": 0},
            {"model": "a", "replicas": [[2, 3]], "process": 0},
            {"model": "c", "replicas": [[2]], "process": 0},
        ],
    }
    assert rows["round_robin"]["feasible"] is None
    assert rows["round_robin"]["score"] is None and rows["round_robin"]["layout"] is None
    assert rows["round_robin"]["reason"].startswith("round_robin is")
    assert rows["multicore"]["description"].startswith("one process on all cores")


def test_to_dataframe(small):
    pytest.importorskip("pandas")
    frame = compare(small, optimizer=False).to_dataframe()
    assert list(frame.index) == [
        "multicore",
        "default",
        "greedy",
        "group_sizes",
        "processes",
        "round_robin",
    ]
    assert frame.loc["greedy", "peak_load"] == 0.75
    assert frame.loc["default", "handles"] == 4
    assert bool(frame.loc["multicore", "feasible"]) is True
    assert frame.loc["round_robin", "feasible"] is None
    assert {"headroom", "overlap", "chip_crossings", "memory_overflow_gib", "note"} <= set(
        frame.columns
    )


def test_to_dataframe_without_pandas(small, monkeypatch):
    c = compare(small, policies=["greedy"], optimizer=False)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"needs pandas; install it with: pip install pandas"):
        c.to_dataframe()


def test_a_comparison_is_iterable(small):
    c = compare(small, policies=["greedy", "multicore"], optimizer=False)
    assert isinstance(c, Comparison)
    assert len(c) == 2 and [r.name for r in c] == ["multicore", "greedy"]


# --- the optimizer's row ---------------------------------------------------------------------


def test_the_optimizer_joins(pipelined):
    pytest.importorskip("ncplace.optimize")
    c = compare(pipelined, time_limit=2.0, seed=0)
    row = c.row("optimized")
    assert row.plan is not None and row.layout is not None and row.score is not None
    assert row.score == score(row.layout, pipelined)
    assert row.score.peak_load == pytest.approx(row.plan.objective, abs=1e-6)
    assert row.plan.bound <= row.plan.objective + 1e-9
    assert row.feasible
    best_baseline = min(r.score.peak_load for r in c if r.feasible and r.name != "optimized")
    assert row.score.peak_load <= best_baseline + 1e-9
    assert str(getattr(row.plan.status, "value", row.plan.status)) in row.note
    assert c.best() is not None and c.best().score.headroom == row.score.headroom  # type: ignore[union-attr]
    data = json.loads(json.dumps(c.to_dict()))
    plan = next(r for r in data["rows"] if r["policy"] == "optimized")["plan"]
    assert set(plan) == {"status", "objective", "bound", "gap", "runtime_s"}


def test_the_optimizer_beats_default_on_the_bundled_example():
    pytest.importorskip("ncplace.optimize")
    from pathlib import Path

    mix = Mix.from_file(Path(__file__).resolve().parent.parent / "examples" / "mix.yaml")
    c = compare(mix, policies=["default", "greedy"], time_limit=5.0)
    default, optimized = c.row("default"), c.row("optimized")
    assert not default.feasible and default.score is not None
    assert default.score.peak_load > 1.0  # default overloads a core
    assert optimized.feasible and optimized.score is not None
    assert optimized.score.peak_load == pytest.approx(0.75)
    assert c.names[0] in {"optimized", "greedy"}


def test_an_optimizer_without_a_layout_is_na(small, monkeypatch):
    pytest.importorskip("ncplace.optimize")

    class FakePlan:
        layout = None
        status = "infeasible"
        objective = None
        bound = float("inf")
        gap = None
        explanation = "model 'a' cannot fit"

    module = sys.modules["ncplace.optimize"]
    monkeypatch.setattr(module, "optimize", lambda mix, **kwargs: FakePlan())
    c = compare(small, policies=["greedy"])
    row = c.row("optimized")
    assert row.layout is None and row.plan is not None
    assert row.reason == "no layout found (infeasible): model 'a' cannot fit"
    assert row.note == "infeasible; no layout found (infeasible): model 'a' cannot fit"
    assert c.names == ("greedy", "optimized")
    plan = c.to_dict()["rows"][1]["plan"]
    assert plan == {
        "status": "infeasible",
        "objective": None,
        "bound": None,
        "gap": None,
        "runtime_s": None,
    }


def test_exports():
    for name in ("POLICIES", "Policy", "compare", "Comparison"):
        assert name in ncplace.__all__ and hasattr(ncplace, name)


def test_a_policy_that_changes_copy_counts_says_so():
    inst = ncplace.Instance(cores=4, cores_per_chip=4)
    mix = ncplace.Mix(
        [ncplace.Model("a"), ncplace.Model("b", replicas=2), ncplace.Model("c", replicas=[1, 4])],
        instance=inst,
    )
    table = ncplace.compare(mix, policies=["multicore", "default"], optimizer=False)
    assert table.row("multicore").note == "copies not as the mix asks: a 4 (asks 1), b 4 (asks 2)"
    assert table.row("default").note == ""


def test_equal_headroom_and_overlap_rank_by_chip_crossings():
    mix = Mix(
        [Model("a", cores=2), Model("b", cores=2)], ncplace.Instance(cores=8, cores_per_chip=4)
    )
    inst = mix.instance

    def fixed(starts: dict[str, int]):
        def place(m: Mix) -> ncplace.Layout:
            placements = [
                ncplace.Placement(name, (tuple(range(s, s + 2)),)) for name, s in starts.items()
            ]
            return ncplace.Layout.single_process(inst, placements)

        return place

    table = compare(
        mix,
        policies={"a_straddles": fixed({"a": 3, "b": 0}), "z_aligned": fixed({"a": 4, "b": 0})},
        optimizer=False,
    )
    assert table.names == ("z_aligned", "a_straddles")
    assert [r.score.chip_crossings for r in table] == [0, 1]
