"""The benchmark package: instance generator, the HiGHS MIP (checked by brute force), the runner."""

from __future__ import annotations

import csv
import itertools
import math
import random
import sys

import pytest

import ncplace
from benchmarks import highs_model, run, summary
from benchmarks.generator import (
    FAMILIES,
    SIZES,
    default_models,
    generate,
    generate_with_witness,
    size_instance,
)
from benchmarks.highs_model import layout_from_starts, peak_floor, solve_highs, unsupported
from ncplace import ConfigError, Instance, Mix, Model

pytest.importorskip("highspy")


def brute_force(mix: Mix) -> tuple[float, int] | None:
    """(least peak, least overlap among least-peak layouts) over every block start; None if none.

    Written from the model's definition, independently of the MIP: loads ``d / r`` on every core
    of the block, no core shared with an exclusive block, per-chip memory ``mem / k`` per core.
    """
    inst = mix.instance
    n = inst.cores
    domains = [
        [m.start] if m.start is not None else range(n - m.cores * m.replicas + 1) for m in mix
    ]
    best: tuple[float, int] | None = None
    for starts in itertools.product(*domains):
        loads = [0.0] * n
        count = [0] * n
        exclusive = [False] * n
        memory = [0.0] * inst.chips
        for m, s in zip(mix.models, starts, strict=True):
            for c in range(s, s + m.cores * m.replicas):
                loads[c] += m.demand / m.replicas
                count[c] += 1
                exclusive[c] |= m.exclusive
                memory[c // inst.cores_per_chip] += (m.memory_gib or 0.0) / m.cores
        if any(e and k > 1 for e, k in zip(exclusive, count, strict=True)):
            continue
        if any(u > inst.chip_memory_gib + 1e-9 for u in memory):
            continue
        value = (max(loads), sum(max(0, k - 1) for k in count))
        if best is None or value[0] < best[0] - 1e-9:
            best = value
        elif abs(value[0] - best[0]) <= 1e-9 and value[1] < best[1]:
            best = (best[0], value[1])
    return best


def tiny_mix(seed: int) -> Mix:
    """A random valid mix of 1-5 models on 4 or 6 cores, with exclusivity, memory and pins."""
    rng = random.Random(seed)
    while True:
        cores = rng.choice([4, 6])
        per_chip = rng.choice([2, cores] + ([3] if cores == 6 else []))
        inst = Instance(
            cores=cores, cores_per_chip=per_chip, chip_memory_gib=rng.choice([2.0, 4.0])
        )
        models = []
        for i in range(rng.randint(1, 5)):
            k = rng.choice([1, 1, 2, 3])
            r = rng.choice([1, 2]) if 2 * k <= cores else 1
            pin = (
                rng.randrange(cores - k * r + 1) if k * r <= cores and rng.random() < 0.1 else None
            )
            models.append(
                Model(
                    f"m{i}",
                    cores=k,
                    replicas=r,
                    rate=float(rng.randint(1, 9)),
                    throughput=10.0,
                    exclusive=rng.random() < 0.25,
                    memory_gib=rng.choice([0.5, 1.0, 1.5, 2.5]) if rng.random() < 0.4 else None,
                    start=pin,
                )
            )
        try:
            return Mix(tuple(models), inst)
        except ConfigError:
            continue


@pytest.mark.parametrize("seed", range(60))
def test_highs_optimum_equals_brute_force_and_the_scorer(seed):
    mix = tiny_mix(seed)
    expected = brute_force(mix)
    result = solve_highs(mix, time_limit=10.0, overlap=True)
    if expected is None:
        assert result.status == "infeasible"
        assert result.starts is None
        return
    assert result.status == "optimal"
    assert result.objective == pytest.approx(expected[0], abs=1e-9)
    assert result.bound <= result.objective
    assert result.gap == 0.0
    scored = ncplace.score(result.layout(mix), mix)
    assert scored.peak_load == pytest.approx(result.objective, abs=1e-12)
    assert scored.feasible and result.feasible
    assert result.overlap == scored.overlap == expected[1]
    assert result.overlap_status == "optimal"


def test_tiny_mixes_cover_the_hard_rules():
    mixes = [tiny_mix(seed) for seed in range(60)]
    assert sum(any(m.exclusive for m in mix) for mix in mixes) >= 10
    assert sum(any(m.memory_gib for m in mix) for mix in mixes) >= 10
    assert sum(any(m.start is not None for m in mix) for mix in mixes) >= 5
    assert sum(brute_force(mix) is None for mix in mixes) >= 1


def test_highs_hand_computed_optimum():
    # e's two copies (0.2 per core) must go beside the two lightest models: peak 0.6, and six
    # copies on four cores overlap twice.
    loads = {"a": 0.6, "b": 0.5, "c": 0.4, "d": 0.3}
    models = [Model(k, rate=v * 10, throughput=10.0) for k, v in loads.items()]
    models.append(Model("e", replicas=2, rate=4.0, throughput=10.0))
    mix = Mix(tuple(models), ncplace.instance("inf1.xlarge"))
    result = solve_highs(mix, overlap=True)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(0.6)
    assert result.overlap == 2
    starts = result.starts
    assert abs(starts["c"] - starts["d"]) == 1
    assert starts["e"] == min(starts["c"], starts["d"])


def test_highs_proves_fragmentation_infeasible():
    # The pinned exclusive block on cores 1-2 leaves cores 0 and 3: no room for a 2-core block.
    inst = Instance(cores=4, cores_per_chip=4)
    mix = Mix((Model("x", cores=2, exclusive=True, start=1), Model("y", cores=2)), inst)
    result = solve_highs(mix)
    assert result.status == "infeasible"
    assert (result.objective, result.starts, result.layout(mix)) == (None, None, None)


def test_layout_from_starts_spans_the_used_cores():
    mix = Mix((Model("a", cores=2, replicas=2), Model("b")), Instance(cores=8))
    layout = layout_from_starts(mix, {"a": 2, "b": 1})
    assert layout.processes[0].cores == (1, 2, 3, 4, 5)
    assert dict(layout.processes[0].env) == {"NEURON_RT_VISIBLE_CORES": "1-5"}
    assert [(p.model, p.replicas) for p in layout.placements] == [
        ("a", ((2, 3), (4, 5))),
        ("b", ((1,),)),
    ]
    single = layout_from_starts(mix.with_models([Model("b")]), {"b": 3})
    assert dict(single.processes[0].env) == {"NEURON_RT_VISIBLE_CORES": "3"}


def test_highs_flags_mixes_it_cannot_model():
    mix = Mix((Model("a", replicas="auto"), Model("b", replicas=(1, 3))), Instance(cores=4))
    assert unsupported(mix) == (
        "replicas 'auto' or a range for a, b: the HiGHS model takes fixed counts"
    )
    result = solve_highs(mix)
    assert (result.status, result.objective, result.starts) == ("unsupported", None, None)
    assert "fixed counts" in result.reason


def test_missing_highspy_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "highspy", None)
    mix = Mix((Model("a"),), Instance(cores=4))
    with pytest.raises(ImportError, match=r"pip install ncplace\[bench\].*pip install highspy"):
        highs_model.solve_highs(mix)


