"""Plans of several processes: declared processes, worker pools, tensor-parallel servers, and the
code, launcher and manifests that start them."""

from __future__ import annotations

import itertools
import random
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

import ncplace
from ncplace import ConfigError, Instance, Mix, Model, PlacementError, instance, score
from ncplace.codegen import generate_scripts
from ncplace.deploy import NEURONCORE_RESOURCE, k8s_manifests, launch_script, process_names
from ncplace.envvars import format_visible_cores
from ncplace.optimize.processes import worker_slice, worker_width
from ncplace.policies import POLICIES
from ncplace.processes import ProcessSpec

LIMIT = 2.0


def solve(mix: Mix, **kw: object) -> ncplace.Plan:
    plan = ncplace.optimize(mix, time_limit=LIMIT, **kw)  # type: ignore[arg-type]
    assert plan.layout is not None
    assert score(plan.layout, mix).peak_load == plan.objective
    assert score(plan.layout, mix).feasible
    return plan


def ranges(plan: ncplace.Plan) -> list[tuple[int, ...]]:
    assert plan.layout is not None
    return [span.cores for span in plan.layout.processes]


def check_processes(plan: ncplace.Plan) -> None:
    """Ranges contiguous and disjoint, each model inside its process, env naming the range."""
    layout = plan.layout
    assert layout is not None
    owned: set[int] = set()
    for span in layout.processes:
        cores = span.cores
        assert list(cores) == list(range(cores[0], cores[-1] + 1))
        assert not owned & set(cores)
        owned |= set(cores)
        assert span.env["NEURON_RT_VISIBLE_CORES"] == ncplace.envvars.format_visible_cores(cores)
    for p in layout.placements:
        assert set(p.cores) <= set(layout.processes[p.process].cores)


def test_two_declared_processes_each_hold_their_models() -> None:
    mix = Mix(
        [
            Model("a", rate=300, throughput=400),
            Model("b", rate=100, throughput=200),
            Model("c", cores=2, rate=1, throughput=1),
            Model("d", rate=60, throughput=100),
        ],
        "inf1.6xlarge",
        processes=(ProcessSpec("api", ("a", "b", "d")), ProcessSpec("batch", ("c",), cores=4)),
    )
    plan = solve(mix)
    check_processes(plan)
    assert plan.status == ncplace.Status.OPTIMAL and plan.objective == 1.0
    layout = plan.layout
    assert layout is not None
    by_model = {p.model: p.process for p in layout.placements}
    assert by_model == {"a": 0, "b": 0, "d": 0, "c": 1}
    assert len(ranges(plan)[1]) == 4
    assert process_names(layout, mix) == ["api", "batch"]


def test_a_pool_of_three_workers_repeats_one_slice() -> None:
    mix = Mix(
        [Model("a", rate=600, throughput=400, replicas=2), Model("b", rate=300, throughput=200)],
        "inf1.6xlarge",
        workers=3,
    )
    assert worker_width(mix.instance, 3) == 4  # 16 // 3 = 5 is not chip-shaped; 4 is one chip
    plan = solve(mix)
    check_processes(plan)
    assert ranges(plan) == [tuple(range(4 * w, 4 * w + 4)) for w in range(3)]
    layout = plan.layout
    assert layout is not None
    per_worker = [
        sorted(
            (p.model, tuple(c - 4 * p.process for c in p.cores))
            for p in layout.placements
            if p.process == w
        )
        for w in range(3)
    ]
    assert per_worker[0] == per_worker[1] == per_worker[2]
    # Each worker serves a third: a's 600/400 over 2 copies x 3 workers, b's 300/200 over 3.
    assert plan.objective == pytest.approx(0.5)
    assert plan.status == ncplace.Status.OPTIMAL
    assert "3 workers of 4 cores" in plan.stop_reason
    assert process_names(layout, mix) == ["worker-0", "worker-1", "worker-2"]


