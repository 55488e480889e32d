"""The compiled decision search (``ncplace.optimize._sweep``) against the Python one.

Both must give the same answer, the same step count, the same layout and remember the same
failed states for every decision, so whole sweeps and proofs come out identical; the compiled
one is also checked against the brute force on its own, for the memory rule, the wall-clock
limit and interrupts. The backend switch (``NCPLACE_SWEEP``) is tested without the extension.
"""

from __future__ import annotations

import random
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from unittest import mock

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ncplace import ConfigError, Error, Instance, Mix, Model, optimize
from ncplace.optimize import sweep as sweep_module
from ncplace.optimize.problem import Problem, build_problem
from ncplace.optimize.sweep import SweepResult, _Search, applicable, prove, sweep
from tests.test_optimize_bruteforce import tiny_mix
from tests.test_sweep import assert_decisions_match_brute_force, brute_force

native = pytest.mark.skipif(
    sweep_module._sweep is None,
    reason="the compiled sweep (ncplace.optimize._sweep) is not built: no C compiler at install",
)


@pytest.fixture(scope="module", autouse=True)
def default_backend() -> Iterator[None]:
    """The default backend (native when built), even in a run under ``NCPLACE_SWEEP=python``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("NCPLACE_SWEEP", raising=False)
        yield


def random_mix(seed: int) -> Mix:
    """A valid random mix of 4-14 models on 4-8 cores, about one to two a core: integer loads of
    hundredths up to 0.9 (capacities of 100-300 units: subset-sum sets of several words), many
    even, some exclusive, some with chip memory, some pinned."""
    rng = random.Random(seed)
    while True:
        cores = rng.choice([4, 6, 8])
        inst = Instance(cores=cores, cores_per_chip=2, chip_memory_gib=rng.choice([2, 4, 32]))
        models = []
        for i in range(rng.randint(cores, min(14, 2 * cores))):
            k = rng.choice([1, 1, 1, 2, 3])
            models.append(
                Model(
                    f"m{i}",
                    cores=k,
                    rate=rng.choice([rng.randint(5, 60), rng.randrange(10, 60, 4)]),
                    throughput=100,
                    exclusive=rng.random() < 0.05,
                    memory_gib=rng.choice([0.5, 1.0, 2.0]) if rng.random() < 0.2 else None,
                    start=rng.randrange(0, cores - k + 1) if rng.random() < 0.1 else None,
                )
            )
        try:
            return Mix(tuple(models), instance=inst)
        except Error:
            continue


def without_backend(result: SweepResult) -> SweepResult:
    return replace(result, backend="")


def both(problem: Problem) -> tuple[_Search, _Search]:
    return (
        _Search(problem, 10**7, float("inf"), "python"),
        _Search(problem, 10**7, float("inf"), "native"),
    )


@native
@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([sweep_module.MEMO_BYTES, 3_000]))
def test_native_and_python_decisions_and_sweeps_are_identical(seed: int, memo: int) -> None:
    """Decisions at capacities from below the floor to above the optimum, each on a budget that
    some exhaust, on one search per backend (so the remembered states carry over), then whole
    sweeps and proofs: identical outcomes, steps and remembered states. With little memory the
    states are dropped and refused as the Python search does."""
    problem = build_problem(random_mix(seed), False)
    assume(applicable(problem))
    work = sum(m.min_width * m.demand[0] for m in problem.models)
    floor = max([work // problem.cores] + [m.demand[0] for m in problem.models])
    top = floor + 40
    with mock.patch.object(sweep_module, "MEMO_BYTES", memo):
        python, compiled = both(problem)
        assert compiled.backend == "native" and python.backend == "python"
        for cap in [*range(floor - 2, floor + 12, 2), top]:
            expected = python.run(cap, 3_000)
            assert compiled.run(cap, 3_000) == expected
            assert compiled.memo() == python.memo()
            assert compiled.used == python.used
        for kind in ("sweep", "prove"):
            run = sweep if kind == "sweep" else prove
            with mock.patch.dict("os.environ", {"NCPLACE_SWEEP": "python"}):
                expected = run(problem, floor, top, 10_000)
            with mock.patch.dict("os.environ", {"NCPLACE_SWEEP": "native"}):
                found = run(problem, floor, top, 10_000)
            assert found.backend == "native" and expected.backend == "python"
            assert without_backend(found) == without_backend(expected)


@native
@pytest.mark.parametrize("seed", range(60))
def test_native_decisions_match_brute_force(seed: int) -> None:
    assert_decisions_match_brute_force(seed, "native")


@native
def test_memory_bound_mixes_never_report_a_false_infeasible() -> None:
    """Random mixes where chip memory binds (2 GiB chips of two cores, models of 1-2 GiB): no
    capacity at or above the brute-force optimum is called infeasible, and the sweep's bound
    never passes the optimum."""
    checked = 0
    for seed in range(400):
        rng = random.Random(seed)
        inst = Instance(cores=4, cores_per_chip=2, chip_memory_gib=2)
        models = tuple(
            Model(f"m{i}", rate=rng.randint(1, 9), throughput=10, memory_gib=rng.choice([1, 2]))
            for i in range(rng.randint(2, 4))
        )
        try:
            problem = build_problem(Mix(models, inst), False)
        except Error:  # more memory than the chips hold
            continue
        optimum = brute_force(problem)
        if optimum is None:
            continue
        search = _Search(problem, 10**6, float("inf"), "native")
        for cap in range(optimum, optimum + 3):
            assert search.run(cap, 10**5).status != "infeasible"
        result = sweep(problem, 0, optimum + 5, 10**5)
        assert result.backend == "native" and result.bound <= optimum
        checked += 1
    assert checked > 100


def hard_problem() -> Problem:
    """30 models of random loads on 16 cores at their floor: no proof in millions of steps."""
    from benchmarks.generator import generate

    return build_problem(generate("scale", "inf1.6xlarge", 30, 1), False)


@native
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_signal_handler_interrupts_the_native_search() -> None:
    """A KeyboardInterrupt raised by a signal handler while the compiled search runs reaches the
    caller (as Ctrl-C reaches the optimizer's interrupt handling); the search runs again after."""
    problem = hard_problem()

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            sweep(problem, 0, 10**9, 10**12, find=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert sweep(problem, 0, 10**9, 1_000).steps == 1_001


@native
def test_the_wall_clock_limit_cuts_the_native_search() -> None:
    result = sweep(hard_problem(), 0, 10**9, 10**12, wall_limit_s=0.05, find=False)
    assert result.wall_cut and result.backend == "native"
    assert 0 < result.steps < 10**12


@native
def test_a_problem_beyond_int64_safety_runs_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = build_problem(tiny_mix(3, ranges=False), False)
    monkeypatch.setattr(sweep_module, "NATIVE_LIMIT", 1)
    assert _Search(problem, 10, float("inf")).backend == "python"
    assert sweep_module.steps_per_second(problem) == sweep_module.STEPS_PER_SECOND
    assert sweep_module.steps_per_second() == sweep_module.NATIVE_STEPS_PER_SECOND


def test_the_backend_follows_ncplace_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCPLACE_SWEEP", "python")
    assert sweep_module.backend() == "python"
    assert sweep_module.steps_per_second() == sweep_module.STEPS_PER_SECOND
    problem = build_problem(tiny_mix(3, ranges=False), False)
    assert sweep(problem, 0, 100, 100).backend == "python"
    monkeypatch.setenv("NCPLACE_SWEEP", "fast")
    with pytest.raises(ConfigError, match=r"^NCPLACE_SWEEP='fast' is not a sweep backend: use "):
        sweep_module.backend()
    monkeypatch.delenv("NCPLACE_SWEEP")
    expected = "python" if sweep_module._sweep is None else "native"
    assert sweep_module.backend() == expected


def test_native_is_refused_when_the_extension_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep_module, "_sweep", None)
    monkeypatch.setenv("NCPLACE_SWEEP", "native")
    with pytest.raises(ConfigError, match=r"^NCPLACE_SWEEP=native but the compiled sweep "):
        sweep_module.backend()
    monkeypatch.delenv("NCPLACE_SWEEP")
    assert sweep_module.backend() == "python"


def test_the_plan_records_the_sweep_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deterministic plan is reproducible for one backend (its steps per second set the sweep's
    budget), so the plan and its certificate name it."""
    mix = tiny_mix(3, ranges=False)
    plan = optimize(mix, time_limit=1, deterministic=True)
    assert plan.sweep_backend == sweep_module.backend()
    assert plan.to_dict()["certificate"]["sweep_backend"] == plan.sweep_backend
    monkeypatch.setenv("NCPLACE_SWEEP", "python")
    assert optimize(mix, time_limit=1, deterministic=True).sweep_backend == "python"


@native
def test_the_compiled_rate_grows_with_the_unit_types(monkeypatch: pytest.MonkeyPatch) -> None:
    """(types / 20) ** 1.5 times the 20-type rate, between 1 and 4 times; pinned models and
    identical models are not types of their own; the Python rate stays one constant."""
    monkeypatch.delenv("NCPLACE_SWEEP", raising=False)
    inst = Instance(cores=64, cores_per_chip=4)

    def rate(n: int, copies: int = 1) -> int:
        models = [Model(f"m{i}", rate=10 + i, throughput=1000) for i in range(n)]
        models += [Model(f"same{j}", rate=5, throughput=1000) for j in range(copies - 1)]
        models.append(Model("pinned", rate=7, throughput=1000, start=63))
        return sweep_module.steps_per_second(build_problem(Mix(models, instance=inst), False))

    base = sweep_module.NATIVE_STEPS_PER_SECOND
    assert rate(10) == base
    assert rate(20) == base
    assert rate(30) == int(base * 1.5**1.5)
    assert rate(40) == int(base * 2**1.5)
    assert rate(40, copies=30) == int(base * (41 / 20) ** 1.5)
    assert rate(60) == 4 * base
    monkeypatch.setenv("NCPLACE_SWEEP", "python")
    assert rate(40) == sweep_module.STEPS_PER_SECOND
