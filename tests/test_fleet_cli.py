"""``ncplace fleet``: text, JSON and code output, and one-line errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ncplace.cli import main

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "examples" / "fleets" / "catalogue.yaml"
TYPES = "inf2.xlarge,inf2.24xlarge,inf2.48xlarge"
FAST = ["--time-limit", "1", "--instance-time-limit", "0.2"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_text_names_counts_cost_bound_target_and_each_instance(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "fleet", str(CATALOGUE), "--types", TYPES, *FAST)
    assert code == 0, err
    first = out.splitlines()[0]
    assert first == "fleet: 1 x inf2.24xlarge = 1 instance(s), $2.804/h"
    assert "lower bound $2.804/h, gap 0.00% (optimal)" in out
    assert "target: peak load <= 1/1 = 1 on every core (peak-load target): met by every" in out
    assert "baselines: one instance per model $" in out
    assert "instance 0: inf2.24xlarge ($2.804/h): bert-base x2, resnet50 x1" in out
    assert "prices: AWS Neuron SDK benchmark tables" in out


def test_json_and_own_prices(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "source: my quote\ndate: 2026-12-01\nprices: {inf2.xlarge: 0.5, inf2.24xlarge: 1.0}\n"
    )
    code, out, err = run(
        capsys,
        "fleet",
        str(CATALOGUE),
        "--types",
        "inf2.xlarge,inf2.24xlarge",
        "--prices",
        str(prices),
        "--target-scale",
        "1.25",
        "--format",
        "json",
        *FAST,
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["prices"]["source"] == "my quote"
    assert data["target"] == {
        "kind": "peak load",
        "target_scale": 1.25,
        "max_core_load": 0.8,
        "met": True,
    }
    assert data["cost_per_hour"] == sum(i["price_per_hour"] for i in data["instances"])
    assert data["bound_per_hour"] <= data["cost_per_hour"]
    assert data["copies"]["bert-base"] == 2  # ceil(1500 / 1000 x 1.25)
    for inst in data["instances"]:
        assert max(inst["score"]["loads"]) <= 0.8 + 1e-9
        assert "torch_neuronx" in inst["code"] or inst["code"].startswith("# no placement code")


def test_code_format_writes_one_script_per_instance(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    catalogue = tmp_path / "c.yaml"
    catalogue.write_text(
        "models:\n"
        "  - {name: a, rate: 90, throughput: 100}\n"
        "  - {name: b, rate: 90, throughput: 100}\n"
        "  - {name: c, rate: 90, throughput: 100}\n"
    )
    code, out, err = run(
        capsys, "fleet", str(catalogue), "--types", "inf2.xlarge", "--format", "code", *FAST
    )
    assert code == 0, err
    assert out.count("# ===== instance ") == 2
    assert "# ===== instance 0: inf2.xlarge =====" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--types", "inf9.huge"], "unknown instance 'inf9.huge'"),
        (["--types", "inf2.xlarge", "--target-scale", "0"], "expected a number > 0, got '0'"),
        (
            ["--types", "inf2.xlarge", "--address", "auto", "--executor", "local"],
            "needs --executor ray",
        ),
        (["--types", "inf2.xlarge", "--prices", "/nonexistent/p.yaml"], "cannot read price file"),
        ([], "the following arguments are required: --types"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "fleet", str(CATALOGUE), *argv)
    assert code == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


def test_a_catalogue_with_an_instance_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mix = tmp_path / "mix.yaml"
    mix.write_text("instance: inf2.xlarge\nmodels:\n  - {name: a}\n")
    code, _, err = run(capsys, "fleet", str(mix), "--types", "inf2.xlarge")
    assert code == 2
    assert f"{mix}: instance: a fleet catalogue names no instance" in err


def test_current_fleet_moves_to_the_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from monitor_reports import report_of, uuid_of

    from ncplace import Layout, Placement, instance

    catalogue = tmp_path / "c.yaml"
    catalogue.write_text(
        "models:\n"
        "  - {name: a, rate: 40, throughput: 100}\n"
        "  - {name: b, rate: 40, throughput: 100}\n"
        "  - {name: c, rate: 40, throughput: 100}\n"
    )
    reports = []
    for name in "abc":  # today: one inf2.xlarge per model
        layout = Layout.single_process(instance("inf2.xlarge"), [Placement(name, ((0,),), 0)])
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(report_of(layout, instance_type="inf2.xlarge")))
        reports.append(str(path))
    names = [f"--name={uuid_of(n)}={n}" for n in "abc"]
    code, out, err = run(
        capsys,
        "fleet",
        str(catalogue),
        "--types",
        "inf2.xlarge",
        "--current",
        *reports,
        *names,
        "--format",
        "json",
        *FAST,
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["counts"] == {"inf2.xlarge": 1}  # 0.4 + 0.4 on one core, 0.4 on the other
    moves = data["moves"]
    assert moves["current_cost_per_hour"] == pytest.approx(3 * 0.328)
    assert [c["action"] for c in moves["changes"]] == ["keep", "stop", "stop"]
    assert moves["moves"] == 2 and moves["kept"] == 1
    keep = moves["changes"][0]
    assert sum(keep["load"].values()) == 2 and sum(keep["stay"].values()) == 1
    assert sorted(m for c in moves["changes"][1:] for m in c["unload"]) == sorted(keep["load"])


def test_current_reports_without_a_type_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from monitor_reports import report_of

    from ncplace import Instance, Layout, Placement

    layout = Layout.single_process(
        Instance(cores=2, cores_per_chip=2), [Placement("a", ((0,),), 0)]
    )
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report_of(layout)))
    code, _, err = run(capsys, "fleet", str(CATALOGUE), "--types", TYPES, "--current", str(path))
    assert code == 2
    assert "names no instance type" in err
