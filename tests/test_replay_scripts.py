"""The example deployment scripts replay, as written, to the layouts their docstrings describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from ncplace import Mix
from ncplace.cli import main
from ncplace.dryrun import read_script, replay_report

SCRIPTS = Path(__file__).parent.parent / "examples" / "scripts"

# script, mix, processes, entry, the modules stood in for (given as stubs, so that the result
# does not depend on what is installed), and the layout right after the last load: each
# process's cores and its (model, copies) loads.
CASES = [
    (
        "tutorial_resnet50.py",
        "tutorial_resnet50.yaml",
        1,
        None,
        ["torchvision"],
        [((0,), [("resnet50", ((0,),))])],
    ),
    (
        "torchserve_handler.py",
        "torchserve_handler.yaml",
        4,
        "NeuronBertHandler.initialize",
        ["transformers", "ts"],
        [((k,), [("bert", ((k,),))]) for k in range(4)],
    ),
    (
        "triton/bert/1/model.py",
        "triton.yaml",
        2,
        "TritonPythonModel.initialize",
        ["triton_python_backend_utils"],
        [((0, 1), [("bert", ((0, 1),))]), ((2, 3), [("bert", ((2, 3),))])],
    ),
    (
        "dataparallel_benchmark.py",
        "dataparallel_benchmark.yaml",
        1,
        None,
        [],
        [((0, 1, 2, 3), [("resnet50", ((0,), (1,), (2,), (3,)))])],
    ),
    (
        "trace_and_serve.py",
        "trace_and_serve.yaml",
        1,
        None,
        ["flask", "torchvision", "transformers"],
        [((0, 1), [("sentiment", ((0,),)), ("vision", ((1,),))])],
    ),
    (
        "tensor_parallel_llama.py",
        "tensor_parallel_llama.yaml",
        3,
        None,
        ["transformers"],
        [
            (tuple(range(8 * k, 8 * k + 8)), [("llama-2-7b", (tuple(range(8 * k, 8 * k + 8)),))])
            for k in range(3)
        ],
    ),
    (
        "launcher_worker.py",
        "launcher_worker.yaml",
        4,
        None,
        [],
        [
            (
                tuple(range(4 * k, 4 * k + 4)),
                [("yolov5s", tuple((c,) for c in range(4 * k, 4 * k + 4)))],
            )
            for k in range(4)
        ],
    ),
    (
        "missing_packages.py",
        "missing_packages.yaml",
        1,
        None,
        ["cv2", "requests", "reviews_toolkit", "transformers"],
        [((0, 1), [("distilbert", ((0,),))])],
    ),
]


def ranks(copies: int) -> list[dict[str, str]]:
    """The environment ``SCRIPT:N`` gives its N processes."""
    return [
        {
            "RANK": str(i),
            "LOCAL_RANK": str(i),
            "WORLD_SIZE": str(copies),
            "LOCAL_WORLD_SIZE": str(copies),
        }
        for i in range(copies)
    ]


@pytest.mark.parametrize(
    ("script", "mix", "copies", "entry", "stubs", "expected"),
    CASES,
    ids=[c[0].split("/")[0] for c in CASES],
)
def test_example_scripts_replay_to_their_documented_layouts(
    script, mix, copies, entry, stubs, expected
):
    path = SCRIPTS / script
    report = replay_report(
        [read_script(path)] * copies,
        Mix.from_file(SCRIPTS / mix),
        ranks(copies) if copies > 1 else None,
        filename=[str(path)] * copies,
        entry=entry,
        stubs=stubs,
    )
    layout = report.fullest
    got = [
        (p.cores, [(m.model, m.replicas) for m in layout.placements if m.process == i])
        for i, p in enumerate(layout.processes)
    ]
    assert got == expected
    assert sorted(report.stood_in) == sorted(stubs)


def test_the_cli_replays_a_server_handler_as_four_workers(capsys, monkeypatch):
    monkeypatch.chdir(SCRIPTS.parent.parent)
    code = main(
        [
            "replay",
            "examples/scripts/torchserve_handler.py:4",
            "--entry",
            "NeuronBertHandler.initialize",
            "--mix",
            "examples/scripts/torchserve_handler.yaml",
            "--stub",
            "transformers",
            "--no-optimizer",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "bert  bert  bert  bert\nproc0 proc1 proc2 proc3" in out
    assert "proc3: nc3, env NEURON_RT_VISIBLE_CORES=3" in out
    assert "Stood in for: transformers, ts" in out
    assert "At exit" not in out


def test_the_cli_shows_the_state_at_exit_and_notes(capsys, monkeypatch):
    monkeypatch.chdir(SCRIPTS.parent.parent)
    code = main(
        [
            "replay",
            "examples/scripts/missing_packages.py",
            "--mix",
            "examples/scripts/missing_packages.yaml",
            "--stub",
            "requests",
            "--no-optimizer",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert (
        "Note: examples/scripts/missing_packages.py: labels.json: written to the replay's "
        "temporary folder instead"
    ) in out
    assert not (SCRIPTS.parent.parent / "labels.json").exists()
