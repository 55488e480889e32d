"""Latency everywhere a layout is judged: compare's columns and order, recommend's report and
verdict (text and JSON), --switch-ms, and plot.latency."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from matplotlib.figure import Figure

import ncplace
from ncplace import Layout, Mix, Model, Placement, plot
from ncplace.cli import main
from ncplace.comparison import compare
from ncplace.latency import max_scale, simulate
from ncplace.latency.report import latency_report

HERE = Path(__file__).parent
VISION = HERE.parent / "examples" / "vision-skewed-inf1-xlarge.yaml"


@pytest.fixture(scope="module")
def vision() -> Mix:
    return Mix.from_file(VISION)


@pytest.fixture(scope="module")
def judged(vision: Mix) -> ncplace.Comparison:
    return compare(vision, optimizer=False)


def test_compare_judges_every_policy_by_max_scale_when_the_mix_gives_targets(
    vision: Mix, judged: ncplace.Comparison
) -> None:
    assert judged.latency
    available = [r for r in judged.rows if r.available]
    assert {r.name for r in available} == {"default", "greedy", "multicore"}
    for r in available:
        assert r.latency is not None
        assert r.latency.max_scale == max_scale(r.layout, vision)
        assert r.latency.worst_ratio == simulate(r.layout, vision).worst_ratio
    alphas = [r.latency.max_scale for r in available if r.latency is not None]
    assert alphas == sorted(alphas, reverse=True)
    header = judged.to_markdown().splitlines()[0]
    assert "| headroom | worst p99/slo | max scale | overlap |" in header
    first = judged.rows[0]
    assert f"| {first.latency.max_scale:.2f} |" in judged.to_markdown()  # type: ignore[union-attr]
    row = judged.to_dict()["rows"][0]
    assert row["latency"] == {
        "worst_p99_slo": first.latency.worst_ratio,  # type: ignore[union-attr]
        "max_scale": first.latency.max_scale,  # type: ignore[union-attr]
        "max_scale_settled": True,
    }


def test_compare_without_latency_fields_sorts_by_headroom_as_before(vision: Mix) -> None:
    plain = vision.with_models(replace(m, slo_ms=None) for m in vision.models)
    table = compare(plain, optimizer=False)
    assert not table.latency
    assert all(r.latency is None for r in table.rows)
    assert "max scale" not in table.to_markdown()
    heads = [r.score.headroom for r in table.rows if r.score is not None]
    assert heads == sorted(heads, reverse=True)
    assert compare(plain, optimizer=False, latency=True).latency


def test_an_infeasible_row_has_no_max_scale() -> None:
    mix = Mix.from_file(HERE.parent / "examples" / "mix.yaml")
    table = compare(mix, optimizer=False, policies=["multicore", "greedy"])
    multicore = table.row("multicore")
    assert not multicore.feasible
    assert multicore.latency is not None and multicore.latency.max_scale is None
    assert table.names == ("greedy", "multicore")
    assert "| 0.97 | - |" in table.to_markdown() or "| - |" in table.to_markdown()


def test_compare_rejects_a_bad_latency_flag(vision: Mix) -> None:
    with pytest.raises(ncplace.ConfigError, match="compare: latency must be True, False or None"):
        compare(vision, optimizer=False, latency="yes")  # type: ignore[arg-type]


def one_core_mix(slo_ms: float, rate: float = 500) -> tuple[Layout, Mix]:
    inst = ncplace.Instance(cores=1, cores_per_chip=1)
    mix = Mix([Model("a", rate=rate, throughput=1000, slo_ms=slo_ms, service_cv=0)], instance=inst)
    return Layout.single_process(inst, [Placement("a", ((0,),))]), mix


def test_verdict_names_the_first_model_to_miss(vision: Mix) -> None:
    layout = ncplace.POLICIES["greedy"](vision)
    report = latency_report(layout, vision)
    assert report.max_scale == max_scale(layout, vision)
    assert [s for s, _ in report.sweep] == [0.0, 0.25, 0.5, 1.0]
    assert report.sweep[1][1] == report.max_scale
    above = simulate(layout, vision, scale=report.max_scale * 1.01)
    worst = max(above.models, key=lambda m: m.ratio)
    assert report.first_misses[0] == worst.name
    assert report.verdict.startswith("misses at today's traffic: ")
    assert report.verdict.endswith(
        f"every target holds only up to {report.max_scale:.2f}x; {worst.name} misses its "
        f"{worst.slo_ms:g} ms target above {report.max_scale:.2f}x"
    )


def test_verdict_when_every_target_holds_up_to_saturation() -> None:
    layout, mix = one_core_mix(slo_ms=1000)
    report = latency_report(layout, mix)
    assert report.max_scale == report.headroom == 2.0
    assert report.verdict == (
        "meets every target at today's traffic, up to 2.00x, where the busiest core saturates"
    )


def test_verdict_when_the_target_is_below_the_service_time() -> None:
    layout, mix = one_core_mix(slo_ms=0.5)
    report = latency_report(layout, mix)
    assert report.max_scale == 0.0
    assert report.verdict == "misses a target at any traffic: a's p99 stays above its 0.5 ms target"


def test_recommend_reports_latency_in_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["recommend", str(VISION), "--time-limit", "1", "--switch-ms", "0.5", "--deterministic"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Latency at today's traffic (simulated: " in out
    assert "switch 0.5 ms unless a model sets its own" in out
    header = "  model" + " " * 16 + "  p50 ms  p99 ms  target ms  p99/target  within"
    assert header in out.splitlines()
    assert "Max scale (alpha*, simulated, to 1%): " in out
    assert "(" in out and "at 0 ms, " in out and "at 1 ms); busy-time headroom " in out
    verdict = [line for line in out.splitlines() if line.startswith("Verdict: ")]
    assert len(verdict) == 1
    assert main([*argv, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    report = data["latency"]
    assert report["switch_ms"] == 0.5
    assert [s["switch_ms"] for s in report["sweep"]] == [0.0, 0.25, 0.5, 1.0]
    assert f"Verdict: {report['verdict']}." == verdict[0]
    assert len(report["today"]["models"]) == 8
    assert set(report["today"]["models"][0]) == {
        "name",
        "requests",
        "mean_ms",
        "p50_ms",
        "p99_ms",
        "slo_ms",
        "slo_attainment",
        "ratio",
    }


def test_recommend_without_traffic_has_no_latency_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "mix.yaml"
    path.write_text("instance: inf1.xlarge\nmodels:\n  - name: a\n  - name: b\n")
    assert main(["recommend", str(path), "--time-limit", "1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["latency"] is None


@pytest.mark.parametrize("value", ["-1", "nan", "fast"])
def test_switch_ms_must_be_milliseconds(capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert main(["compare", str(VISION), f"--switch-ms={value}"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"ncplace: error: argument --switch-ms: expected milliseconds >= 0, got {value!r} "
        "(see 'ncplace compare --help')\n"
    )


def test_compare_cli_shows_the_latency_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(VISION), "--no-optimizer", "--switch-ms", "0"]) == 0
    out = capsys.readouterr().out
    assert "| worst p99/slo | max scale |" in out
    zero = compare(Mix.from_file(VISION), optimizer=False, switch_ms=0)
    assert zero.to_markdown() in out


def test_plot_latency_draws_each_model_and_each_policy(
    vision: Mix, judged: ncplace.Comparison, tmp_path: Path
) -> None:
    layout = ncplace.POLICIES["greedy"](vision)
    target = tmp_path / "latency.png"
    fig = plot.latency(layout, vision, judged, scales=[0.2, 0.5, 1.0], path=target)
    assert isinstance(fig, Figure)
    assert target.stat().st_size > 0
    curves, bars = fig.axes
    lines = [line for line in curves.get_lines() if line.get_gid() == "p99"]
    assert [line.get_label() for line in lines] == list(vision.names)
    first = simulate(layout, vision, scale=0.5)
    assert lines[0].get_ydata()[1] == pytest.approx(min(first.models[0].ratio, 3.0))
    widths = [p.get_width() for p in bars.patches if p.get_gid() == "max-scale"]
    expected = [r.latency.max_scale for r in judged.rows if r.latency and r.latency.max_scale]
    assert widths == pytest.approx(expected)
    assert sum(1 for t in bars.texts if t.get_gid() == "n/a") == 3


def test_plot_latency_needs_traffic() -> None:
    inst = ncplace.Instance(cores=1, cores_per_chip=1)
    mix = Mix([Model("a")], instance=inst)
    layout = Layout.single_process(inst, [Placement("a", ((0,),))])
    with pytest.raises(
        ncplace.ConfigError, match=r"plot\.latency: no model has rate and throughput"
    ):
        plot.latency(layout, mix, [])
    assert math.isinf(max_scale(layout, mix))
