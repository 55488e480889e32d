"""Fleet planning: exact on tiny catalogues (against brute force), never dearer than the
baselines, every instance's plan within its target, the bound below the cost."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest

from ncplace import ConfigError, Instance, Model, score
from ncplace.fleet import Catalogue, PriceList, plan_fleet

SMALL = Instance(
    cores=2, cores_per_chip=2, chip_memory_gib=16.0, name="small", framework="torch-neuronx"
)
LARGE = Instance(
    cores=4, cores_per_chip=2, chip_memory_gib=16.0, name="large", framework="torch-neuronx"
)
TINY_PRICES = PriceList({"small": 1.0, "large": 1.7}, source="test", date="2026-12")
INF2 = "inf2.xlarge,inf2.8xlarge,inf2.24xlarge,inf2.48xlarge"


# --- brute force ---------------------------------------------------------------------------------


def _copies(catalogue: Catalogue, scale: float) -> list[tuple[str, int, Fraction, float, bool]]:
    """(model, cores, load per core, memory per core, exclusive) for each copy, from the spec:
    ``n = max(min_replicas, ceil(d X))`` copies of load ``d X / n`` (of the target)."""
    out = []
    for m in catalogue.models:
        d = Fraction(m.rate) / Fraction(m.throughput) if m.rate else Fraction(1)
        n = max(m.min_replicas, math.ceil(d * Fraction(scale)))
        load = d * Fraction(scale) / n
        out += [(m.name, m.cores, load, (m.memory_gib or 0.0) / m.cores, m.exclusive)] * n
    return out


def _fits(inst: Instance, copies: list[tuple[str, int, Fraction, float, bool]]) -> bool:
    """Whether the copies can be placed on ``inst``: every choice of start cores tried."""
    n = inst.cores
    ranges = [range(n - c[1] + 1) for c in copies]
    for starts in itertools.product(*ranges):
        load = [Fraction(0)] * n
        count = [0] * n
        excl = [False] * n
        memory = [0.0] * inst.chips
        for (_, k, w, mem, exclusive), s in zip(copies, starts, strict=True):
            for c in range(s, s + k):
                load[c] += w
                count[c] += 1
                excl[c] |= exclusive
                memory[inst.chip_of(c)] += mem
        if (
            all(x <= 1 for x in load)
            and all(not e or k == 1 for e, k in zip(excl, count, strict=True))
            and all(m <= (inst.chip_memory_gib or 0.0) + 1e-9 for m in memory)
        ):
            return True
    return False


def _partitions(items: list[int]) -> Iterator[list[list[int]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        yield [[first], *part]
        for i in range(len(part)):
            yield [*part[:i], [first, *part[i]], *part[i + 1 :]]


def brute_force_cost(catalogue: Catalogue, types: dict[Instance, float], scale: float) -> float:
    copies = _copies(catalogue, scale)
    best = math.inf
    cache: dict[tuple[int, ...], float] = {}
    for part in _partitions(list(range(len(copies)))):
        total = 0.0
        for block in part:
            key = tuple(block)
            if key not in cache:
                chosen = [copies[i] for i in block]
                fitting = [p for inst, p in types.items() if _fits(inst, chosen)]
                cache[key] = min(fitting, default=math.inf)
            total += cache[key]
        best = min(best, total)
    return best


def _random_catalogue(rng: random.Random, n_models: int) -> Catalogue:
    models = []
    for i in range(n_models):
        tensor = rng.random() < 0.2
        models.append(
            Model(
                f"m{i}",
                cores=2 if tensor else 1,
                parallel="tensor" if tensor else None,
                rate=float(rng.choice((30, 60, 90, 150, 240, 300))),
                throughput=float(rng.choice((100, 200, 400))),
                memory_gib=rng.choice((0.5, 2.0, 4.0, 6.0, 10.0)),
                exclusive=rng.random() < 0.15,
            )
        )
    return Catalogue(tuple(models))


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_tiny_catalogues_cost_what_brute_force_finds(seed: int) -> None:
    rng = random.Random(seed)
    catalogue = _random_catalogue(rng, rng.choice((2, 3, 4)))
    scale = rng.choice((1.0, 1.25, 1.5))
    if len(_copies(catalogue, scale)) > 6:
        catalogue = Catalogue(catalogue.models[:2])
    plan = plan_fleet(
        catalogue,
        (SMALL, LARGE),
        prices=TINY_PRICES,
        target_scale=scale,
        time_limit=2.0,
        instance_time_limit=0.2,
    )
    expected = brute_force_cost(catalogue, {SMALL: 1.0, LARGE: 1.7}, scale)
    assert plan.cost_per_hour == pytest.approx(expected, abs=1e-9)
    assert plan.status == "optimal"
    assert plan.bound_per_hour == pytest.approx(expected, abs=1e-9)
    assert plan.target_met


def test_a_hot_model_spans_instances_and_traffic_is_shared_evenly() -> None:
    catalogue = Catalogue((Model("hot", rate=900.0, throughput=200.0, memory_gib=2.0),))
    plan = plan_fleet(catalogue, (SMALL,), prices=TINY_PRICES, target_scale=1.0, time_limit=1.0)
    assert plan.copies == {"hot": 5}  # ceil(4.5)
    assert plan.counts == {"small": 3}  # 5 one-core copies at 0.9 each: one per core
    assert sum(p.copies["hot"] for p in plan.instances) == 5
    rates = [p.mix["hot"].rate for p in plan.instances]
    assert sum(rates) == pytest.approx(900.0)
    for p in plan.instances:
        assert p.score.peak_load == pytest.approx(0.9)


def test_exact_baselines_on_a_small_case() -> None:
    # a: 0.5 per copy on 1 core, b: 0.5 on 1 core, c: 0.25 on 1 core; small holds 2 cores.
    catalogue = Catalogue(
        (
            Model("a", rate=50.0, throughput=100.0),
            Model("b", rate=50.0, throughput=100.0),
            Model("c", rate=25.0, throughput=100.0),
        )
    )
    plan = plan_fleet(catalogue, (SMALL, LARGE), prices=TINY_PRICES, time_limit=1.0)
    assert plan.baselines == {"one instance per model": 3.0, "first fit decreasing": 1.0}
    assert plan.cost_per_hour == 1.0
    assert plan.counts == {"small": 1}
    assert plan.cost_per_million == pytest.approx(1.0 / 125.0 * 1e6 / 3600)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_zoo_costs_no_more_than_the_baselines_and_meets_its_target(seed: int) -> None:
    from benchmarks.fleet_catalogue import catalogue

    cat = catalogue(40, seed)
    plan = plan_fleet(cat, INF2, target_scale=1.25, time_limit=2.0, instance_time_limit=0.2)
    assert plan.cost_per_hour <= min(plan.baselines.values()) + 1e-9
    assert plan.bound_per_hour <= plan.cost_per_hour + 1e-9
    assert plan.target_met
    placed: Counter[str] = Counter()
    for p in plan.instances:
        s = score(p.layout, p.mix)
        assert s == p.score
        assert s.feasible and s.peak_load <= 1 / 1.25 + 1e-9
        placed.update(p.copies)
        assert Counter(name for name, _ in p.layout.copies()) == Counter(p.copies)
    assert placed == Counter(plan.copies)
    priced = {
        "inf2.xlarge": 0.328,
        "inf2.8xlarge": 0.85,
        "inf2.24xlarge": 2.804,
        "inf2.48xlarge": 5.608,
    }
    assert plan.cost_per_hour == pytest.approx(sum(priced[p.type_name] for p in plan.instances))


def test_same_plan_from_one_worker_and_a_process_pool() -> None:
    from benchmarks.fleet_catalogue import catalogue

    cat = catalogue(16, 3)
    kwargs: dict[str, Any] = {
        "target_scale": 1.25,
        "time_limit": 1.0,
        "instance_time_limit": 0.2,
        "seed": 4,
    }
    serial = plan_fleet(cat, INF2, workers=1, **kwargs)
    pooled = plan_fleet(cat, INF2, workers=2, **kwargs)
    assert [p.layout.canonical() for p in serial.instances] == [
        p.layout.canonical() for p in pooled.instances
    ]
    assert serial.cost_per_hour == pooled.cost_per_hour


def test_bundled_prices_say_where_they_come_from() -> None:
    prices = PriceList.bundled()
    assert prices.date == "2026-08"
    assert "benchmark" in prices.source
    assert prices.price("inf2.xlarge") == 0.328
    assert prices.micro("inf2.48xlarge") == 5_608_000


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: plan_fleet(Catalogue((Model("a"),)), "inf9.huge"), "unknown instance 'inf9.huge'"),
        (
            lambda: plan_fleet(Catalogue((Model("a"),)), (SMALL,)),
            "no price for instance type 'small' in the price list",
        ),
        (
            lambda: plan_fleet(
                Catalogue((Model("a"),)), (SMALL,), prices=TINY_PRICES, target_scale=0
            ),
            "target_scale: must be a number > 0, got 0",
        ),
        (
            lambda: plan_fleet(
                Catalogue((Model("w", cores=4, parallel="tensor"),)), (SMALL,), prices=TINY_PRICES
            ),
            "catalogue model w fits none of the types \\(small: model 'w': cores: a copy needs 4",
        ),
        (
            lambda: plan_fleet(
                Catalogue((Model("a"),)), (SMALL,), prices=TINY_PRICES, executor="spark"
            ),
            "executor: 'spark' is not one of local, ray",
        ),
        (lambda: Catalogue((Model("a", start=0),)), "catalogue model a: start: a fleet"),
        (
            lambda: plan_fleet(Catalogue((Model("a"),)), (SMALL,), prices=TINY_PRICES, seed=-1),
            "plan_fleet: seed must be an integer from 0 to 2147483647, got -1",
        ),
        (
            lambda: plan_fleet(
                Catalogue((Model("a"),)), (SMALL,), prices=TINY_PRICES, time_limit=math.inf
            ),
            r"plan_fleet: time_limit must be a number of seconds from 0 to 1e\+06, got inf",
        ),
        (
            lambda: plan_fleet(
                Catalogue((Model("a"),)), (SMALL,), prices=TINY_PRICES, instance_time_limit=1e308
            ),
            r"plan_fleet: instance_time_limit must be a number of seconds from 0 to 1e\+06, got "
            r"1e\+308",
        ),
        (lambda: PriceList({"x": -1.0}), "prices: x: must be a number > 0"),
        (
            lambda: Catalogue.from_dict({"instance": "inf2.xlarge", "models": [{"name": "a"}]}),
            "catalogue: instance: a fleet catalogue names no instance",
        ),
        (
            lambda: Catalogue.from_dict({"models": [{"name": "a", "cores": 0}]}),
            r"catalogue: models\[0\].cores: must be an integer >= 1, got 0",
        ),
    ],
)
def test_bad_input_is_a_one_line_config_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


def test_dual_feasible_functions_keep_one_core_within_its_capacity() -> None:
    from ncplace.fleet.bound import DFF_ORDERS, _dff
    from ncplace.fleet.copies import CAPACITY

    rng = random.Random(7)
    for _ in range(2000):
        cuts = sorted(rng.randrange(CAPACITY + 1) for _ in range(rng.randrange(1, 5)))
        thirds = [CAPACITY // 3] * 3 if rng.random() < 0.1 else []
        loads = thirds or [b - a for a, b in itertools.pairwise([0, *cuts]) if b > a]
        assert sum(loads) <= CAPACITY
        for k in DFF_ORDERS:
            assert sum(_dff(w, k) for w in loads) <= k * CAPACITY
    assert _dff(CAPACITY // 2 + 1, 1) == CAPACITY  # above half a core: a whole core
    assert _dff(CAPACITY // 3, 2) == 2 * (CAPACITY // 3)  # exactly a third stays a third


def test_latency_fields_make_alpha_star_the_target_and_instances_are_repacked() -> None:
    from ncplace import max_scale

    models = tuple(Model(n, rate=40.0, throughput=100.0) for n in "abcd")
    peak = plan_fleet(Catalogue(models), "inf2.xlarge", time_limit=1.0, instance_time_limit=0.2)
    assert peak.target_kind == "peak load" and peak.counts == {"inf2.xlarge": 1}
    assert all(p.alpha is None for p in peak.instances)

    slo = Catalogue(tuple(replace(m, slo_ms=60.0) for m in models))
    plan = plan_fleet(slo, "inf2.xlarge", time_limit=1.0, instance_time_limit=0.2)
    assert plan.target_kind == "alpha*"
    assert plan.counts == {"inf2.xlarge": 2}  # 0.8 on a core misses 60 ms; 0.4 meets it
    assert plan.target_met
    assert "round(s) of repacking instances below alpha* 1" in plan.method
    for p in plan.instances:
        assert p.alpha is not None and p.alpha >= 1.0
        assert p.alpha == max_scale(p.layout, p.mix, seed=0)
    assert plan.bound_per_hour <= plan.cost_per_hour


def test_an_unreachable_latency_target_is_reported_not_met() -> None:
    models = tuple(Model(n, rate=40.0, throughput=100.0, slo_ms=15.0) for n in "ab")
    plan = plan_fleet(Catalogue(models), "inf2.xlarge", time_limit=1.0, instance_time_limit=0.2)
    assert not plan.target_met
    assert "NOT met" in plan.summary()


def test_the_ray_executor_without_ray_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from ncplace.fleet.execute import run_map

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(
        ConfigError, match=r"needs Ray, which is not installed: pip install 'ncplace\[ray\]'"
    ):
        run_map(abs, [1, -2], executor="ray")
    assert run_map(abs, [1, -2], workers=1) == [1, 2]


def test_an_instance_with_a_tensor_parallel_server_gets_a_launcher_of_one_script_per_process():
    """A tensor-parallel model is a process of its own, so its instance's code is the launcher
    that writes and starts each process's script (each with its NEURON_RT_VISIBLE_CORES)."""
    catalogue = Catalogue(
        (
            Model("llm", cores=2, parallel="tensor", rate=50, throughput=100),
            Model("small", rate=50, throughput=100),
        )
    )
    plan = plan_fleet(catalogue, (LARGE,), prices=TINY_PRICES, time_limit=1.0)
    (only,) = plan.instances
    code = only.code()
    assert code.startswith("#!/bin/sh\n")
    assert "neuronx_distributed.trace.parallel_model_load('llm.pt')" in code
    assert code.count("os.environ['NEURON_RT_VISIBLE_CORES']") == 2


