"""The latency model's rules (ncplace.latency's docstring), each pinned against a closed form,
an exact distribution or the scorer.

Queueing closed forms (one core, service time s = 1 ms, utilisation rho):
- M/M/1 mean response ``s / (1 - rho)``; M/D/1 ``s + rho s / (2 (1 - rho))``.
- M/D/1 waiting time (Erlang): ``P(W <= t) = (1 - rho) sum_{k=0}^{floor(t/s)} e^{lambda (t - k
  s)} (-lambda (t - k s))^k / k!``.
Sample sizes are chosen so that the standard error of each estimate is a third of the tolerance
or less; the mean response at rho = 0.9 under M/M/1 needs about 10 million calls for that.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ncplace
from ncplace import ConfigError, Layout, Mix, Model, Placement, PlacementError
from ncplace.latency import estimate, max_scale, simulate
from ncplace.latency.simulation import core_order, draw_calls, run_cores, run_events
from ncplace.latency.traffic import traffic_of

ONE_CORE = ncplace.Instance(cores=1, cores_per_chip=1)


def single_queue(rho: float, service_cv: float, **latency: float) -> tuple[Layout, Mix]:
    """One model on one core, 1 ms of service per call, at utilisation ``rho``."""
    mix = Mix(
        [Model("a", rate=rho * 1000, throughput=1000, service_cv=service_cv, **latency)],
        instance=ONE_CORE,
    )
    return Layout.single_process(ONE_CORE, [Placement("a", ((0,),))]), mix


def md1_wait_cdf(t: float, rho: float) -> float:
    """Erlang's M/D/1 waiting-time distribution with service 1 and arrival rate rho."""
    total = math.fsum(
        math.exp(rho * (t - k)) * (-rho * (t - k)) ** k / math.factorial(k)
        for k in range(math.floor(t) + 1)
    )
    return (1 - rho) * total


def md1_wait_quantile(q: float, rho: float) -> float:
    """Bisection, from a bracket found by doubling: the alternating sum loses its precision far
    past the quantiles tested."""
    lo, hi = 0.0, 1.0
    while md1_wait_cdf(hi, rho) < q:
        lo, hi = hi, 2 * hi
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if md1_wait_cdf(mid, rho) < q else (lo, mid)
    return hi


@pytest.mark.parametrize(
    ("service_cv", "rho", "calls"),
    [
        (1.0, 0.5, 400_000),
        (1.0, 0.7, 1_000_000),
        (1.0, 0.9, 10_000_000),
        (0.0, 0.5, 200_000),
        (0.0, 0.7, 500_000),
        (0.0, 0.9, 3_000_000),
    ],
)
def test_mean_response_matches_mm1_and_md1(service_cv: float, rho: float, calls: int) -> None:
    layout, mix = single_queue(rho, service_cv)
    sim = simulate(layout, mix, switch_ms=0, duration_s=calls / (rho * 1000))
    exact = 1.0 / (1 - rho) if service_cv == 1.0 else 1.0 + rho / (2 * (1 - rho))
    assert sim["a"].mean_ms == pytest.approx(exact, rel=0.02)


@pytest.mark.parametrize("rho", [0.5, 0.7])
def test_md1_p99_matches_the_exact_distribution(rho: float) -> None:
    layout, mix = single_queue(rho, 0.0)
    sim = simulate(layout, mix, switch_ms=0, duration_s=1_000_000 / (rho * 1000))
    exact = 1.0 + md1_wait_quantile(0.99, rho)
    assert sim["a"].p99_ms == pytest.approx(exact, rel=0.02)
    assert sim["a"].p50_ms == pytest.approx(1.0 + md1_wait_quantile(0.5, rho), abs=0.02)


