"""ncplace.optimize: the API, the hard rules, the objective levels and the clear outcomes."""

from __future__ import annotations

import itertools
import json
import math

import pytest

import ncplace
from ncplace import (
    ConfigError,
    Instance,
    Layout,
    Mix,
    Model,
    Placement,
    Plan,
    Status,
    optimize,
    score,
)


def check(plan: Plan, mix: Mix) -> ncplace.Score:
    """The certificate every solving test checks: the scorer agrees with the plan."""
    assert plan.layout is not None
    s = score(plan.layout, mix)
    assert s.feasible
    assert s.peak_load == pytest.approx(plan.peak_load, abs=1e-12)
    if plan.objective_name == "peak":
        assert s.peak_load == pytest.approx(plan.objective, abs=1e-6)
    else:
        assert s.overlap == plan.objective
    assert plan.bound <= plan.objective + 1e-9
    assert plan.overlap == s.overlap
    assert plan.score == s
    return s


def cores_of(plan: Plan, name: str) -> list[int]:
    assert plan.layout is not None
    return sorted(c for p in plan.layout.placements_of(name) for c in p.cores)


def four(**kw: object) -> Instance:
    return Instance(cores=4, cores_per_chip=kw.pop("per_chip", 4), **kw)  # type: ignore[arg-type]


def test_spreads_models_one_per_core_with_one_process() -> None:
    mix = Mix([Model(f"m{i}") for i in range(4)], instance=four())
    plan = optimize(mix, time_limit=5)
    s = check(plan, mix)
    assert plan.status is Status.OPTIMAL
    assert (plan.objective, plan.bound, plan.gap) == (1.0, 1.0, 0.0)
    assert s.overlap == 0 and s.max_copies_per_core == 1
    assert plan.layout is not None
    assert len(plan.layout.processes) == 1
    assert plan.layout.processes[0].env["NEURON_RT_VISIBLE_CORES"] == "0-3"
    assert plan.stop_reason == "optimal"
    assert plan.ortools_version == __import__("ortools").__version__


def test_status_is_a_str_enum() -> None:
    assert Status("optimal") is Status.OPTIMAL
    assert Status.INFEASIBLE == "infeasible"
    assert {s.value for s in Status} == {"optimal", "feasible", "infeasible", "unknown"}


def test_peak_first_then_overlap() -> None:
    # 5 unit models on 4 cores: the peak is 2 whatever happens; overlap 1 is the least.
    mix = Mix([Model(f"m{i}") for i in range(5)], instance=four())
    plan = optimize(mix, time_limit=5)
    check(plan, mix)
    assert plan.objective == 2.0
    assert plan.overlap == 1


def test_overlap_objective_trades_peak_for_overlap() -> None:
    # 'big' (2 copies x 1 core, demand 2) and 'a','b','c' (demand 0.5 each) on 4 cores.
    # Peak first: big on 2 cores (load 1 each), a, b, c stacked to reach 1.0 on the other two
    # (peak 1.0 needs two of them on one core), overlap 1. Overlap first: one copy of big... the
    # copy count is fixed, so overlap 1 is forced too; use a range to make them differ.
    mix = Mix(
        [
            Model("big", replicas=(1, 3), rate=3, throughput=1),
            Model("a", rate=1, throughput=2),
        ],
        instance=four(),
    )
    peak = optimize(mix, time_limit=5)
    overlap = optimize(mix, time_limit=5, objective="overlap")
    check(peak, mix)
    check(overlap, mix)
    # Peak first: 3 copies of big at load 1 each, 'a' alone: peak 1, overlap 0.
    assert peak.peak_load == pytest.approx(1.0)
    assert overlap.objective_name == "overlap"
    assert overlap.objective == 0
    assert overlap.peak_load == pytest.approx(1.0)