def test_a_baseline_in_a_pool_runs_inside_each_worker() -> None:
    """Three workers on inf1.6xlarge (slices of one 4-core chip): each baseline lays out one
    worker's slice as its technique would, with a third of the traffic, and every worker repeats
    it in its own range, a process that sees only that range (NEURON_RT_VISIBLE_CORES)."""
    mix = Mix(
        [Model("a", rate=600, throughput=400, replicas=2), Model("b", rate=300, throughput=200)],
        "inf1.6xlarge",
        workers=3,
    )
    for name in ("default", "greedy", "multicore", "processes"):
        alone = POLICIES[name](worker_slice(mix))
        layout = POLICIES[name](mix)
        per = len(alone.processes)
        assert len(layout.processes) == 3 * per
        for w in range(3):
            for i, span in enumerate(alone.processes):
                pooled = layout.processes[w * per + i]
                assert pooled.cores == tuple(c + 4 * w for c in span.cores)
                assert pooled.env["NEURON_RT_VISIBLE_CORES"] == format_visible_cores(pooled.cores)
                assert "NEURON_RT_NUM_CORES" not in pooled.env
            mine = sorted(
                (p.model, tuple(c - 4 * w for c in p.cores))
                for p in layout.placements
                if p.process // per == w
            )
            assert mine == sorted((p.model, p.cores) for p in alone.placements)
        assert score(layout, mix).peak_load == pytest.approx(
            score(alone, worker_slice(mix)).peak_load
        )
    table = ncplace.compare(mix, optimizer=False)
    notes = {row.name: row.copies_note for row in table.rows}
    assert notes["default"] == ""
    assert notes["multicore"] == (
        "copies not as the mix asks: a 12 in 3 workers (asks 2 each), b 12 in 3 workers (asks 1 "
        "each)"
    )


def test_a_baseline_runs_inside_each_declared_process() -> None:
    """Three declared processes on inf1.6xlarge, the second with 4 cores: started in order, the
    sized one gets its 4 cores and the two others an equal share of the 12 left in whole chips
    (4 each, cores 12-15 idle); each baseline's technique runs inside each process's run on that
    process's models, the process seeing only its run."""
    models = [
        Model(n, rate=r, throughput=100) for n, r in zip("abcd", (90, 40, 70, 20), strict=True)
    ]
    specs = (
        ProcessSpec("p", ("a", "b")),
        ProcessSpec("q", ("c",), cores=4),
        ProcessSpec("r", ("d",)),
    )
    mix = Mix(models, "inf1.6xlarge", processes=specs)
    runs = {"p": range(0, 4), "q": range(4, 8), "r": range(8, 12)}
    for name in ("default", "greedy", "multicore", "processes"):
        layout = POLICIES[name](mix)
        assert score(layout, mix).feasible
        for spec in specs:
            run = runs[spec.name]
            alone = POLICIES[name](
                Mix([mix[m] for m in spec.models], replace(mix.instance, cores=4))
            )
            mine = [p for p in layout.placements if p.model in spec.models]
            assert sorted((p.model, tuple(c - run.start for c in p.cores)) for p in mine) == sorted(
                (p.model, p.cores) for p in alone.placements
            )
            for i in {p.process for p in mine}:
                span = layout.processes[i]
                assert set(span.cores) <= set(run)
                assert span.env["NEURON_RT_VISIBLE_CORES"] == format_visible_cores(span.cores)
    part = Mix(models, "inf1.6xlarge", processes=(*specs[:1], replace(specs[1], cores=2), specs[2]))
    layout = POLICIES["default"](part)  # q on half a chip (and its memory), r on the next chip
    assert [s.env["NEURON_RT_VISIBLE_CORES"] for s in layout.processes] == ["0-3", "4-5", "8-11"]
    odd = Mix(models, "inf1.6xlarge", processes=(*specs[:1], replace(specs[1], cores=6), specs[2]))
    with pytest.raises(PlacementError, match=r"^process 'q': cores: 6: a baseline runs its "):
        POLICIES["default"](odd)


def test_workers_share_a_chip_with_its_memory() -> None:
    mix = Mix([Model("a", memory_gib=10)], "inf2.xlarge", workers=2)
    plan = solve(mix)
    assert ranges(plan) == [(0,), (1,)]
    with pytest.raises(ConfigError, match=r"workers: 3 workers get 2 // 3 = 0 core\(s\) each"):
        Mix([Model("a")], "inf2.xlarge", workers=3)
    with pytest.raises(
        ncplace.InfeasibleMix,
        match=r"^workers: each of 2 workers loads every model on 1 core\(s\) with 16 GiB of "
        r"device memory: model 'a': memory_gib: one copy puts at least 20 GiB on one chip",
    ):
        Mix([Model("a", memory_gib=20)], "inf2.xlarge", workers=2)