def test_switches_per_second_on_a_shared_core() -> None:
    """Poisson streams merged on one core arrive in an order of independent draws, so the core
    switches at rate ``Lambda (1 - sum p_i^2)``."""
    mix = Mix(
        [Model("a", rate=300, throughput=1000), Model("b", rate=100, throughput=1000)],
        instance=ONE_CORE,
    )
    layout = Layout.single_process(ONE_CORE, [Placement("a", ((0,),)), Placement("b", ((0,),))])
    sim = simulate(layout, mix, switch_ms=0.5, duration_s=500)
    expected = 400 * (1 - 0.75**2 - 0.25**2)
    assert sim.cores[0].switches_per_s == pytest.approx(expected, rel=0.03)
    busy = 0.4 + expected * 0.5e-3
    assert sim.cores[0].busy == pytest.approx(busy, abs=0.01)


@pytest.mark.parametrize("path", ["mix.yaml", "vision-skewed-inf1-xlarge.yaml"])
@pytest.mark.parametrize("policy", ["default", "greedy", "multicore"])
def test_busy_without_switching_equals_the_scorers_loads(path: str, policy: str) -> None:
    mix = Mix.from_file(f"examples/{path}")
    layout = ncplace.POLICIES[policy](mix)
    loads = ncplace.score(layout, mix).loads
    if max(loads) >= 1:
        pytest.skip("overloaded: the busy fraction saturates")
    sim = simulate(layout, mix, switch_ms=0, duration_s=60)
    assert [c.busy for c in sim.cores] == pytest.approx(loads, abs=0.01)


@pytest.mark.parametrize("k", [2, 4])
def test_exclusive_pipeline_mean_latency(k: int) -> None:
    """Deterministic stages of equal length: calls leave the first stage at least one service
    time apart and never wait again, so the mean is ``k s`` plus the first stage's M/D/1 wait;
    ``latency_ms`` adds its overhead on top."""
    inst = ncplace.Instance(cores=k, cores_per_chip=k)
    rho = 0.6
    mix = Mix(
        [
            Model(
                "p",
                cores=k,
                rate=rho * 1000,
                throughput=1000,
                exclusive=True,
                service_cv=0,
                latency_ms=k + 3.0,
            )
        ],
        instance=inst,
    )
    layout = Layout.single_process(inst, [Placement("p", (tuple(range(k)),))])
    sim = simulate(layout, mix, duration_s=500)
    exact = k + rho / (2 * (1 - rho)) + 3.0
    assert sim["p"].mean_ms == pytest.approx(exact, rel=0.02)
    assert [c.busy for c in sim.cores] == pytest.approx([rho] * k, abs=0.01)


def test_tensor_parallel_copy_runs_its_ranks_together() -> None:
    inst = ncplace.instance("inf2.xlarge")
    mix = Mix(
        [Model("t", cores=2, parallel="tensor", rate=500, throughput=1000, service_cv=0)],
        instance=inst,
    )
    layout = Layout.single_process(inst, [Placement("t", ((0, 1),))])
    sim = simulate(layout, mix, duration_s=400)
    assert sim["t"].mean_ms == pytest.approx(1.0 + 0.5 / (2 * 0.5), rel=0.02)
    assert [c.busy for c in sim.cores] == pytest.approx([0.5, 0.5], abs=0.01)


def test_round_robin_over_copies_and_equal_split_over_handles() -> None:
    """Two handles: one of two copies, one of one: calls split 1/2 over the handles, then the
    first handle's half alternates over its copies (1/4 each)."""
    inst = ncplace.instance("inf1.xlarge")
    mix = Mix([Model("a", replicas=3, rate=800, throughput=1000, service_cv=0)], instance=inst)
    layout = Layout.single_process(inst, [Placement("a", ((0,), (1,))), Placement("a", ((2,),))])
    sim = simulate(layout, mix, switch_ms=0, duration_s=100)
    assert [c.busy for c in sim.cores] == pytest.approx([0.2, 0.2, 0.4, 0.0], abs=0.01)


