"""The whole ``recommend`` under ``--time-limit`` (issue 16, item 2): the latency report's
deadline and its honest words when cut, draws shared by every scale, the comparison table's
deadline, the optimizer reusing the table's layouts, and the tabu search's clock inside a move.
No test here reads a clock against a number: deadlines are set in the past, or far away."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

import ncplace
from ncplace import Layout, Mix, Model
from ncplace.cli import main
from ncplace.comparison import NOT_RUN, NOT_RUN_COPIES, compare
from ncplace.latency.evaluate import _model_latencies, scale_bracket, simulate_traffic
from ncplace.latency.report import latency_report
from ncplace.latency.simulation import calls_from, default_duration, draw_all, draw_calls
from ncplace.latency.traffic import traffic_of
from ncplace.optimize import optimize
from ncplace.optimize.baselines import run_baselines
from ncplace.optimize.problem import build_problem
from ncplace.optimize.tabu import _Tabu
from ncplace.policies import run_order
from tests.test_project import fresh_interpreter

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def bundled() -> tuple[Layout, Mix]:
    mix = Mix.from_file(EXAMPLES / "mix.yaml")
    layout = optimize(mix, objective="peak", time_limit=1, deterministic=True).layout
    assert layout is not None
    return layout, mix


def test_draws_cut_for_any_scale_are_the_calls_drawn_for_it(bundled: tuple[Layout, Mix]) -> None:
    layout, mix = bundled
    traffic = traffic_of(layout, mix, 0.25, "test")
    span = default_duration(traffic)
    draws = draw_all(traffic, span, seed=3)
    for scale in (0.3, 1.0, 1.7):
        direct = draw_calls(traffic, scale, span / scale, seed=3)
        cut = calls_from(draws, traffic, scale, span / scale)
        assert cut.counts == direct.counts
        for field in ("arrival", "model", "flow", "multiplier"):
            assert np.array_equal(getattr(cut, field), getattr(direct, field))
    with pytest.raises(ValueError, match="do not cover"):
        calls_from(draws, traffic, 2.0, span)


def test_each_models_percentiles_are_numpys(bundled: tuple[Layout, Mix]) -> None:
    layout, mix = bundled
    traffic = traffic_of(layout, mix, 0.25, "test")
    calls = draw_calls(traffic, 1.0, 2.0, seed=1)
    response = np.random.default_rng(7).exponential(0.004, len(calls.arrival))
    found = _model_latencies(traffic, calls, response)
    start = 0
    for m, count, got in zip(traffic.models, calls.counts, found, strict=True):
        times = (response[start : start + count] + m.overhead_s) * 1000.0
        start += count
        p50, p99 = np.percentile(times, [50, 99])
        assert (got.requests, got.p50_ms, got.p99_ms) == (count, p50, p99)
        assert got.mean_ms == pytest.approx(times.mean(), rel=1e-12)
        assert got.slo_attainment == np.mean(times <= m.slo_ms)


def test_a_bracket_cut_before_any_simulation_knows_only_the_ceiling(
    bundled: tuple[Layout, Mix],
) -> None:
    layout, mix = bundled
    traffic = traffic_of(layout, mix, 0.25, "test")
    ceiling = ncplace.score(layout, mix).headroom
    found = scale_bracket(traffic, 0.25, 0, ceiling, deadline=time.perf_counter() - 1)
    assert (found.low, found.high, found.complete) == (0.0, ceiling, False)
    whole = scale_bracket(traffic, 0.25, 0, ceiling)
    assert whole.complete and whole.low == ncplace.max_scale(layout, mix)
    assert simulate_traffic(traffic, 0.25, whole.low, None, 0).meets_targets


def test_a_report_past_its_deadline_says_what_it_did_not_settle(
    bundled: tuple[Layout, Mix],
) -> None:
    layout, mix = bundled
    report = latency_report(layout, mix, deadline=time.perf_counter() - 1)
    assert report.today.meets_targets and not report.complete
    assert (report.max_scale, report.sweep, report.sweep_cut) == (1.0, (), True)
    assert report.max_scale_below == report.headroom == pytest.approx(4 / 3)
    assert report.verdict == (
        "meets every target at today's traffic; the time limit stopped the search for alpha*: "
        "at least 1.00x, at most 1.33x (the busy-time headroom)"
    )
    data = report.to_dict()
    assert (data["max_scale_below"], data["sweep_complete"]) == (report.headroom, False)
    whole = latency_report(layout, mix)
    assert whole.complete and whole.to_dict()["max_scale_below"] is None
    assert whole.max_scale == ncplace.max_scale(layout, mix)
    assert [s for s, _ in whole.sweep] == [0.0, 0.25, 0.5, 1.0]


def test_recommend_skips_the_report_when_the_limit_is_spent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("ncplace.cli.REPORT_SLACK_S", -1e6)
    assert main(["recommend", "--time-limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "Latency: not simulated: --time-limit left too little time for the latency report" in out
    assert "Max scale" not in out
    assert main(["recommend", "--time-limit", "1", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["latency"] is None and data["latency_note"].startswith("not simulated")
    assert main(["recommend", "--time-limit", "1", "--deterministic", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["latency"]["sweep_complete"] and data["latency"]["max_scale_below"] is None


def test_the_table_starts_no_policy_after_its_deadline_once_one_is_feasible() -> None:
    inst = ncplace.Instance(cores=4, cores_per_chip=4)
    mix = Mix([Model("a", rate=100, throughput=1000), Model("b")], instance=inst)
    table = compare(mix, optimizer=False, deadline=time.perf_counter() - 1)
    first = run_order(ncplace.POLICIES)[0]
    assert first == "greedy"
    assert table.row(first).feasible
    skipped = sorted(r.name for r in table.rows if r.reason == NOT_RUN)
    assert skipped == sorted(name for name in ncplace.POLICIES if name != first)
    assert [b.name for b in run_baselines(mix, time.perf_counter() - 1)] == ["greedy"]
    everything = [b.name for b in run_baselines(mix)]
    registry = list(ncplace.POLICIES)
    assert len(everything) > 1 and everything == sorted(everything, key=registry.index)


def test_the_optimizer_takes_the_layouts_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    mix = Mix.from_file(EXAMPLES / "mix.yaml")
    made = {}
    for name, policy in ncplace.POLICIES.items():
        try:
            made[name] = policy(mix)
        except ncplace.Error:
            continue
    expected = optimize(mix, objective="peak", time_limit=1, deterministic=True)

    def refuse(mix: Mix) -> Layout:
        raise AssertionError("a policy ran again")

    monkeypatch.setattr(
        "ncplace.policies.POLICIES", dict.fromkeys(ncplace.POLICIES, refuse), raising=True
    )
    given = optimize(mix, objective="peak", time_limit=1, deterministic=True, baselines=made)
    assert given.layout == expected.layout and given.objective == expected.objective
    assert [b.name for b in run_baselines(mix, given={"greedy": made["greedy"]})] == ["greedy"]
    with pytest.raises(ncplace.ConfigError, match="baselines must map policy names to Layouts"):
        optimize(mix, baselines={"greedy": "nc0"})  # type: ignore[dict-item]


def test_the_tabu_search_looks_at_the_clock_inside_a_move() -> None:
    inst = ncplace.Instance(cores=64, cores_per_chip=4)
    models = [Model(f"m{i}", rate=10 + i % 7, throughput=100) for i in range(300)]
    mix = Mix(models, instance=inst)
    problem = build_problem(mix, False)
    stacked = {m.index: (1, (0,)) for m in problem.models}  # every model on core 0
    tabu = _Tabu(problem, stacked, budget=10**9, seed=0, deadline=time.perf_counter() - 1)
    result = tabu.run(lower=0, patience=10**9)
    assert result.wall_cut
    assert result.steps <= 2 * 4096 + 1  # one move scan is 300 x 63 starts: cut within it


def test_compare_past_its_deadline_judges_nothing_and_says_so() -> None:
    mix = Mix.from_file(EXAMPLES / "vision-skewed-inf1-xlarge.yaml")
    table = compare(mix, time_limit=5, deadline=time.perf_counter() - 1)
    optimized = table.row("optimized")
    assert optimized.layout is None and optimized.reason == NOT_RUN
    alone = compare(mix, policies=[], time_limit=5, deadline=time.perf_counter() - 1)
    plan = alone.row("optimized").plan
    assert plan is not None and plan.runtime_s < 5 and plan.layout is not None
    judged = [r for r in table.rows if r.latency is not None]
    laid_out = [r for r in table.rows if r.layout is not None]
    assert judged == [] and laid_out
    assert (
        table.note == f"{len(laid_out)} layout(s) not judged by latency: the time limit had passed"
    )
    assert table.to_markdown().endswith(f"Note: {table.note}.")
    assert table.to_dict()["note"] == table.note


def test_a_row_whose_alpha_search_was_cut_shows_a_lower_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mix = Mix.from_file(EXAMPLES / "mix.yaml")
    monkeypatch.setattr("ncplace.latency.evaluate.first_run_fits", lambda mix, deadline: True)
    table = compare(mix, policies=["greedy"], optimizer=False, deadline=time.perf_counter() - 1)
    row = table.row("greedy")
    assert row.latency is not None and not row.latency.settled
    assert row.latency.max_scale == 1.0  # today's traffic met every target; nothing above tried
    assert "| >=1.00 |" in table.to_markdown()
    assert table.note.startswith("max scale >= x: the time limit stopped")
    assert row.to_dict()["latency"]["max_scale_settled"] is False


def test_an_slo_plan_out_of_time_names_the_baselines_it_did_not_simulate() -> None:
    mix = Mix.from_file(EXAMPLES / "vision-skewed-inf1-xlarge.yaml")
    rushed = optimize(mix, time_limit=0.001)
    assert rushed.objective_name == "slo" and rushed.layout is not None
    assert rushed.stop_reason.endswith("; the time limit left no time to judge layouts by latency")
    assert rushed.max_scale is None
    full = optimize(mix, time_limit=0.001, deterministic=True)
    assert "the time limit" not in full.stop_reason
    assert full.max_scale is not None


def test_a_ctrl_c_during_the_latency_report_still_prints_the_plan(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("ncplace.latency.report.latency_report", interrupted)
    assert main(["recommend", "--time-limit", "1", "--format", "json"]) == 130
    data = json.loads(capsys.readouterr().out)
    assert data["latency"] is None and data["latency_note"].startswith("not simulated: interrupted")
    assert data["code"] and data["certificate"]["status"] in ("optimal", "feasible")


@pytest.mark.parametrize("bad", ["soon", float("nan"), True, [1.0]])
def test_a_deadline_must_be_perf_counter_seconds(bad: object, bundled: tuple[Layout, Mix]) -> None:
    layout, mix = bundled
    expected = r"compare: deadline must be time\.perf_counter\(\) seconds or None, got "
    with pytest.raises(ncplace.ConfigError, match=expected):
        compare(mix, optimizer=False, deadline=bad)  # type: ignore[arg-type]
    with pytest.raises(ncplace.ConfigError, match="latency report: deadline must be"):
        latency_report(layout, mix, deadline=bad)  # type: ignore[arg-type]


def test_an_estimate_cut_inside_a_scale_keeps_what_it_had_proved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scale's estimate that reaches the deadline stops there (one scale may cost ten times
    another): alpha* is then the largest scale already seen to meet every target, a lower bound
    of the estimate run to the end."""
    import importlib

    from ncplace.latency.traffic import resolve_switch_ms

    est = importlib.import_module("ncplace.latency.estimate")
    mix = Mix.from_file(EXAMPLES / "bert-pipeline-inf1-6xlarge.yaml")
    layout = ncplace.POLICIES["greedy"](mix)
    traffic = traffic_of(layout, mix, resolve_switch_ms(None, "estimate"), "estimate")
    whole = est.estimate_traffic(traffic, 1.0)
    real = est._estimate_models
    scales: list[float] = []

    def cut_fourth(traffic: object, scale: float, shape: object, deadline: object = None) -> object:
        scales.append(scale)
        if deadline is not None and len(scales) == 4:
            raise est._Late
        return real(traffic, scale, shape, deadline)

    monkeypatch.setattr(est, "_estimate_models", cut_fourth)
    cut = est.estimate_traffic(traffic, 1.0, 0.0, time.perf_counter() + 3600)
    assert len(scales) == 4
    assert 0 < cut.max_scale <= whole.max_scale
    with pytest.raises(est._Late):
        real(traffic, 1.0, est._Shape(list(range(traffic.cores)), {}), time.perf_counter() - 1)