@pytest.mark.parametrize("machine", ["trn1.32xlarge", "trn2.48xlarge"])
def test_a_tp8_llm_server_beside_small_models(machine: str) -> None:
    mix = Mix(
        [
            Model("llama", cores=8, parallel="tensor", rate=20, throughput=25, memory_gib=60),
            Model("embed", rate=900, throughput=1000),
            Model("rerank", rate=400, throughput=500),
            Model("classify", rate=100, throughput=500),
        ],
        machine,
    )
    plan = solve(mix)
    check_processes(plan)
    layout = plan.layout
    assert layout is not None
    llama = layout.placements_of("llama")[0]
    first = llama.replicas[0][0]
    inst = instance(machine)
    assert first % inst.cores_per_chip == 0  # whole devices
    assert ncplace.hardware.connected(inst, first, 8)
    assert layout.processes[llama.process].cores == llama.replicas[0]  # a server of its own
    assert [p.process for p in layout.placements if p.model != "llama"] == [1, 1, 1]
    assert plan.objective == pytest.approx(0.9) and plan.status == ncplace.Status.OPTIMAL
    assert process_names(layout, mix) == ["llama", "main"]
    scripts = generate_scripts(layout, mix)
    assert "neuronx_distributed.trace.parallel_model_load('llama.pt')" in scripts[0]
    replayed = ncplace.replay(scripts, mix)
    assert replayed.canonical() == layout.canonical()


def test_tensor_parallel_degrees_and_servers_are_checked() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^model 'l': cores: 4 is not a tensor-parallel degree trn1\.32xlarge takes; "
        r"legal: 1, 2, 8, 16, 32$",
    ):
        Mix([Model("l", cores=4, parallel="tensor")], "trn1.32xlarge")
    with pytest.raises(ConfigError, match=r"is a process of its own \(an LLM server\)"):
        Mix(
            [Model("l", cores=2, parallel="tensor"), Model("e")],
            "inf2.xlarge",
            processes=(ProcessSpec("p", ("l", "e")),),
        )


@pytest.mark.parametrize(
    ("processes", "message"),
    [
        (
            [{"name": "p", "models": ["a"]}],
            r"^mix: processes: model\(s\) 'b' in no process; list every model under one$",
        ),
        (
            [{"name": "p", "models": ["a", "b"]}, {"name": "q", "models": ["a"]}],
            r"^mix: process 'q': model 'a' is already in process 'p'",
        ),
        (
            [{"name": "p", "models": ["a", "x"]}],
            r"^mix: process 'p': models: the mix has no model 'x'; its models: 'a', 'b'$",
        ),
        (
            [
                {"name": "p", "models": ["a"], "cores": 3},
                {"name": "q", "models": ["b"], "cores": 2},
            ],
            r"^mix: processes: fixed ranges need 5 cores but inf1\.xlarge has 4$",
        ),
        ([{"name": "p", "models": []}], r"^mix: processes\[0\]: process 'p': models: expected a"),
        (
            [{"name": "p", "models": ["a"], "colour": 1}],
            r"processes\[0\]: unknown field\(s\) colour",
        ),
        ([], r"^mix: processes: expected a non-empty list"),
    ],
)
def test_bad_process_declarations(processes: list[object], message: str) -> None:
    data = {"instance": "inf1.xlarge", "models": [{"name": "a"}, {"name": "b"}]}
    with pytest.raises(ConfigError, match=message):
        Mix.from_dict({**data, "processes": processes})


def test_processes_and_workers_exclude_each_other_and_round_trip() -> None:
    data = {
        "instance": "trn2.48xlarge",
        "lnc": 1,
        "models": [{"name": "a"}, {"name": "b"}],
        "processes": [{"name": "p", "models": ["a"], "cores": 2}, {"name": "q", "models": ["b"]}],
    }
    mix = Mix.from_dict(data)
    assert mix.instance.name == "trn2.48xlarge:lnc=1"
    assert mix.to_dict() == data
    assert Mix.from_dict(mix.to_dict()) == mix
    pool = Mix.from_dict({"instance": "inf1.6xlarge", "models": [{"name": "a"}], "workers": 2})
    assert pool.to_dict()["workers"] == 2
    with pytest.raises(ConfigError, match=r"^mix: processes and workers: give one or the other"):
        Mix.from_dict({**data, "workers": 2})
    with pytest.raises(ConfigError, match=r"^mix: workers: must be an integer >= 1, got 'x'$"):
        Mix.from_dict({"instance": "inf1.xlarge", "models": [{"name": "a"}], "workers": "x"})