def test_same_layout_and_seed_give_identical_results() -> None:
    mix = Mix.from_file("examples/vision-skewed-inf1-xlarge.yaml")
    layout = ncplace.POLICIES["greedy"](mix)
    first = simulate(layout, mix, seed=3)
    assert simulate(layout, mix, seed=3) == first
    assert simulate(layout, mix, seed=4) != first
    other = simulate(ncplace.POLICIES["multicore"](mix), mix, seed=3)
    assert [m.requests for m in other.models] == [m.requests for m in first.models]


def test_scale_compresses_the_same_calls_in_time() -> None:
    mix = Mix.from_file("examples/vision-skewed-inf1-xlarge.yaml")
    layout = ncplace.POLICIES["greedy"](mix)
    low, high = simulate(layout, mix, scale=0.5), simulate(layout, mix, scale=1.0)
    assert [m.requests for m in low.models] == [m.requests for m in high.models]
    assert low.duration_s == pytest.approx(2 * high.duration_s)
    assert all(a.p99_ms <= b.p99_ms for a, b in zip(low.models, high.models, strict=True))


def random_layouts() -> list[tuple[Layout, Mix]]:
    """Shared cores, pipelines, split handles and a tensor-parallel model on one mix each."""
    inf1 = ncplace.instance("inf1.6xlarge")
    mix = Mix(
        [
            Model("p", cores=3, replicas=2, rate=400, throughput=700, service_cv=0.3),
            Model("q", rate=500, throughput=900, arrival_cv=2.0),
            Model("r", cores=2, rate=150, throughput=400, switch_ms=1.0, arrival_cv=0.5),
        ],
        instance=inf1,
    )
    rng = np.random.default_rng(7)
    starts: list[int]
    out = []
    for _ in range(4):
        starts = [int(s) for s in rng.integers(0, 6, size=4)]
        layout = Layout.single_process(
            inf1,
            [
                Placement("p", ((starts[0], starts[0] + 1, starts[0] + 2),)),
                Placement("p", ((starts[1] + 3, starts[1] + 4, starts[1] + 5),)),
                Placement("q", ((starts[2],), (starts[2] + 2,))),
                Placement("r", ((starts[3] + 1, starts[3] + 2),)),
            ],
        )
        out.append((layout, mix))
    inf2 = ncplace.instance("inf2.xlarge")
    tensor = Mix(
        [
            Model("t", cores=2, parallel="tensor", rate=300, throughput=800),
            Model("u", rate=200, throughput=900),
        ],
        instance=inf2,
    )
    out.append(
        (Layout.single_process(inf2, [Placement("t", ((0, 1),)), Placement("u", ((1,),))]), tensor)
    )
    return out


@pytest.mark.parametrize("case", range(5))
def test_core_order_engine_equals_the_event_loop(case: int) -> None:
    layout, mix = random_layouts()[case]
    traffic = traffic_of(layout, mix, 0.25, "test")
    calls = draw_calls(traffic, 1.0, 2.0, seed=1)
    order = core_order(traffic)
    assert order is not None
    fast, slow = run_cores(traffic, calls, order), run_events(traffic, calls)
    assert fast.done == pytest.approx(slow.done, rel=1e-9)
    assert fast.busy == pytest.approx(slow.busy, rel=1e-9)
    assert list(fast.switches) == list(slow.switches)


def test_a_cycle_of_pipeline_hops_runs_through_the_event_loop() -> None:
    inst = ncplace.instance("inf1.xlarge")
    mix = Mix(
        [
            Model("a", cores=2, rate=100, throughput=1000),
            Model("b", cores=2, rate=100, throughput=1000),
        ],
        instance=inst,
    )
    layout = Layout.single_process(inst, [Placement("a", ((0, 1),)), Placement("b", ((1, 0),))])
    assert core_order(traffic_of(layout, mix, 0.0, "test")) is None
    sim = simulate(layout, mix, switch_ms=0, duration_s=20)
    assert [c.busy for c in sim.cores[:2]] == pytest.approx([0.2, 0.2], abs=0.01)
    assert sim["a"].p50_ms >= 2.0