def test_highs_time_limit_returns_the_incumbent_with_its_gap():
    mix = generate("scale", "inf1.6xlarge", 40, seed=0)
    result = solve_highs(mix, time_limit=0.3)
    assert result.status in ("optimal", "feasible")
    assert result.objective == pytest.approx(ncplace.score(result.layout(mix), mix).peak_load)
    assert 0 <= result.bound <= result.objective
    assert result.gap == pytest.approx((result.objective - result.bound) / result.objective)


# --- generator ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_generator_is_deterministic_valid_and_feasible(family):
    for size in SIZES:
        mix, witness = generate_with_witness(family, size, seed=3)
        assert mix == generate(family, size, seed=3)
        assert len(mix) == default_models(family, size)
        assert mix.instance == size_instance(size)
        assert all(m.fixed_replicas for m in mix)
        assert unsupported(mix) == ""
        scored = ncplace.score(layout_from_starts(mix, witness), mix)
        assert scored.feasible, (family, size)
        for m in mix:
            if m.start is not None:
                assert witness[m.name] == m.start
    assert len({generate(family, "inf1.6xlarge", seed=s) for s in range(4)}) >= 3


def test_generator_known_instance_is_stable():
    mix = generate("exclusive", "inf1.xlarge", seed=0)
    assert mix.to_dict() == {
        "instance": "inf1.xlarge",
        "models": [
            {
                "name": "m0",
                "cores": 2,
                "rate": 504.0,
                "throughput": 2000.0,
                "exclusive": True,
                "start": 0,
            },
            {"name": "m1", "replicas": 2, "rate": 1402.0, "throughput": 2000.0},
            {"name": "m2", "cores": 2, "rate": 1196.0, "throughput": 2000.0},
        ],
    }


