"""The ``ncplace`` command line: the real console script for every command, format and exit code,
and ``main([...])`` in-process for the many error cases."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

import ncplace
from ncplace import Mix
from ncplace.cli import BUNDLED_MIX, Progress, _ratio_text, main
from ncplace.dryrun import replay

ROOT = Path(__file__).resolve().parents[1]

MIX_YAML = """\
instance: inf1.xlarge
models:
  - {name: pipe, cores: 2, exclusive: true, rate: 300, throughput: 500, file: pipe2.pt}
  - {name: vision, replicas: 2, rate: 600, throughput: 1000}
  - {name: text, rate: 100, throughput: 1000}
"""

SCENARIO_YAML = """\
description: the guide's Overlapping Models
instance: {cores: 8, cores_per_chip: 4}
processes:
  - env: {NEURON_RT_VISIBLE_CORES: "0-1"}
    loads:
      - {name: m0}
      - {name: m1, cores: 2}
      - {name: m2}
"""

SCRIPT = """\
import torch
import torch_neuron

a = torch.jit.load('pipe2.pt')
b = torch.jit.load('vision.pt')
c = torch.jit.load('text')
"""

INFEASIBLE_YAML = """\
instance: {cores: 8, cores_per_chip: 4}
models:
  - {name: a, memory_gib: 5}
  - {name: b, memory_gib: 5}
  - {name: c, memory_gib: 5}
"""


def console_script() -> str:
    local = Path(sys.executable).parent / "ncplace"
    found = str(local) if local.exists() else shutil.which("ncplace")
    assert found, "the ncplace console script is not installed"
    return found


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    (root / "mix.yaml").write_text(MIX_YAML)
    (root / "scenario.yaml").write_text(SCENARIO_YAML)
    (root / "serve.py").write_text(SCRIPT)
    (root / "infeasible.yaml").write_text(INFEASIBLE_YAML)
    return root


def _commands(d: Path) -> dict[str, list[str]]:
    mix = str(d / "mix.yaml")
    return {
        "recommend-text": [
            "recommend",
            "--time-limit",
            "1",
            "--deterministic",
            "--objective",
            "peak",
        ],
        "recommend-json": [
            "recommend",
            mix,
            "--time-limit",
            "1",
            "--deterministic",
            "--format",
            "json",
            "-o",
            str(d / "plan.json"),
            "--plot",
            str(d / "plan.png"),
        ],
        "recommend-code": [
            "recommend",
            mix,
            "--time-limit",
            "1",
            "--deterministic",
            "--format",
            "code",
            "--framework",
            "torch-neuron",
            "--seed",
            "3",
        ],
        "compare-json": [
            "compare",
            mix,
            "--time-limit",
            "1",
            "--format",
            "json",
            "--plot",
            str(d / "compare.png"),
        ],
        "compare-text": ["compare", mix, "--no-optimizer"],
        "emulate": ["emulate", str(d / "scenario.yaml")],
        "replay": [
            "replay",
            str(d / "serve.py"),
            "--mix",
            mix,
            "--env",
            "NEURON_RT_VISIBLE_CORES=1-3",
            "--time-limit",
            "1",
            "--deterministic",
        ],
        "instances": ["instances"],
        "version": ["--version"],
        "bad-file": ["compare", str(d / "missing.yaml")],
        "bad-option": ["recommend", mix, "--format", "xml"],
        "infeasible": [
            "recommend",
            str(d / "infeasible.yaml"),
            "--time-limit",
            "1",
            "--deterministic",
        ],
    }


@pytest.fixture(scope="module")
def runs(files: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every console-script call of this module, run three at a time (each pays ~1 s of import)."""
    exe = console_script()
    env = {**os.environ, "COLUMNS": "200"}

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, *argv], capture_output=True, text=True, cwd=files, env=env, timeout=120
        )

    commands = _commands(files)
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = dict(zip(commands, pool.map(run, commands.values()), strict=True))
    return done


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_recommend_text_on_the_bundled_example(runs):
    out = ok(runs["recommend-text"])
    assert out.startswith(f"bundled example {BUNDLED_MIX}: 8 model(s) on inf1.6xlarge")
    assert " nc0   nc1   nc2   nc3  |" in out
    assert "optimized" in out and "best baseline: " in out and "default" in out
    assert (
        "Plan: optimal (proven over layouts with one block per model): peak load 0.75, bound 0.75"
        in out
    )
    code = out.split("writes it alone):\n\n", 1)[1]
    compile(code, "<recommended>", "exec")
    assert "os.environ['NEURON_RT_VISIBLE_CORES'] = '0-15'" in code