def test_a_solve_the_safety_limit_stops_is_known() -> None:
    """A number-partitioning model CP-SAT cannot close in 0.2 s: the waiting thread stops it at
    its safety limit and says so; with room to finish (a small deterministic limit and no
    safety limit) the solve stops on its own, and nothing is flagged."""
    from ortools.sat.python import cp_model

    from ncplace.optimize.cpsat import run_watched

    rng = random.Random(7)
    numbers = [rng.randrange(10**8, 10**9) for _ in range(60)]
    model = cp_model.CpModel()
    side = [model.new_bool_var(f"x{i}") for i in range(len(numbers))]
    left = sum(n * x for n, x in zip(numbers, side, strict=True))
    gap = model.new_int_var(0, sum(numbers), "gap")
    model.add(gap >= 2 * left - sum(numbers))
    model.add(gap >= sum(numbers) - 2 * left)
    model.minimize(gap)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    status, stopped = run_watched(solver, model, safety_s=0.2)
    assert stopped and status in (cp_model.FEASIBLE, cp_model.UNKNOWN)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_deterministic_time = 0.01
    status, stopped = run_watched(solver, model)
    assert not stopped


def test_a_fleet_names_the_solves_its_safety_limit_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the wall-clock safety limit stops the assignment's solve and the lower bound's (here
    made to), the plan's method says the plan is not reproducible and names both."""
    from ortools.sat.python import cp_model

    from ncplace.optimize import cpsat

    real = cpsat.run_watched

    def cut(*args: Any, **kwargs: Any) -> tuple[object, bool]:
        status, _ = real(*args, **kwargs)
        return (cp_model.FEASIBLE if status == cp_model.OPTIMAL else status), True

    monkeypatch.setattr(cpsat, "run_watched", cut)
    catalogue = Catalogue((Model("a", rate=50.0, throughput=100.0),))
    plan = plan_fleet(catalogue, (SMALL,), prices=TINY_PRICES, time_limit=1.0)
    assert plan.method.endswith(
        "; not reproducible: the wall-clock safety limit stopped the CP-SAT assignment, the lower "
        "bound"
    )
    monkeypatch.setattr(cpsat, "run_watched", real)
    plan = plan_fleet(catalogue, (SMALL,), prices=TINY_PRICES, time_limit=1.0)
    assert "not reproducible" not in plan.method