def test_overlap_first_differs_from_peak_first() -> None:
    # 3 cores worth of work: 'wide' (2 copies x 1 core, demand 1 each copy 0.5) and 3 unit models
    # on 4 cores. Peak first stacks to keep the peak at 1; overlap first cannot avoid overlap 1.
    mix = Mix(
        [
            Model("x", replicas=(1, 4), rate=4, throughput=1),
            Model("y"),
        ],
        instance=four(),
    )
    peak = optimize(mix, time_limit=5)
    over = optimize(mix, time_limit=5, objective="overlap")
    check(peak, mix)
    check(over, mix)
    # Peak first: x on all 4 cores (load 1 each) + y on one: peak 2, overlap 1, or x on 3 cores
    # (4/3 each) + y alone: peak 4/3, overlap 0. So 4/3 with overlap 0.
    assert peak.peak_load == pytest.approx(4 / 3)
    assert peak.overlap == 0
    assert over.overlap == 0
    assert over.peak_load == pytest.approx(4 / 3)


def test_exclusive_model_shares_no_core() -> None:
    mix = Mix(
        [Model("ex", cores=2, exclusive=True, rate=1, throughput=4)]
        + [Model(f"m{i}") for i in range(3)],
        instance=four(),
    )
    plan = optimize(mix, time_limit=5)
    s = check(plan, mix)
    assert s.exclusive_violations == 0
    ex = set(cores_of(plan, "ex"))
    assert len(ex) == 2
    assert all(not ex & set(cores_of(plan, f"m{i}")) for i in range(3))
    assert plan.objective == 2.0  # three unit models squeezed on the two other cores


def test_memory_per_chip_is_respected() -> None:
    # Two chips of 2 cores with 4 GiB each; 'a' and 'b' (3 GiB) cannot share a chip although
    # stacking everything on one chip would not change the peak.
    inst = Instance(cores=4, cores_per_chip=2, chip_memory_gib=4)
    mix = Mix(
        [Model("a", memory_gib=3), Model("b", memory_gib=3), Model("c", rate=1, throughput=4)],
        instance=inst,
    )
    plan = optimize(mix, time_limit=5)
    s = check(plan, mix)
    assert s.memory_overflow_gib == 0
    assert inst.chip_of(cores_of(plan, "a")[0]) != inst.chip_of(cores_of(plan, "b")[0])


def test_pinned_start_is_kept() -> None:
    mix = Mix([Model("p", cores=2, start=1), Model("q"), Model("r")], instance=four())
    plan = optimize(mix, time_limit=5)
    check(plan, mix)
    assert cores_of(plan, "p") == [1, 2]
    assert plan.objective == 1.0
    assert sorted(cores_of(plan, "q") + cores_of(plan, "r")) == [0, 3]


def test_auto_replicas_fill_the_machine() -> None:
    mix = Mix([Model("hot", replicas="auto", rate=2, throughput=1)], instance=four())
    plan = optimize(mix, time_limit=5)
    check(plan, mix)
    assert plan.objective == pytest.approx(0.5)  # 4 copies of demand 2
    assert plan.layout is not None
    (placement,) = plan.layout.placements
    assert placement.replicas == ((0,), (1,), (2,), (3,))


def test_replica_range_is_respected() -> None:
    mix = Mix([Model("hot", cores=1, replicas=(1, 2), rate=2, throughput=1)], instance=four())
    plan = optimize(mix, time_limit=5)
    check(plan, mix)
    assert plan.objective == pytest.approx(1.0)
    assert len(cores_of(plan, "hot")) == 2


def test_auto_replicas_with_pipeline_cores() -> None:
    mix = Mix(
        [Model("pipe", cores=2, replicas="auto", rate=3, throughput=1), Model("small")],
        instance=Instance(cores=8, cores_per_chip=4),
    )
    plan = optimize(mix, time_limit=5)
    check(plan, mix)
    # 3 copies on 6 cores (load 1 each) and 'small' alone: peak 1.0; 4 copies would stack 'small'.
    assert plan.objective == pytest.approx(1.0)
    assert len(cores_of(plan, "pipe")) == 6
    assert plan.overlap == 0