def test_overload_terminates_and_reports_the_misses() -> None:
    layout, mix = single_queue(1.5, 0.0, slo_ms=5.0)
    sim = simulate(layout, mix)
    assert sim["a"].requests > 1000
    assert sim["a"].p99_ms > 100
    assert sim["a"].slo_attainment < 0.1
    assert sim.cores[0].busy == pytest.approx(1.0, abs=0.01)
    assert not sim.meets_targets


def test_max_scale_is_the_edge_of_the_targets() -> None:
    mix = Mix.from_file("examples/vision-skewed-inf1-xlarge.yaml")
    layout = ncplace.POLICIES["greedy"](mix)
    alpha = max_scale(layout, mix)
    assert 0 < alpha < ncplace.score(layout, mix).headroom
    assert simulate(layout, mix, scale=alpha).meets_targets
    assert not simulate(layout, mix, scale=alpha * 1.01).meets_targets
    assert max_scale(layout, mix) == alpha


def test_max_scale_of_one_md1_queue_matches_its_exact_p99() -> None:
    """The target 10 ms is met while 1 + q99(W) <= 10: bisect the exact distribution."""
    layout, mix = single_queue(0.5, 0.0, slo_ms=10.0)
    lo, hi = 0.5, 0.99
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 1 + md1_wait_quantile(0.99, mid) <= 10 else (lo, mid)
    assert max_scale(layout, mix, switch_ms=0) * 0.5 == pytest.approx(lo, rel=0.03)


def test_max_scale_edges() -> None:
    layout, mix = single_queue(0.5, 0.0, slo_ms=0.5)
    assert max_scale(layout, mix) == 0.0
    idle = Mix([Model("a")], instance=ONE_CORE)
    assert max_scale(Layout.single_process(ONE_CORE, [Placement("a", ((0,),))]), idle) == math.inf


def test_max_scale_refuses_an_infeasible_layout() -> None:
    inst = ncplace.instance("inf1.xlarge")
    mix = Mix(
        [Model("a", rate=10, throughput=100, exclusive=True), Model("b", rate=10, throughput=100)],
        instance=inst,
    )
    layout = Layout.single_process(inst, [Placement("a", ((0,),)), Placement("b", ((0,),))])
    with pytest.raises(PlacementError, match=r"max_scale: the layout breaks hard rules \(1 excl"):
        max_scale(layout, mix)


def test_estimate_of_one_queue_is_close_to_the_closed_forms() -> None:
    for rho in (0.5, 0.8):
        layout, mix = single_queue(rho, 0.0)
        est = estimate(layout, mix, switch_ms=0)
        assert est["a"].mean_ms == pytest.approx(1 + rho / (2 * (1 - rho)))
        assert est["a"].p99_ms == pytest.approx(1 + md1_wait_quantile(0.99, rho), rel=0.15)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda lay, mix: simulate(lay, mix, switch_ms=-1),
            "simulate: switch_ms must be a number >= 0, got -1",
        ),
        (
            lambda lay, mix: simulate(lay, mix, scale=0),
            "simulate: scale must be a number > 0, got 0",
        ),
        (
            lambda lay, mix: simulate(lay, mix, duration_s="1"),
            "simulate: duration_s must be a number > 0",
        ),
        (
            lambda lay, mix: simulate(lay, mix, seed=-1),
            "simulate: seed must be an integer >= 0, got -1",
        ),
        (lambda lay, mix: simulate(mix, lay), "simulate: layout must be a Layout"),
        (lambda lay, mix: max_scale(lay, mix, switch_ms=math.nan), "max_scale: switch_ms must be"),
        (
            lambda lay, mix: estimate(lay, mix, scale=math.inf),
            "estimate: scale must be a number > 0",
        ),
    ],
)
def test_bad_arguments_are_named(call: object, message: str) -> None:
    layout, mix = single_queue(0.5, 0.0)
    with pytest.raises(ConfigError, match=message):
        call(layout, mix)  # type: ignore[operator]