def test_a_policy_whose_copies_would_end_past_the_deadline_does_not_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once a row is feasible, a policy whose copies alone would run past the deadline gets an
    ``n/a`` row (multicore on 10,000 models and 256 cores loads 2.56 million copies): at one
    second a copy and a minute left, default's five copies run, multicore's 5 x 16 do not."""
    monkeypatch.setattr("ncplace.policies.SECONDS_PER_COPY", 1.0)
    inst = ncplace.Instance(cores=16, cores_per_chip=4)
    mix = Mix([Model(f"m{i}", rate=10, throughput=1000) for i in range(5)], instance=inst)
    assert ncplace.POLICIES["multicore"].copies_to_load(mix) == 80
    assert ncplace.POLICIES["default"].copies_to_load(mix) == 5
    table = compare(mix, optimizer=False, deadline=time.perf_counter() + 60)
    assert table.row("multicore").reason == NOT_RUN_COPIES
    assert table.row("default").layout is not None and table.row("greedy").feasible
    kept = [b.name for b in run_baselines(mix, time.perf_counter() + 60)]
    assert "multicore" not in kept and "greedy" in kept


def test_the_model_is_not_built_when_its_build_would_not_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the wall clock the model is not built when less time is left than
    ``MODEL_BUILD_FACTOR`` times what the problem took (the CP-SAT model takes 2.3-5.7 times as
    long): the plan is then the best baseline, and says why; ``deterministic=True`` builds it."""
    import importlib

    solve = importlib.import_module("ncplace.optimize.solve")
    mix = Mix.from_file(EXAMPLES / "mix.yaml")
    monkeypatch.setattr(solve, "MODEL_BUILD_FACTOR", 1e12)
    plan = optimize(mix, objective="peak", time_limit=5)
    assert plan.stop_reason.startswith("time limit (no time left to build the model)")
    assert plan.source.startswith("baseline:") and plan.runtime_s < 5
    built = optimize(mix, objective="peak", time_limit=5, deterministic=True)
    assert "no time left" not in built.stop_reason


def test_a_plan_with_no_time_to_search_does_not_import_or_tools() -> None:
    """OR-Tools (and pandas, which it imports) take about 0.3 s to load: a plan that has no
    time to search, here ``time_limit=0``, returns the best baseline without loading them."""
    script = (
        "import sys, ncplace\n"
        f"mix = ncplace.Mix.from_file({str(EXAMPLES / 'mix.yaml')!r})\n"
        "plan = ncplace.optimize(mix, objective='peak', time_limit=0)\n"
        "assert plan.stop_reason.startswith('time limit 0'), plan.stop_reason\n"
        "assert plan.layout is not None\n"
        "print(sorted(m for m in ('ortools', 'pandas') if m in sys.modules))\n"
    )
    out = fresh_interpreter(script)
    assert out.strip() == "[]"
