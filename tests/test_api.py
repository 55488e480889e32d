"""The public API's entry points name a wrong argument instead of failing deep inside."""

from __future__ import annotations

from pathlib import Path

import pytest

import ncplace
from ncplace import POLICIES, ConfigError, Mix, Model, instance

MIX = Mix([Model("a")], instance("inf1.xlarge"))
LAYOUT = POLICIES["greedy"](MIX)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ncplace.score("x", MIX), "score: layout must be a Layout, got str"),
        (lambda: ncplace.score(LAYOUT, {}), "score: mix must be a Mix, got dict"),
        (lambda: ncplace.compare("mix.yaml"), "compare: mix must be a Mix, got str"),
        (lambda: ncplace.optimize(None), "optimize: mix must be a Mix, got NoneType"),
        (lambda: ncplace.optimize(MIX, current=[]), "optimize: current must be a Layout, got list"),
        (lambda: ncplace.generate_code(None, MIX), "generate_code: layout must be a Layout"),
        (lambda: ncplace.generate_code(LAYOUT, None), "generate_code: mix must be a Mix"),
        (
            lambda: ncplace.generate_scripts(LAYOUT, 3),
            "generate_scripts: mix must be a Mix, got int",
        ),
        (lambda: ncplace.replay(5, MIX), "replay: code must be a string or a sequence of strings"),
        (lambda: ncplace.replay("", None), "replay: mix must be a Mix, got NoneType"),
        (
            lambda: ncplace.replay_file(5, MIX),
            "replay_file: path must be a str or PathLike, got int",
        ),
        (
            lambda: ncplace.Mix.from_file(None),
            "mix file path must be a str or PathLike, got NoneType",
        ),
        (
            lambda: ncplace.load_scenario(3.5),
            "scenario file path must be a str or PathLike, got float",
        ),
        (
            lambda: ncplace.emulate_file(b"x.yaml"),
            "scenario file path must be a str or PathLike, got bytes",
        ),
        (lambda: POLICIES["default"]("mix"), "policy default: mix must be a Mix, got str"),
        (
            lambda: ncplace.read_monitor(7),
            "read_monitor: expected a report file path or the parsed",
        ),
    ],
)
def test_a_wrong_argument_is_named(call, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        call()


def test_paths_may_be_strings_or_path_objects():
    examples = Path(__file__).resolve().parents[1] / "examples"
    assert Mix.from_file(str(examples / "mix.yaml")) == Mix.from_file(examples / "mix.yaml")