def test_recommend_json_is_machine_readable_and_plots(runs, files):
    assert ok(runs["recommend-json"]) == ""
    data = json.loads((files / "plan.json").read_text())
    assert {"layout", "score", "certificate", "baselines", "best_baseline", "code"} <= set(data)
    cert = data["certificate"]
    assert cert["status"] == "optimal" and cert["bound"] <= cert["objective"]
    assert data["score"]["peak_load"] == pytest.approx(cert["objective"], abs=1e-6)
    assert {b["policy"] for b in data["baselines"]} == set(ncplace.POLICIES)
    mix = Mix.from_file(files / "mix.yaml")
    replayed = replay(data["code"], mix)
    placed = sorted(
        (p["model"], tuple(map(tuple, p["replicas"]))) for p in data["layout"]["placements"]
    )
    assert sorted((p.model, p.replicas) for p in replayed.placements) == placed
    assert (files / "plan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recommend_code_prints_only_the_script(runs, files):
    code = ok(runs["recommend-code"])
    assert code.startswith("# Placement code generated by ncplace")
    mix = Mix.from_file(files / "mix.yaml")
    layout = replay(code, mix)
    assert ncplace.score(layout, mix).feasible
    assert sorted(layout.models()) == ["pipe", "text", "vision"]


def test_compare_json_and_text(runs, files):
    data = json.loads(ok(runs["compare-json"]))
    names = [r["policy"] if "policy" in r else r["name"] for r in data["rows"]]
    assert "optimized" in names and set(ncplace.POLICIES) <= set(names)
    assert (files / "compare.png").stat().st_size > 0
    text = ok(runs["compare-text"])
    assert text.splitlines()[0].endswith(
        "3 model(s) on inf1.xlarge (4 NeuronCores on 1 chip(s) of 4), torch-neuron"
    )
    assert "| policy | feasible | peak load |" in text and "optimized" not in text


def test_emulate_renders_the_layout_and_mix_free_metrics(runs, files):
    out = ok(runs["emulate"])
    assert "the guide's Overlapping Models" in out
    grid = "\n".join(ncplace.emulate_file(files / "scenario.yaml").render().splitlines())
    assert grid in out
    assert "proc0: nc0-nc1, env NEURON_RT_VISIBLE_CORES=0-1" in out
    assert "copies per core: 2 2 0 0 0 0 0 0" in out
    assert "overlap 2 (copies beyond the first on a core), at most 2 per core" in out


def test_replay_scores_the_script_beside_the_optimizer(runs):
    out = ok(runs["replay"])
    assert "proc0: nc1-nc3, env NEURON_RT_VISIBLE_CORES=1-3" in out
    assert "script  optimized" in out
    assert "Plan: optimal (proven over layouts with one block per model)" in out
    assert "Not loaded by the script" not in out


def test_instances_and_version(runs):
    out = ok(runs["instances"])
    assert out.splitlines()[0].split() == [
        "instance",
        "cores",
        "chips",
        "cores/chip",
        "GiB/chip",
        "interconnect",
        "framework",
    ]
    assert "inf1.6xlarge      16      4           4         8  chain         torch-neuron" in out
    assert ok(runs["version"]) == f"ncplace {ncplace.__version__}\n"


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("bad-file", 2, "missing.yaml: cannot read mix file: "),
        ("bad-option", 2, "ncplace: error: argument --format: invalid choice: 'xml'"),
        ("infeasible", 1, "the mix is infeasible: "),
    ],
)
def test_errors_exit_with_one_line(runs, name, code, message):
    result = runs[name]
    assert result.returncode == code
    assert result.stdout == ""
    assert result.stderr.startswith("ncplace: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


# --- in process ---------------------------------------------------------------------------------


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mix_file(tmp_path: Path) -> Path:
    path = tmp_path / "mix.yaml"
    path.write_text(MIX_YAML)
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "a command is required"),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
        (["recommend", "--bogus"], "unrecognized arguments: --bogus"),
        (["recommend", "--time-limit", "soon"], "argument --time-limit: expected seconds >= 0"),
        (["recommend", "--time-limit", "nan"], "argument --time-limit: expected seconds >= 0"),
        (["recommend", "--seed", "-3"], "argument --seed: expected an integer >= 0, got '-3'"),
        (["recommend", "--workers", "0"], "argument --workers: expected an integer >= 1, got '0'"),
        (["recommend", "--objective", "speed"], "argument --objective: invalid choice"),
        (["recommend", "--framework", "jax"], "argument --framework: invalid choice"),
        (["compare"], "the following arguments are required: MIX"),
        (["replay", "x.py"], "the following arguments are required: --mix"),
        (
            ["replay", "x.py", "--mix", "m.yaml", "--env", "=1"],
            "argument --env: expected NAME=VALUE",
        ),
        (["emulate"], "the following arguments are required: SCENARIO"),
        (["instances", "--format", "xml"], "argument --format: invalid choice"),
        (["recommend", "--instance", "inf9.huge"], "--instance: unknown instance 'inf9.huge'"),
        (["compare", "missing.yaml"], "missing.yaml: cannot read mix file"),
        (["emulate", "missing.yaml"], "missing.yaml: cannot read scenario file"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run_main(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("ncplace: error: ") and message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("instance: inf1.xlarge\nmodels: [{name: a, cores: 0}]\n", "models[0].cores"),
        ("instance: inf1.xlarge\nmodels: [{name: a, colour: red}]\n", "colour"),
        ("instance: [unclosed\n", "invalid YAML"),
        ("instance: inf7.small\nmodels: [{name: a}]\n", "unknown instance 'inf7.small'"),
    ],
)
def test_malformed_mix_files_exit_2(capsys, tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    for command in ("recommend", "compare"):
        code, out, err = run_main(capsys, command, str(path), "--time-limit", "0")
        assert (code, out) == (2, "")
        assert err.startswith(f"ncplace: error: {path}: ") and message in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "instance: inf1.xlarge\nmodels: [{name: a, cores: 8}]\n",
            "bad.yaml: models[0].cores: a copy needs 8 cores but inf1.xlarge has 4",
        ),
        (
            "instance: inf1.xlarge\nmodels: [{name: a, exclusive: true, replicas: 5}]\n",
            "exclusive models need a 1x5 = 5 cores to themselves but inf1.xlarge has 4",
        ),
    ],
)
def test_mixes_that_cannot_fit_at_all_exit_1(capsys, tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    for command in ("recommend", "compare"):
        code, out, err = run_main(capsys, command, str(path), "--time-limit", "0")
        assert (code, out) == (1, "")
        assert err.startswith("ncplace: error: ") and message in err
        assert err.count("\n") == 1


def test_replay_errors_name_the_script_and_line(capsys, tmp_path, mix_file):
    script = tmp_path / "serve.py"
    script.write_text("import torch\n\nm = torch.jit.load('nowhere.pt')\n")
    code, _, err = run_main(capsys, "replay", str(script), "--mix", str(mix_file))
    assert code == 2
    assert err.startswith(
        f"ncplace: error: {script}, line 3: torch.jit.load('nowhere.pt'): no model"
    )
    script.write_text("import torch\n")
    code, _, err = run_main(capsys, "replay", str(script), "--mix", str(mix_file))
    assert (code, err) == (2, f"ncplace: error: {script}: the script loads no model of the mix\n")
    code, _, err = run_main(capsys, "replay", str(tmp_path / "nope.py"), "--mix", str(mix_file))
    assert code == 2 and "nope.py: cannot read script" in err


def test_replay_of_part_of_the_mix_scores_what_it_loads(capsys, tmp_path, mix_file):
    script = tmp_path / "serve.py"
    script.write_text("import torch\na = torch.jit.load('pipe2.pt')\n")
    code, out, _ = run_main(
        capsys, "replay", str(script), "--mix", str(mix_file), "--no-optimizer", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["models_not_loaded"] == ["vision", "text"]
    assert data["layout"]["placements"] == [{"model": "pipe", "process": 0, "replicas": [[0, 1]]}]
    assert data["score"]["peak_load"] == pytest.approx(0.6)
    assert data["optimized"] is None


def test_outputs_that_cannot_be_written_exit_2_before_any_work(capsys, mix_file, tmp_path):
    missing = tmp_path / "no" / "such"
    target = str(missing / "out")
    code, out, err = run_main(capsys, "recommend", str(mix_file), "--format", "code", "-o", target)
    assert (code, out) == (2, "")
    assert err == f"ncplace: error: -o {target!r}: cannot write: no directory {str(missing)!r}\n"
    code, _, err = run_main(capsys, "recommend", str(mix_file), "--plot", str(tmp_path))
    assert (code, err) == (
        2,
        f"ncplace: error: --plot {str(tmp_path)!r}: cannot write: it is a directory\n",
    )


def test_an_output_that_is_an_input_file_is_refused_and_the_input_kept(capsys, mix_file):
    text = mix_file.read_text()
    current = mix_file.parent / "current.json"
    current.write_text("{}")
    for argv, source in (
        (("recommend", str(mix_file), "-o", str(mix_file.parent / "." / mix_file.name)), mix_file),
        (("compare", str(mix_file), "--no-optimizer", "--plot", str(mix_file)), mix_file),
        (("recommend", str(mix_file), "--current", str(current), "-o", str(current)), current),
    ):
        code, out, err = run_main(capsys, *argv)
        assert (code, out) == (2, "")
        assert err.endswith(f" is the input file {str(source)!r}; write elsewhere\n")
    assert (mix_file.read_text(), current.read_text()) == (text, "{}")


def test_debug_shows_the_traceback(capsys):
    code, _, err = run_main(capsys, "--debug", "compare", "missing.yaml")
    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("ncplace: error: missing.yaml")
    code, _, err = run_main(capsys, "compare", "missing.yaml", "--debug")
    assert "Traceback" in err


def test_an_internal_error_is_one_line_with_exit_3(capsys, monkeypatch):
    import ncplace.cli as cli

    def boom(args):
        raise RuntimeError("kaput")

    monkeypatch.setattr(cli, "cmd_instances", boom)
    code, _, err = run_main(capsys, "instances")
    assert (code, err) == (
        3,
        "ncplace: error: internal error: RuntimeError: kaput "
        "(run with --debug for the traceback)\n",
    )


def test_a_plan_without_layout_exits_1(capsys, monkeypatch, mix_file):
    optimize_module = sys.modules["ncplace.optimize"]

    def no_layout(mix, **kwargs):
        return SimpleNamespace(
            layout=None,
            status=SimpleNamespace(value="unknown"),
            explanation=None,
            stop_reason="time limit 0",
        )

    monkeypatch.setattr(optimize_module, "optimize", no_layout)
    code, out, err = run_main(capsys, "recommend", str(mix_file), "--time-limit", "0")
    assert (code, out) == (1, "")
    assert (
        err
        == "ncplace: error: no layout found (unknown, time limit 0); try a longer --time-limit\n"
    )


def test_help_exits_0(capsys):
    code, out, _ = run_main(capsys, "recommend", "--help")
    assert code == 0 and "--time-limit S" in out and "--format {text,json,code}" in out


def test_emulate_and_instances_json(capsys, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO_YAML)
    code, out, _ = run_main(capsys, "emulate", str(path), "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["metrics"]["copies_per_core"] == [2, 2, 0, 0, 0, 0, 0, 0]
    assert data["metrics"]["overlap"] == 2 and data["metrics"]["handles"] == 3
    assert data["layout"]["placements"][1] == {"model": "m1", "process": 0, "replicas": [[0, 1]]}
    code, out, _ = run_main(capsys, "instances", "--format", "json")
    assert {row["name"] for row in json.loads(out)} == set(ncplace.INSTANCES)


def test_the_bundled_mix_is_the_example_mix():
    bundled = ROOT / "src" / "ncplace" / "data" / BUNDLED_MIX
    assert bundled.read_text() == (ROOT / "examples" / "mix.yaml").read_text()


def test_errors_name_a_mix_by_the_path_given_and_the_bundled_one_as_such(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mixes").mkdir()
    (tmp_path / "mixes" / "mix.yaml").write_text("instance: inf1.xlarge\nmodels: [{cores: 2}]\n")
    code, _, err = run_main(capsys, "compare", "mixes/mix.yaml")
    assert (code, err) == (2, "ncplace: error: mixes/mix.yaml: models[0].name: missing\n")
    code, _, err = run_main(capsys, "recommend", "--instance", "inf2.xlarge")
    assert (code, err) == (
        1,
        "ncplace: error: bundled example mix.yaml: models[0].cores: torch-neuronx has no "
        "NeuronCore Pipeline, so a model uses 1 core unless it is tensor-parallel (parallel: "
        "tensor), got 4\n",
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_only():
    quiet = io.StringIO()
    with Progress("solving", 10.0, quiet) as progress:
        assert not progress.active
    assert quiet.getvalue() == ""
    tty = _Terminal()
    with Progress("solving", 10.0, tty) as progress:
        assert progress.active
        progress.update(0.5, 0.75, 0.5)
        line = progress.line()
        progress._draw(line)
    assert line.startswith("ncplace: solving: ")
    assert line.endswith(" s of 10 s, incumbent 0.75, bound 0.5")
    assert tty.getvalue().startswith("\rncplace: solving: ")
    assert tty.getvalue().endswith(" " * len(line) + "\r")


def _greedy_score() -> ncplace.Score:
    mix = Mix.from_file(ROOT / "examples" / "mix.yaml")
    return ncplace.score(ncplace.POLICIES["greedy"](mix), mix)


def test_against_a_layout_that_wins_only_by_breaking_a_rule() -> None:
    ours = _greedy_score()
    theirs = replace(
        ours,
        peak_load=ours.peak_load * 0.9,
        exclusive_violations=2,
        memory_overflow_gib=1.25,
        feasible=False,
    )
    text = _ratio_text(ours, theirs, "Against default")
    assert text == (
        f"Against default: its peak core load is lower ({theirs.peak_load:.3f} vs "
        f"{ours.peak_load:.3f}) but it breaks hard rules (2 exclusive core(s) shared, 1.25 GiB "
        "over chip memory), which this layout keeps."
    )


def test_small_headroom_gains_keep_their_digits() -> None:
    ours = replace(_greedy_score(), peak_load=0.5)
    slightly = _ratio_text(ours, replace(ours, peak_load=0.5015), "Against greedy")
    assert "1.003x the headroom" in slightly
    assert "grow 0.3% more" in slightly
    clearly = _ratio_text(ours, replace(ours, peak_load=0.7), "Against default")
    assert "1.40x the headroom (peak core load 0.500 instead of 0.700)" in clearly
    assert "grow 40% more" in clearly


def test_against_a_layout_that_wins_only_by_changing_copy_counts() -> None:
    ours = replace(_greedy_score(), peak_load=0.731)
    theirs = replace(ours, peak_load=0.696)
    note = "copies not as the mix asks: resnet50 4 (asks 2)"
    assert _ratio_text(ours, theirs, "Against multicore", copies=note) == (
        "Against multicore: its peak core load is lower (0.696 vs 0.731) with copies not as the "
        "mix asks: resnet50 4 (asks 2); give those models `replicas: auto` (or a range) to let "
        "the optimizer choose copy counts too."
    )
    assert _ratio_text(ours, theirs, "Against x").startswith("Against x: not better")


def test_recommend_explains_a_baseline_that_changes_copy_counts(capsys) -> None:
    vision = str(ROOT / "examples" / "vision-skewed-inf1-xlarge.yaml")
    assert main(["recommend", vision, "--objective", "peak"]) == 0
    out = capsys.readouterr().out
    assert "Against multicore (best baseline): its peak core load is lower (0.696 vs 0.731)" in out
    assert "to let the optimizer choose copy counts too." in out