def test_split_mode_places_copies_apart() -> None:
    # The exclusive pinned model sits in the middle: a 2-copy block cannot fit around it, two
    # separate copies can.
    mix = Mix(
        [Model("ex", cores=2, start=1, exclusive=True), Model("twin", replicas=2)],
        instance=four(),
    )
    block = optimize(mix, time_limit=5)
    split = optimize(mix, time_limit=5, split_replicas=True)
    check(split, mix)
    assert split.status is Status.OPTIMAL
    assert cores_of(split, "twin") == [0, 3]
    assert split.layout is not None
    assert len(split.layout.placements_of("twin")) == 2  # one handle per copy
    # Without the flag no block fits: infeasible unless a baseline places the copies apart.
    if block.layout is None:
        assert block.status is Status.INFEASIBLE
        assert "'twin'" in (block.explanation or "")
    else:
        assert block.status is Status.FEASIBLE
        assert block.source.startswith("baseline:")
        assert "one block per model" in (block.explanation or "")


def test_chip_crossings_are_avoided() -> None:
    # A 2-core pipeline and two 1-core models on 2 chips of 2 cores: every layout has peak 1 and
    # overlap 0 only if the pipeline takes a whole chip.
    mix = Mix(
        [
            Model("pipe", cores=2),
            Model("a", rate=1, throughput=2),
            Model("b", rate=1, throughput=2),
        ],
        instance=Instance(cores=4, cores_per_chip=2),
    )
    plan = optimize(mix, time_limit=5)
    s = check(plan, mix)
    assert s.chip_crossings == 0
    assert cores_of(plan, "pipe") in ([0, 1], [2, 3])


def test_free_cores_are_kept_at_the_high_end() -> None:
    mix = Mix([Model("a"), Model("b")], instance=Instance(cores=8, cores_per_chip=4))
    plan = optimize(mix, time_limit=5)
    check(plan, mix)
    assert sorted(cores_of(plan, "a") + cores_of(plan, "b")) == [0, 1]
    assert plan.layout is not None
    assert plan.layout.processes[0].cores == (0, 1)
    assert plan.layout.processes[0].env["NEURON_RT_VISIBLE_CORES"] == "0-1"
    assert plan.score is not None and plan.score.largest_free_block == 6


def test_current_layout_is_kept_when_it_is_optimal() -> None:
    inst = Instance(cores=8, cores_per_chip=4)
    mix = Mix([Model("a"), Model("b")], instance=inst)
    current = Layout.single_process(inst, [Placement("a", ((5,),)), Placement("b", ((2,),))])
    plan = optimize(mix, time_limit=5, current=current)
    check(plan, mix)
    assert cores_of(plan, "a") == [5]
    assert cores_of(plan, "b") == [2]


def test_current_layout_moves_only_what_lowers_the_peak() -> None:
    inst = Instance(cores=8, cores_per_chip=4)
    mix = Mix([Model("a"), Model("b"), Model("c")], instance=inst)
    # a and b stacked on core 6, c on core 3: moving one of a, b suffices.
    current = Layout.single_process(
        inst, [Placement("a", ((6,),)), Placement("b", ((6,),)), Placement("c", ((3,),))]
    )
    plan = optimize(mix, time_limit=5, current=current)
    check(plan, mix)
    assert plan.objective == 1.0
    assert cores_of(plan, "c") == [3]
    assert (cores_of(plan, "a") == [6]) != (cores_of(plan, "b") == [6])


def test_same_seed_same_layout() -> None:
    mix = Mix(
        [Model(f"m{i}", cores=1 + i % 2, rate=1 + i, throughput=4) for i in range(7)],
        instance=Instance(cores=8, cores_per_chip=4),
    )
    first = optimize(mix, time_limit=5, seed=3)
    second = optimize(mix, time_limit=5, seed=3)
    assert first.layout is not None and second.layout is not None
    assert first.layout.canonical() == second.layout.canonical()
    assert first.objective == second.objective