def test_generator_families_have_their_shape():
    big = generate("scale", "inf1.24xlarge", seed=0)
    assert len(big) == 300 and {m.cores for m in big} == {1, 2, 3, 4}
    assert len(generate("scale", "inf1.6xlarge", seed=0)) == 40
    uniform = generate("uniform", "inf1.24xlarge", seed=0)
    assert len({m.demand for m in uniform}) == 1
    skewed = generate("skewed", "inf1.6xlarge", seed=0)
    assert {m.cores for m in skewed} == {1}
    rates = [m.rate for m in skewed]
    assert rates[0] > 5 * rates[-1]
    pipeline = generate("pipeline", "synthetic-128", seed=0)
    assert {m.cores for m in pipeline} == {1, 2, 4, 8}
    exclusive = generate("exclusive", "inf1.24xlarge", seed=0)
    assert 0 < sum(m.width for m in exclusive if m.exclusive) <= 32
    mix, witness = generate_with_witness("memory", "inf1.24xlarge", seed=0)
    used = [0.0] * mix.instance.chips
    for m in mix:
        for c in range(witness[m.name], witness[m.name] + m.width):
            used[c // 4] += m.memory_gib / m.cores
    assert 0.94 * 8.0 <= max(used) <= 0.95 * 8.0
    for family in FAMILIES:
        mix = generate(family, "inf1.24xlarge", seed=1)
        assert max(m.demand / m.replicas for m in mix) <= 0.95


def test_generator_rejects_unknown_families_and_sizes():
    with pytest.raises(ConfigError, match="benchmark family 'nope'"):
        generate("nope", "inf1.xlarge")
    with pytest.raises(ConfigError, match="synthetic-<N> needs N a multiple of 4"):
        generate("uniform", "synthetic-6")
    with pytest.raises(ConfigError, match="unknown instance"):
        generate("uniform", "inf9.huge")
    with pytest.raises(ConfigError, match="n_models: must be an integer >= 1, got 0"):
        generate("uniform", "inf1.xlarge", 0)
    assert size_instance("synthetic-32").cores == 32


# --- runner ------------------------------------------------------------------------------------


def test_quick_suite_slice_writes_the_csv_and_summary(tmp_path, capsys):
    code = run.main(
        ["--suite", "quick", "--first", "2", "--out", str(tmp_path), "--time-limit", "0.5"]
    )
    assert code == 0
    with (tmp_path / "quick.csv").open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames
        rows = list(reader)
    assert header == run.columns(run._policies())
    for key in (
        "family",
        "instance",
        "cores",
        "models",
        "seed",
        "opt_status",
        "opt_objective",
        "opt_bound",
        "opt_gap",
        "opt_time",
        "highs_status",
        "highs_objective",
        "highs_bound",
        "highs_time",
        "ratio_default",
        "ratio_best",
        "time_ratio",
        "agree",
    ):
        assert key in header
    assert [(r["family"], r["instance"], r["cores"]) for r in rows] == [
        ("uniform", "inf1.xlarge", "4"),
        ("skewed", "inf1.xlarge", "4"),
    ]
    for r in rows:
        assert r["highs_status"] == "optimal"
        assert float(r["highs_objective"]) > 0
    summary_text = (tmp_path / "quick.md").read_text(encoding="utf-8")
    assert "## Machine" in summary_text and "## Time by size" in summary_text
    assert "| cpus (nproc) |" in summary_text
    out = capsys.readouterr().out
    assert "[  1/2] uniform" in out and "[  2/2] skewed" in out
    (tmp_path / "quick.md").unlink()
    assert run.main(["--suite", "quick", "--out", str(tmp_path), "--summarize"]) == 0
    assert (tmp_path / "quick.md").read_text(encoding="utf-8") == summary_text


def test_runner_comparison_columns():
    row = {
        "default_peak": 0.9,
        "best_peak": 0.6,
        "best_same_peak": 0.75,
        "opt_status": "optimal",
        "opt_objective": 0.75,
        "opt_bound": 0.75,
        "opt_block_status": "optimal",
        "opt_block_peak": 0.75,
        "opt_block_bound": 0.75,
        "opt_peak_time": 0.5,
        "highs_status": "optimal",
        "highs_objective": 0.75 + 5e-7,
        "highs_bound": 0.75,
        "highs_time": 2.5,
        "highs_solve_time": 2.0,
    }
    run._compare(row)
    assert row["ratio_default"] == pytest.approx(1.2)
    assert row["ratio_best"] == pytest.approx(0.8)
    assert row["ratio_best_same"] == pytest.approx(1.0)
    assert (row["agree"], row["consistent"], row["time_ratio"]) == ("yes", "yes", 4.0)
    row.update(highs_objective=0.8, highs_bound=0.8)
    run._compare(row)
    assert (row["agree"], row["consistent"]) == ("NO", "NO")
    row.update(highs_status="infeasible", highs_objective=None, highs_bound=None, agree=None)
    run._compare(row)
    assert (row["agree"], row["consistent"]) == (None, "NO")


def test_percentile_interpolates():
    assert summary.percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert summary.percentile([1.0, 2.0, 3.0], 100) == 3.0
    assert math.isnan(summary.percentile([], 50))


def test_peak_floor_is_the_heaviest_copy_or_the_spread_work():
    inst = Instance(cores=4)
    heavy = Mix((Model("a", rate=9.0, throughput=10.0), Model("b", cores=2, replicas=2)), inst)
    assert peak_floor(heavy) == pytest.approx(0.9)
    spread = Mix(tuple(Model(f"m{i}", cores=2, rate=6.0, throughput=10.0) for i in range(5)), inst)
    assert peak_floor(spread) == pytest.approx(5 * 0.6 * 2 / 4)
    # The exclusive pair holds cores to itself: the three 0.5-models share the other two cores.
    models = [Model("x", cores=2, rate=1.0, throughput=10.0, exclusive=True)]
    models += [Model(f"s{i}", rate=5.0, throughput=10.0) for i in range(3)]
    walled = Mix(tuple(models), inst)
    assert peak_floor(walled) == pytest.approx(1.5 / 2)
    result = solve_highs(walled)
    assert (result.status, result.objective) == ("optimal", pytest.approx(1.0))