def _brute_peak(mix: Mix) -> float:
    """The least peak over every block layout whose processes fit disjoint contiguous ranges."""
    inst = mix.instance
    n = inst.cores
    specs = mix.processes
    of = {name: i for i, spec in enumerate(specs) for name in spec.models}
    best = float("inf")
    starts = [range(n - m.width + 1) for m in mix.models]
    options = [
        [(s, w) for s in range(n) for w in range(1, n - s + 1) if spec.cores in (None, w)]
        for spec in specs
    ]
    for combo in itertools.product(*starts):
        load = [0.0] * n
        memory = [0.0] * inst.chips
        copies = [0] * n
        exclusive = [False] * n
        for m, s in zip(mix.models, combo, strict=True):
            for c in range(s, s + m.width):
                load[c] += m.demand / m.min_replicas
                memory[inst.chip_of(c)] += (m.memory_gib or 0.0) / m.cores
                copies[c] += 1
                exclusive[c] = exclusive[c] or m.exclusive
        if any(e and k > 1 for e, k in zip(exclusive, copies, strict=True)):
            continue
        if any(u > inst.chip_memory_gib + 1e-9 for u in memory):  # type: ignore[operator]
            continue
        hull = [
            (
                min(s for m, s in zip(mix.models, combo, strict=True) if of[m.name] == i),
                max(
                    s + m.width - 1
                    for m, s in zip(mix.models, combo, strict=True)
                    if of[m.name] == i
                ),
            )
            for i in range(len(specs))
        ]
        fits = any(
            all(s <= lo and hi < s + w for (s, w), (lo, hi) in zip(rs, hull, strict=True))
            and all(
                a[0] + a[1] <= b[0] or b[0] + b[1] <= a[0] for a, b in itertools.combinations(rs, 2)
            )
            for rs in itertools.product(*options)
        )
        if fits:
            best = min(best, max(load))
    return best


@pytest.mark.parametrize("seed", range(10))
def test_tiny_multi_process_plans_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([4, 6])
    inst = Instance(cores=n, cores_per_chip=2, chip_memory_gib=rng.choice([3.0, 8.0]))
    models = [
        Model(
            f"m{i}",
            cores=rng.choice([1, 1, 2]),
            rate=float(rng.randint(1, 9)),
            throughput=10.0,
            memory_gib=float(rng.choice([0, 1, 2])),
            exclusive=rng.random() < 0.2,
        )
        for i in range(rng.choice([3, 4]))
    ]
    names = [m.name for m in models]
    cut = rng.randint(1, len(names) - 1)
    fixed = rng.choice([None, 2, 3])
    specs = (ProcessSpec("p", tuple(names[:cut])), ProcessSpec("q", tuple(names[cut:]), fixed))
    try:
        mix = Mix(models, inst, processes=specs)
    except ConfigError:
        pytest.skip("the random mix is refused before solving")
    expected = _brute_peak(mix)
    plan = ncplace.optimize(mix, time_limit=LIMIT)
    if expected == float("inf"):
        assert plan.layout is None and plan.status == ncplace.Status.INFEASIBLE
        return
    assert plan.layout is not None
    check_processes(plan)
    assert plan.status == ncplace.Status.OPTIMAL
    assert plan.objective == pytest.approx(expected)
    assert score(plan.layout, mix).peak_load == plan.objective