def test_identical_models_are_interchangeable() -> None:
    mix = Mix(
        [Model(f"m{i}", cores=2) for i in range(3)], instance=Instance(cores=8, cores_per_chip=4)
    )
    plan = optimize(mix, time_limit=5)
    check(plan, mix)
    assert plan.status is Status.OPTIMAL
    assert plan.objective == 1.0
    starts = [cores_of(plan, f"m{i}")[0] for i in range(3)]
    assert starts == sorted(starts)


def test_impossible_mix_is_infeasible_with_an_explanation() -> None:
    # Three 5 GiB models, two chips of 8 GiB: every chip holds at most one of them.
    inst = Instance(cores=4, cores_per_chip=2, chip_memory_gib=8)
    mix = Mix([Model(n, memory_gib=5) for n in "abc"], instance=inst)
    plan = optimize(mix, time_limit=5)
    assert plan.status is Status.INFEASIBLE
    assert plan.layout is None and plan.score is None
    assert plan.peak_load is None and plan.overlap is None
    assert math.isinf(plan.objective) and math.isinf(plan.bound)
    assert plan.explanation is not None
    assert "memory" in plan.explanation
    assert "'a'" in plan.explanation and "'c'" in plan.explanation
    assert "5 GiB" in plan.explanation and "8 GiB" in plan.explanation


def test_pinned_exclusive_block_splitting_the_machine_is_explained() -> None:
    # 'mid' takes cores 1-2 to itself: no two consecutive cores are left for 'wide'.
    mix = Mix(
        [
            Model("mid", cores=2, start=1, exclusive=True),
            Model("wide", cores=2),
            Model("free"),
        ],
        instance=four(),
    )
    plan = optimize(mix, time_limit=5)
    assert plan.status is Status.INFEASIBLE
    assert plan.layout is None
    assert plan.explanation is not None
    assert "'mid'" in plan.explanation and "'wide'" in plan.explanation
    assert "'free'" not in plan.explanation  # not part of the conflict
    assert "pinned at core 1" in plan.explanation and "exclusive" in plan.explanation


def test_block_wider_than_the_instance_is_explained_without_solving() -> None:
    mix = Mix([Model("wide", cores=2, replicas=3)], instance=four())
    plan = optimize(mix, time_limit=5)
    if plan.layout is None:
        assert plan.status is Status.INFEASIBLE
        assert plan.explanation is not None
        assert "3 copies x 2 cores = 6 cores" in plan.explanation
        assert plan.levels == ()
    else:  # a baseline placed the copies some other way
        check(plan, mix)
        assert "6 cores" in (plan.explanation or "")


def test_zero_time_limit_returns_at_once() -> None:
    mix = Mix([Model(f"m{i}") for i in range(6)], instance=four())
    plan = optimize(mix, time_limit=0)
    assert plan.levels == ()
    assert plan.stop_reason.startswith("time limit 0")
    if plan.layout is None:
        assert plan.status is Status.UNKNOWN
        assert math.isinf(plan.gap)
    else:
        check(plan, mix)
        assert plan.source.startswith("baseline:")
        assert plan.status in (Status.FEASIBLE, Status.OPTIMAL)


def test_never_worse_than_a_baseline_that_needs_more_copies() -> None:
    from ncplace.optimize.baselines import run_baselines

    mix = Mix([Model(f"m{i}", rate=1 + i, throughput=3) for i in range(6)], instance=four())
    plan = optimize(mix, time_limit=5)
    check(plan, mix)
    for b in run_baselines(mix):
        assert plan.peak_load <= b.score.peak_load + 1e-9  # type: ignore[operator]


def test_plan_to_dict_is_json() -> None:
    mix = Mix([Model("a", cores=2), Model("b")], instance=four())
    plan = optimize(mix, time_limit=5)
    data = json.loads(json.dumps(plan.to_dict()))
    cert = data["certificate"]
    assert cert["status"] == "optimal"
    assert cert["ortools_version"] == plan.ortools_version
    assert cert["objective"] == plan.objective and cert["bound"] == plan.bound
    assert [lv["name"] for lv in cert["levels"]][:2] == ["peak", "overlap"]
    assert {p["model"] for p in data["layout"]["placements"]} == {"a", "b"}
    assert data["score"]["peak_load"] == plan.peak_load
    infeasible = optimize(
        Mix([Model(n, memory_gib=5) for n in "abc"], instance=Instance(4, 2, 8)), time_limit=5
    )
    data = json.loads(json.dumps(infeasible.to_dict()))
    assert data["layout"] is None and data["certificate"]["objective"] is None
    assert data["explanation"]


