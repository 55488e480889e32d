"""The optimizer on mid-size and large mixes: never worse than a baseline, never a crash."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncplace import (
    POLICIES,
    ConfigError,
    Error,
    Instance,
    Mix,
    Model,
    Status,
    instance,
    optimize,
    score,
)
from ncplace.optimize.problem import allowed_replicas


def random_mix(seed: int, n_models: int, inst: Instance, memory: float = 0.4) -> Mix:
    """A valid seeded mix: pipelines of 1-4 cores, some exclusive, a share ``memory`` of the
    models with 0.5-1.5 GiB per copy."""
    rng = random.Random(seed)
    while True:
        models = []
        exclusive_cores = 0
        for i in range(n_models):
            k = rng.choice([1, 1, 1, 2, 2, 4]) if inst.framework == "torch-neuron" else 1
            exclusive = rng.random() < 0.1 and exclusive_cores + k <= inst.cores // 4
            exclusive_cores += k if exclusive else 0
            models.append(
                Model(
                    f"m{i}",
                    cores=k,
                    replicas=rng.choice([1, 1, 1, 2]),
                    rate=rng.randrange(20, 400, 10),
                    throughput=rng.choice([250, 500, 1000, 2000]),
                    exclusive=exclusive,
                    memory_gib=rng.choice([0.5, 1.0, 1.5]) if rng.random() < memory else None,
                )
            )
        try:
            return Mix(models, instance=inst)
        except ConfigError:
            continue


def counts_allowed(layout, mix: Mix) -> bool:  # type: ignore[no-untyped-def]
    counts = {name: 0 for name in mix.names}
    for name, _ in layout.copies():
        counts[name] += 1
    return all(counts[m.name] in allowed_replicas(mix, i) for i, m in enumerate(mix.models))


@pytest.mark.parametrize("seed", range(6))
def test_mid_size_never_worse_than_any_baseline(seed: int) -> None:
    mix = random_mix(seed, 14, instance("inf1.6xlarge"))
    plan = optimize(mix, time_limit=1.0)
    assert plan.layout is not None
    s = score(plan.layout, mix)
    assert s.feasible
    assert s.peak_load == pytest.approx(plan.objective, abs=1e-6)
    assert plan.bound <= plan.objective + 1e-9
    compared = 0
    for name, policy in POLICIES.items():
        try:
            layout = policy(mix)
        except Error:
            continue
        b = score(layout, mix)
        if not (b.feasible and counts_allowed(layout, mix)):
            continue
        compared += 1
        assert s.peak_load <= b.peak_load + 1e-9, name
        if abs(s.peak_load - b.peak_load) <= 1e-9:
            assert s.overlap <= b.overlap, name
    assert compared >= 1


def test_two_hundred_models_return_a_layout_and_a_gap() -> None:
    mix = random_mix(7, 200, instance("inf1.24xlarge"), memory=0.2)
    plan = optimize(mix, time_limit=2.0)
    assert plan.layout is not None
    assert plan.status in (Status.FEASIBLE, Status.OPTIMAL)
    s = score(plan.layout, mix)
    assert s.feasible
    assert s.peak_load == pytest.approx(plan.objective, abs=1e-6)
    assert 0 < plan.bound <= plan.objective + 1e-9
    assert math.isfinite(plan.gap) and 0 <= plan.gap < 1
    assert len(plan.layout.models()) == 200


def test_two_hundred_models_with_zero_time_limit() -> None:
    mix = random_mix(8, 200, instance("inf1.24xlarge"), memory=0.2)
    plan = optimize(mix, time_limit=0)
    assert plan.levels == ()
    if plan.layout is None:
        assert plan.status is Status.UNKNOWN
    else:
        s = score(plan.layout, mix)
        assert s.feasible
        assert s.peak_load == pytest.approx(plan.objective, abs=1e-6)
        assert plan.bound <= plan.objective + 1e-9
        assert math.isfinite(plan.gap)


def test_hundreds_of_models_in_split_mode() -> None:
    mix = random_mix(9, 120, instance("inf1.24xlarge"), memory=0.2)
    plan = optimize(mix, time_limit=1.5, split_replicas=True)
    assert plan.layout is not None
    s = score(plan.layout, mix)
    assert s.feasible
    assert s.peak_load == pytest.approx(plan.objective, abs=1e-6)
    assert plan.bound <= plan.objective + 1e-9


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_models=st.integers(1, 7),
    cores=st.sampled_from([4, 8]),
    objective=st.sampled_from(["peak", "overlap"]),
    split=st.booleans(),
)
def test_certificate_holds_on_random_small_mixes(
    seed: int, n_models: int, cores: int, objective: str, split: bool
) -> None:
    mix = random_mix(seed, n_models, Instance(cores=cores, cores_per_chip=4))
    plan = optimize(mix, time_limit=2.0, objective=objective, split_replicas=split)
    if plan.layout is None:
        assert plan.status in (Status.INFEASIBLE, Status.UNKNOWN)
        assert plan.status is not Status.INFEASIBLE or plan.explanation
        return
    s = score(plan.layout, mix)
    assert s.feasible
    value = s.peak_load if objective == "peak" else s.overlap
    assert value == pytest.approx(plan.objective, abs=1e-6)
    assert plan.bound <= plan.objective + 1e-9
    assert plan.peak_load == s.peak_load and plan.overlap == s.overlap
    if plan.status is Status.OPTIMAL:
        assert plan.gap == 0.0


def test_time_limited_solves_are_reproducible() -> None:
    """60 models on 64 cores cannot be proven in 0.5 s: the first level is cut by the
    deterministic budget, and the same mix and seed still give the same plan, run after run."""
    from ncplace.optimize.budget import dtime_rate

    rng = random.Random(0)
    mix = Mix(
        [
            Model(
                f"m{i}",
                cores=rng.choice([1, 1, 2, 2, 3, 4]),
                rate=rng.randrange(100, 500, 10),
                throughput=1000,
            )
            for i in range(60)
        ],
        instance=instance("inf1.24xlarge"),
    )
    plans = [optimize(mix, time_limit=0.5, seed=5, deterministic=True) for _ in range(3)]
    if any("not reproducible" in p.stop_reason for p in plans):
        pytest.skip("machine too slow or loaded: the wall-clock safety limit stopped a solve")
    first = plans[0]
    assert first.stop_reason.startswith("time limit (deterministic)")
    assert first.status is Status.FEASIBLE
    assert first.layout is not None
    assert score(first.layout, mix).peak_load == pytest.approx(first.objective, abs=1e-9)
    assert first.bound <= first.objective
    spent = sum(level.deterministic_time for level in first.levels)
    assert 0 < spent <= dtime_rate(64) * 0.5 * 1.01
    for other in plans[1:]:
        assert other.layout is not None
        assert other.layout.canonical() == first.layout.canonical()
        assert (other.objective, other.bound, other.status) == (
            first.objective,
            first.bound,
            first.status,
        )
        assert [
            (lv.name, lv.value, lv.bound, lv.status, lv.deterministic_time) for lv in other.levels
        ] == [
            (lv.name, lv.value, lv.bound, lv.status, lv.deterministic_time) for lv in first.levels
        ]
