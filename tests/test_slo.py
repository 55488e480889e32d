"""The SLO objective: alpha* (simulated, estimated) beside the busy-time bound (proven).

The guarantee checked here: on alpha* measured by :func:`ncplace.max_scale` with the plan's seed
and switch time, the plan is never worse than any baseline policy that keeps every hard rule and
every pin, ``multicore`` included.
"""

from __future__ import annotations

import _thread
import importlib
from pathlib import Path

import pytest

import ncplace
from ncplace import POLICIES, Status, max_scale, score
from ncplace.optimize.baselines import pins_kept
from ncplace.optimize.problem import allowed_replicas

EXAMPLES = Path(__file__).parent.parent / "examples"


def baseline_scales(mix: ncplace.Mix, seed: int, switch_ms: float) -> dict[str, float]:
    out = {}
    for name, policy in POLICIES.items():
        try:
            layout = policy(mix)
        except ncplace.Error:
            continue
        if score(layout, mix).feasible and pins_kept(layout, mix):
            out[name] = max_scale(layout, mix, seed=seed, switch_ms=switch_ms)
    return out


@pytest.fixture(scope="module")
def vision() -> ncplace.Mix:
    return ncplace.Mix.from_file(EXAMPLES / "vision-skewed-inf1-xlarge.yaml")


@pytest.fixture(scope="module")
def vision_plan(vision: ncplace.Mix) -> ncplace.Plan:
    return ncplace.optimize(vision, time_limit=2, seed=1, deterministic=True)


def test_the_slo_objective_is_the_default_when_a_model_gives_a_latency_field(
    vision: ncplace.Mix, vision_plan: ncplace.Plan
) -> None:
    assert vision_plan.objective_name == "slo"
    plain = vision.with_models(
        ncplace.Model(
            m.name, cores=m.cores, replicas=m.replicas, rate=m.rate, throughput=m.throughput
        )
        for m in vision.models
    )
    assert ncplace.optimize(plain, time_limit=1).objective_name == "peak"
    assert ncplace.optimize(vision, time_limit=1, objective="peak").objective_name == "peak"


def test_no_baseline_serves_more_traffic_within_the_targets(
    vision: ncplace.Mix, vision_plan: ncplace.Plan
) -> None:
    plan = vision_plan
    assert plan.switch_ms is not None
    measured = max_scale(plan.layout, vision, seed=1, switch_ms=plan.switch_ms)
    assert plan.max_scale == measured
    scales = baseline_scales(vision, 1, plan.switch_ms)
    assert set(scales) >= {"default", "multicore", "greedy"}
    assert all(measured >= s for s in scales.values()), scales


def test_the_bundled_mix_is_never_below_a_baseline_either() -> None:
    mix = ncplace.Mix.from_file(EXAMPLES / "mix.yaml")
    plan = ncplace.optimize(mix, time_limit=2, deterministic=True)
    assert plan.objective_name == "slo"
    scales = baseline_scales(mix, plan.seed, plan.switch_ms)
    assert scales
    assert all(plan.max_scale >= s for s in scales.values()), (plan.max_scale, scales)
    assert score(plan.layout, mix).peak_load == plan.objective
    if not plan.source.endswith("multicore"):
        counts: dict[str, int] = {}
        for name, _ in plan.layout.copies():
            counts[name] = counts.get(name, 0) + 1
        assert all(counts[m.name] in allowed_replicas(mix, i) for i, m in enumerate(mix.models))


def test_what_is_proven_and_what_is_measured_are_told_apart(vision_plan: ncplace.Plan) -> None:
    plan = vision_plan
    assert plan.status == Status.FEASIBLE  # alpha* is never proven
    assert score(plan.layout, plan.mix).peak_load == plan.objective
    summary = plan.summary()
    assert f"max scale {plan.max_scale:.3g} (simulated, seed 1; estimated" in summary
    assert "busy-time bound" in summary and "(proven)" in summary
    assert "proven" not in summary.split("busy-time bound")[0]
    slo = plan.to_dict()["slo"]
    assert slo["max_scale_simulated"] == plan.max_scale
    assert slo["max_scale_estimated"] == plan.max_scale_estimate
    assert slo["busy_time_scale_bound_proven"] == pytest.approx(1 / plan.bound)
    # alpha* is capped at a layout's busy-time headroom, so the proven bound caps it too
    assert plan.max_scale <= 1 / plan.bound * (1 + 1e-9)
    names = [c["name"] for c in slo["candidates"]]
    assert "optimizer (peak)" in names and "baseline:multicore" in names
    assert plan.source in names


def test_the_same_seed_gives_the_same_slo_plan(
    vision: ncplace.Mix, vision_plan: ncplace.Plan
) -> None:
    again = ncplace.optimize(vision, time_limit=2, seed=1, deterministic=True)
    if "not reproducible" in again.stop_reason + vision_plan.stop_reason:
        pytest.skip("machine too slow or loaded: the wall-clock safety limit stopped a solve")
    assert again.layout == vision_plan.layout
    assert again.max_scale == vision_plan.max_scale


def test_an_interrupt_returns_the_best_estimated_layout_marked_interrupted(
    vision: ncplace.Mix, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (here a KeyboardInterrupt sent to the main thread as the local search starts, a
    point in the search that does not depend on the machine's speed) ends the search; the plan
    holds the best layout by estimate and says it was interrupted."""
    slo = importlib.import_module("ncplace.optimize.slo")
    search = slo._local_search

    def interrupted(*args: object, **kwargs: object) -> object:
        _thread.interrupt_main()
        return search(*args, **kwargs)

    monkeypatch.setattr(slo, "_local_search", interrupted)
    plan = ncplace.optimize(vision, time_limit=60)
    assert plan.interrupted and plan.objective_name == "slo"
    assert plan.stop_reason.startswith("interrupted; layout from ")
    assert plan.max_scale is None  # not simulated: "max scale ... (estimated, not simulated)"
    assert score(plan.layout, vision).feasible