def test_plan_code_uses_codegen() -> None:
    mix = Mix([Model("a", cores=2), Model("b")], instance=four())
    plan = optimize(mix, time_limit=5)
    code = plan.code()
    assert "neuron_cores_context" in code
    assert "a.pt" in code and "b.pt" in code


def test_plan_is_frozen() -> None:
    plan = optimize(Mix([Model("a")], instance=four()), time_limit=5)
    with pytest.raises(AttributeError):
        plan.objective = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"time_limit": -1}, "time_limit"),
        ({"time_limit": math.inf}, "time_limit"),
        ({"seed": -2}, "seed"),
        ({"workers": 0}, "workers"),
        ({"objective": "speed"}, "objective 'speed'"),
        ({"split_replicas": "yes"}, "split_replicas"),
        ({"current": "layout"}, "current must be a Layout"),
        ({"progress": 3}, "progress must be a callable"),
    ],
)
def test_bad_arguments_raise_config_errors(kwargs: dict[str, object], match: str) -> None:
    mix = Mix([Model("a")], instance=four())
    with pytest.raises(ConfigError, match=match):
        optimize(mix, **kwargs)  # type: ignore[arg-type]


def test_current_on_another_machine_is_rejected() -> None:
    mix = Mix([Model("a")], instance=four())
    other = Layout.single_process(Instance(cores=8), [Placement("a", ((0,),))])
    with pytest.raises(ConfigError, match="8 cores"):
        optimize(mix, current=other)


def test_inexact_demands_keep_the_certificate() -> None:
    # Float demands without a small fraction: the fallback scale with rounding down.
    mix = Mix(
        [Model(f"m{i}", rate=100.0 + 7.3 * i, throughput=333.3 + i) for i in range(6)],
        instance=four(),
    )
    plan = optimize(mix, time_limit=5)
    check(plan, mix)
    assert not plan.load_exact
    assert plan.status is Status.OPTIMAL


def test_parallel_workers_give_the_same_optimum() -> None:
    mix = Mix([Model(f"m{i}", rate=i + 1, throughput=2) for i in range(5)], instance=four())
    one = optimize(mix, time_limit=5)
    two = optimize(mix, time_limit=5, workers=2)
    check(two, mix)
    assert one.objective == pytest.approx(two.objective)
    assert two.status is Status.OPTIMAL


def test_torch_neuronx_mix() -> None:
    mix = Mix(
        [Model(f"m{i}", rate=i + 1, throughput=4) for i in range(4)], instance="inf2.24xlarge"
    )
    plan = optimize(mix, time_limit=5)
    check(plan, mix)
    assert plan.objective == pytest.approx(1.0)
    assert all(len(p.cores) == 1 for p in plan.layout.placements)  # type: ignore[union-attr]


def _progress_mix() -> Mix:
    """Fourteen models of 1-2 cores with uneven demands on 8 cores: several improving
    solutions and bound steps before the optimum."""
    return Mix(
        [
            Model(f"m{i}", cores=1 + (i % 3 == 0), rate=7 + 13 * i % 37, throughput=40)
            for i in range(14)
        ],
        instance=Instance(cores=8, cores_per_chip=4),
    )