def test_scripts_launcher_and_manifests_start_each_process(tmp_path) -> None:
    mix = Mix(
        [
            Model("llama", cores=8, parallel="tensor", rate=20, throughput=25),
            Model("embed", rate=900, throughput=1000),
            Model("rerank", rate=400, throughput=500),
        ],
        "trn2.48xlarge:lnc=1",
        processes=(ProcessSpec("LLM server!", ("llama",)), ProcessSpec("api", ("embed", "rerank"))),
    )
    plan = solve(mix)
    layout = plan.layout
    assert layout is not None
    names = process_names(layout, mix)
    assert names == ["llm-server", "api"]
    scripts = generate_scripts(layout, mix)
    assert all("os.environ['NEURON_LOGICAL_NC_CONFIG'] = '1'" in s for s in scripts)
    assert ncplace.replay(scripts, mix).canonical() == layout.canonical()

    launcher = launch_script(layout, mix, scripts=scripts)
    path = tmp_path / "launch.sh"
    path.write_text(launcher)
    assert subprocess.run(["sh", "-n", str(path)], check=False).returncode == 0
    for i, span in enumerate(layout.processes):
        cores = ncplace.envvars.format_visible_cores(span.cores)
        assert (
            f'env NEURON_RT_VISIBLE_CORES={cores} NEURON_LOGICAL_NC_CONFIG=1 "$PYTHON" '
            f"{names[i]}.py &"
        ) in launcher
    # The launcher writes the scripts it carries: run its writing part with a fake interpreter.
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "$NEURON_RT_VISIBLE_CORES $1" >> started.txt\n')
    fake.chmod(0o755)
    subprocess.run(
        ["sh", str(path)], env={"PYTHON": str(fake), "PATH": "/usr/bin:/bin"}, check=True
    )
    for name, script in zip(names, scripts, strict=True):
        assert (tmp_path / f"{name}.py").read_text() == script
    started = sorted((tmp_path / "started.txt").read_text().split("\n")[:-1])
    assert started == sorted(
        f"{ncplace.envvars.format_visible_cores(s.cores)} {n}.py"
        for s, n in zip(layout.processes, names, strict=True)
    )

    docs = list(yaml.safe_load_all(k8s_manifests(layout, mix, name="LLM stack", image="img:1")))
    config, deployment = docs
    assert (config["kind"], config["metadata"]["name"]) == ("ConfigMap", "llm-stack-scripts")
    assert set(config["data"]) == {"llm-server.py", "api.py"}
    assert "os.environ.setdefault('NEURON_RT_VISIBLE_CORES'" in config["data"]["api.py"]
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == {"node.kubernetes.io/instance-type": "trn2.48xlarge"}
    containers = pod["spec"]["containers"]
    assert [c["name"] for c in containers] == names
    for c, span in zip(containers, layout.processes, strict=True):
        assert c["image"] == "img:1"
        assert c["resources"] == {"limits": {NEURONCORE_RESOURCE: len(span.cores)}}
        assert c["env"] == [{"name": "NEURON_LOGICAL_NC_CONFIG", "value": "1"}]
        assert c["command"] == ["python3", f"/ncplace/{c['name']}.py"]
        key = f"ncplace/cores.{c['name']}"
        assert pod["metadata"]["annotations"][key] == ncplace.envvars.format_visible_cores(
            span.cores
        )
    # Under Kubernetes the device plugin's cores win: the scripts replay on other ranges too.
    k8s_scripts = generate_scripts(layout, mix, keep_visible_cores=True)
    elsewhere = [{"NEURON_RT_VISIBLE_CORES": "64-71"}, {"NEURON_RT_VISIBLE_CORES": "80-81"}]
    moved = ncplace.replay(k8s_scripts, mix, env=elsewhere)
    assert [span.cores for span in moved.processes] == [tuple(range(64, 72)), (80, 81)]


def test_hostile_process_names_stay_safe_in_every_output() -> None:
    evil = "x'; rm -rf / #\n$(reboot)"
    mix = Mix(
        [Model("a"), Model("b")],
        "inf1.xlarge",
        processes=(ProcessSpec(evil, ("a",)), ProcessSpec("ü" * 60, ("b",))),
    )
    plan = solve(mix)
    assert plan.layout is not None
    names = process_names(plan.layout, mix)
    assert names == ["x-rm-rf-reboot", "u" * 40]
    text = launch_script(plan.layout, mix)
    assert "rm -rf" not in text and "$(reboot)" not in text
    assert yaml.safe_load_all(k8s_manifests(plan.layout, mix))