@pytest.mark.parametrize("objective", ["peak", "overlap"])
def test_progress_is_monotone_and_ends_at_the_plan(objective: str) -> None:
    mix = _progress_mix()
    calls: list[tuple[float, float | None, float | None]] = []
    plan = optimize(mix, time_limit=2, objective=objective, progress=lambda *a: calls.append(a))
    check(plan, mix)
    assert len(calls) >= 2
    assert calls[-1][1:] == (plan.objective, plan.bound)
    elapsed = [c[0] for c in calls]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0
    incumbents = [c[1] for c in calls]
    bounds = [c[2] for c in calls]
    assert all(x is not None for x in incumbents + bounds)
    for a, b in itertools.pairwise(incumbents):
        assert b <= a + 1e-9  # type: ignore[operator]
    for a, b in itertools.pairwise(bounds):
        assert b >= a - 1e-9  # type: ignore[operator]
    assert all(b <= x + 1e-9 for x, b in zip(incumbents, bounds, strict=True))  # type: ignore[operator]
    if objective == "overlap":
        assert all(float(x).is_integer() for x in incumbents)  # type: ignore[arg-type]


def test_progress_reports_real_units() -> None:
    # Peak 2.0 is the optimum of 5 unit models on 4 cores, whatever the integer scale.
    mix = Mix([Model(f"m{i}", rate=3, throughput=3) for i in range(5)], instance=four())
    calls: list[tuple[float, float | None, float | None]] = []
    plan = optimize(mix, time_limit=2, progress=lambda *a: calls.append(a))
    assert plan.status is Status.OPTIMAL
    assert calls[-1][1:] == (2.0, 2.0)
    assert all(x is not None and x >= 1.25 for _, x, _ in calls)  # total work / 4 cores


def test_progress_of_an_infeasible_mix_ends_without_values() -> None:
    inst = Instance(cores=4, cores_per_chip=2, chip_memory_gib=8)
    mix = Mix([Model(n, memory_gib=5) for n in "abc"], instance=inst)
    calls: list[tuple[float, float | None, float | None]] = []
    plan = optimize(mix, time_limit=2, progress=lambda *a: calls.append(a))
    assert plan.status is Status.INFEASIBLE
    assert calls and calls[-1][1:] == (None, None)


def test_progress_callback_errors_propagate() -> None:
    def fail(*_: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        optimize(_progress_mix(), time_limit=2, progress=fail)


def test_cli_progress_shows_the_plan_numbers() -> None:
    import io

    from ncplace.cli import Progress

    mix = _progress_mix()
    shown = Progress("solving", 2.0, io.StringIO())  # not a terminal: draws nothing itself
    assert not shown.active
    plan = optimize(mix, time_limit=2, progress=shown.update)
    line = shown.line()
    assert line.startswith("ncplace: solving: ")
    assert f"incumbent {plan.objective:.4g}" in line
    assert line.endswith(f"bound {plan.bound:.4g}")


def test_packing_bound_proves_two_big_models_share_a_core() -> None:
    # Five models of 0.6 on four cores: the energy bound is 0.75, but two of them must share a
    # core (no two fit under 1.2 otherwise), which the bin-packing bound sees before any search.
    from ncplace.optimize.packing import packing_bound
    from ncplace.optimize.problem import build_problem

    mix = Mix([Model(f"m{i}", rate=3, throughput=5) for i in range(5)], instance=four())
    problem = build_problem(mix, False)
    scale = problem.load_scale
    assert packing_bound(problem, round(0.6 * scale), round(3 * scale)) == round(1.2 * scale)
    plan = optimize(mix, time_limit=0.05, deterministic=True)
    check(plan, mix)
    assert plan.status is Status.OPTIMAL
    assert plan.objective == pytest.approx(1.2) and plan.bound == pytest.approx(1.2)


def test_block_infeasible_mix_suggests_copies_apart():
    inst = ncplace.Instance(cores=5, cores_per_chip=1)
    mix = ncplace.Mix(
        [
            ncplace.Model("e", start=2, exclusive=True),
            ncplace.Model("a", cores=2, replicas=2, rate=1, throughput=2),
        ],
        instance=inst,
    )
    plan = ncplace.optimize(mix, time_limit=2)
    assert plan.status == ncplace.Status.INFEASIBLE and plan.layout is None
    assert plan.explanation.endswith(
        "copies placed apart may fit: try split_replicas=True (--split-replicas)"
    )
    apart = ncplace.optimize(mix, time_limit=2, split_replicas=True)
    assert apart.status == ncplace.Status.OPTIMAL
    assert ncplace.score(apart.layout, mix).peak_load == pytest.approx(apart.objective, abs=1e-6)
    assert apart.objective == pytest.approx(1.0)


def _finish_with_baseline(mix, status, block_bound, baseline_layout):
    from ncplace.optimize.baselines import Baseline
    from ncplace.optimize.problem import build_problem
    from ncplace.optimize.solve import _finish

    problem = build_problem(mix, False)
    common = {
        "mix": mix,
        "objective_name": "peak",
        "ortools_version": "test",
        "seed": 0,
        "split_replicas": False,
        "load_scale": problem.load_scale,
        "load_exact": problem.load_exact,
    }
    top = Baseline("by-hand", baseline_layout, ncplace.score(baseline_layout, mix))
    return _finish(problem, None, top, status, block_bound, "optimal", None, (), 0.0, common)


def _two_models_side_by_side():
    """Demands 0.75 and 0.25 on nc0 and nc1 of a 4-core machine: peak 0.75, floor 0.25."""
    inst = ncplace.Instance(cores=4, cores_per_chip=4)
    mix = ncplace.Mix(
        [ncplace.Model("a", rate=3, throughput=4), ncplace.Model("b", rate=1, throughput=4)],
        instance=inst,
    )
    layout = ncplace.Layout.single_process(
        inst, [ncplace.Placement("a", ((0,),)), ncplace.Placement("b", ((1,),))]
    )
    return mix, layout


def test_a_baseline_returned_for_a_later_level_keeps_a_proven_first_level():
    mix, layout = _two_models_side_by_side()
    proven = _finish_with_baseline(mix, ncplace.Status.OPTIMAL, 0.75, layout)
    assert (proven.status, proven.objective, proven.bound, proven.gap) == ("optimal", 0.75, 0.75, 0)
    # A first level proven only down to 0.5 does not prove the baseline's 0.75.
    unproven = _finish_with_baseline(mix, ncplace.Status.OPTIMAL, 0.5, layout)
    assert unproven.status == ncplace.Status.FEASIBLE
    assert unproven.bound == pytest.approx(0.5) and unproven.gap == pytest.approx(1 / 3)


def test_a_baseline_outside_an_infeasible_block_model_is_bounded_by_the_floor_only():
    mix, layout = _two_models_side_by_side()
    plan = _finish_with_baseline(mix, ncplace.Status.INFEASIBLE, math.inf, layout)
    # sum of cores x demand over the cores: (0.75 + 0.25) / 4
    assert plan.status == ncplace.Status.FEASIBLE
    assert plan.bound == pytest.approx(0.25) and plan.gap == pytest.approx(2 / 3)


def test_bound_scope_names_the_layouts_a_proof_covers() -> None:
    """At the floor ``sum k d / N`` the proof covers every layout; above it, only the class the
    optimizer searched (blocks, or copies apart), and the CLI and certificate say so."""
    inst = Instance(cores=4, cores_per_chip=4, chip_memory_gib=32)
    even = Mix(tuple(Model(f"m{i}", rate=5, throughput=10) for i in range(4)), inst)
    plan = optimize(even, time_limit=2)
    assert plan.status == Status.OPTIMAL and plan.objective == pytest.approx(0.5)
    assert plan.bound_scope == "every layout"
    assert plan.to_dict()["certificate"]["bound_scope"] == "every layout"
    lumpy = Mix(
        (Model("big", cores=2, rate=9, throughput=10), Model("small", rate=1, throughput=10)),
        inst,
    )
    block = optimize(lumpy, time_limit=2)
    assert block.status == Status.OPTIMAL and block.objective == pytest.approx(0.9)
    assert block.bound_scope == "one block per model"
    apart = optimize(lumpy, time_limit=2, split_replicas=True)
    assert apart.bound_scope == "copies placed apart"