def test_baselines_start_tensor_parallel_servers_first() -> None:
    mix = Mix(
        [
            Model("llama", cores=8, parallel="tensor"),
            Model("embed", rate=900, throughput=1000),
            Model("rerank", rate=400, throughput=500),
        ],
        "trn1.32xlarge",
    )
    layout = ncplace.POLICIES["default"](mix)
    assert [dict(span.env) for span in layout.processes] == [
        {"NEURON_RT_NUM_CORES": "8"},
        {"NEURON_RT_VISIBLE_CORES": "8-31"},
    ]
    assert [(p.model, p.replicas, p.process) for p in layout.placements] == [
        ("llama", (tuple(range(8)),), 0),
        ("embed", ((8,),), 1),
        ("rerank", ((9,),), 1),
    ]
    assert score(layout, mix).feasible
    numbered = ncplace.POLICIES["processes"](mix)
    assert [dict(span.env) for span in numbered.processes] == [
        {"NEURON_RT_NUM_CORES": "8"},
        {"NEURON_RT_NUM_CORES": "1"},
        {"NEURON_RT_NUM_CORES": "1"},
    ]
    assert [span.cores for span in numbered.processes] == [tuple(range(8)), (8,), (9,)]


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(
    ("file", "names"),
    [
        ("llm-servers-trn2.yaml", ["chat-70b", "assist-8b", "retrieval"]),
        ("workers-inf2.yaml", ["worker-0", "worker-1", "worker-2", "worker-3"]),
    ],
)
def test_examples_plan_and_replay(file: str, names: list[str]) -> None:
    mix = Mix.from_file(EXAMPLES / file)
    plan = solve(mix)
    check_processes(plan)
    assert plan.status == ncplace.Status.OPTIMAL
    layout = plan.layout
    assert layout is not None
    assert process_names(layout, mix) == names
    assert ncplace.replay(generate_scripts(layout, mix), mix).canonical() == layout.canonical()


def test_cli_launch_k8s_processes_and_threads(capsys, tmp_path) -> None:
    from ncplace.cli import main

    mix = tmp_path / "mix.yaml"
    mix.write_text("instance: inf2.24xlarge\nmodels:\n  - {name: a, rate: 300, throughput: 200}\n")
    assert (
        main(["recommend", str(mix), "--time-limit", "1", "--processes", "3", "--format", "launch"])
        == 0
    )
    out, err = capsys.readouterr()
    assert err == ""
    assert [line for line in out.splitlines() if line.startswith("env ")] == [
        f'env NEURON_RT_VISIBLE_CORES={a}-{a + 3} "$PYTHON" worker-{w}.py &'
        for w, a in enumerate((0, 4, 8))
    ]
    assert (
        main(["recommend", str(mix), "--time-limit", "1", "--workers", "2", "--format", "k8s"]) == 0
    )
    out, err = capsys.readouterr()
    assert err == (
        "ncplace: warning: --workers is deprecated: it sets CP-SAT threads, now --threads; for a "
        "pool of serving processes use --processes\n"
        "ncplace: warning: OVERLOADED: peak core load 1.5; a needs at least 2 copies; try "
        "replicas: auto\n"
    )
    assert [doc["kind"] for doc in yaml.safe_load_all(out)] == ["ConfigMap", "Deployment"]
    assert (
        main(["recommend", str(mix), "--time-limit", "1", "--processes", "2", "--format", "code"])
        == 2
    )
    _, err = capsys.readouterr()
    assert err == (
        "ncplace: error: no placement code for this plan: the plan has 2 processes: --format "
        "launch writes a launcher with a script per process, --format k8s Kubernetes manifests\n"
    )
    assert main(["recommend", str(mix), "--processes", "13"]) == 2
    _, err = capsys.readouterr()
    assert err.startswith("ncplace: error: --processes 13: workers: 13 workers get 12 // 13 = 0")


def test_each_copy_of_a_tensor_parallel_model_is_a_server_of_its_own() -> None:
    mix = Mix(
        [Model("llama", cores=8, parallel="tensor", replicas=2), Model("embed", replicas=2)],
        "inf2.48xlarge",
    )
    plan = solve(mix)
    check_processes(plan)
    layout = plan.layout
    assert layout is not None
    servers = [p for p in layout.placements if p.model == "llama"]
    assert len(servers) == 2 and all(len(p.replicas) == 1 for p in servers)
    assert [layout.processes[p.process].cores for p in servers] == [p.replicas[0] for p in servers]
    assert process_names(layout, mix) == ["llama-0", "llama-1", "main"]
    assert ncplace.replay(generate_scripts(layout, mix), mix).canonical() == layout.canonical()
    baseline = ncplace.POLICIES["default"](mix)
    assert [span.cores for span in baseline.processes][:2] == [tuple(range(8)), tuple(range(8, 16))]
    with pytest.raises(
        ConfigError, match=r"each copy of tensor-parallel model 'llama' is a server"
    ):
        Mix(
            mix.models,
            mix.instance,
            processes=(ProcessSpec("llm", ("llama",), cores=16), ProcessSpec("api", ("embed",))),
        )
