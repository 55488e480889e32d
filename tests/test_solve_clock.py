"""The optimiser's clock, its stages and its interrupts, through the API.

``time_limit`` is wall-clock seconds unless ``deterministic=True``; the first level is a list of
stages that any stage with the :class:`ncplace.optimize.stages.Stage` interface can join; a
``KeyboardInterrupt`` during the search returns the best layout so far, marked interrupted.
"""

from __future__ import annotations

import _thread
import importlib
import json
import threading
from dataclasses import dataclass

import pytest

import ncplace
from benchmarks.generator import generate
from ncplace import ConfigError, Status, score
from ncplace.cli import main
from ncplace.optimize.budget import Budget
from ncplace.optimize.stages import PEAK_STAGES, Incumbent, Search, StageResult

search_module = importlib.import_module("ncplace.optimize.search")


def hard_mix() -> ncplace.Mix:
    """40 random-load models on 16 cores (seed 0): not proven within a minute (seed 3, which
    the core sweep now proves in about 2 s, left the interrupts below racing the proof)."""
    return generate("scale", "inf1.6xlarge", 40, 0)


def test_the_default_clock_is_the_wall_clock_and_deterministic_is_asked_for() -> None:
    mix = hard_mix()
    wall = ncplace.optimize(mix, time_limit=0.5)
    assert "(deterministic)" not in wall.stop_reason
    assert score(wall.layout, mix).peak_load == wall.objective
    fixed = [ncplace.optimize(mix, time_limit=0.5, deterministic=True) for _ in range(2)]
    if any("not reproducible" in p.stop_reason for p in fixed):
        pytest.skip("machine too slow or loaded: the wall-clock safety limit stopped a solve")
    assert fixed[0].stop_reason.startswith("time limit (deterministic)")
    assert fixed[0].layout == fixed[1].layout and fixed[0].bound == fixed[1].bound


def test_deterministic_needs_one_worker() -> None:
    mix = hard_mix()
    with pytest.raises(ConfigError, match=r"deterministic=True needs workers=1 .* workers=2"):
        ncplace.optimize(mix, time_limit=1, deterministic=True, workers=2)
    with pytest.raises(ConfigError, match="deterministic must be True or False, got 'yes'"):
        ncplace.optimize(mix, time_limit=1, deterministic="yes")  # type: ignore[arg-type]


def test_cli_deterministic_with_workers_is_an_argument_error(capsys, tmp_path) -> None:
    mix = ncplace.Mix([ncplace.Model("a")], instance=ncplace.instance("inf1.xlarge"))
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(mix.to_dict()))
    code = main(["recommend", str(path), "--deterministic", "--threads", "2"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "ncplace: error: --deterministic needs one thread: drop --threads or give --threads 1\n"
    )


def test_a_keyboard_interrupt_returns_the_best_layout_so_far() -> None:
    """The interrupt comes from a timer once the search reports its first incumbent (as a
    Ctrl-C would, in the main thread); the 60 s solve stops and returns the layout it had."""
    mix = hard_mix()
    timer: list[threading.Timer] = []

    def progress(elapsed: float, incumbent: float | None, bound: float | None) -> None:
        if not timer:
            timer.append(threading.Timer(0.5, _thread.interrupt_main))
            timer[0].start()

    plan = ncplace.optimize(mix, time_limit=60, progress=progress)
    timer[0].join()
    assert plan.interrupted
    assert plan.stop_reason.startswith("interrupted")
    assert plan.to_dict()["certificate"]["interrupted"] is True
    assert plan.status == Status.FEASIBLE
    assert score(plan.layout, mix).peak_load == plan.objective


@dataclass(frozen=True)
class Oracle:
    """A stage that knows the answer: it returns the incumbent's own layout with a proven bound
    equal to its value, closing the gap."""

    name: str = "oracle"
    share: float = 0.0

    def applies(self, search: Search) -> bool:
        return True

    def run(self, search: Search, incumbent: Incumbent, budget: Budget) -> StageResult:
        return StageResult(incumbent.assignment, incumbent.value, float(incumbent.value or 0))


def test_a_stage_that_closes_the_gap_ends_the_level_and_names_itself(monkeypatch) -> None:
    """Plugged in after CP-SAT (whose layout it certifies), the stage ends the first level:
    the plan is optimal 'by the oracle after CP-SAT' and the searches after it never run."""
    after = [stage.name for stage in PEAK_STAGES].index("CP-SAT") + 1
    stages = (*PEAK_STAGES[:after], Oracle(), *PEAK_STAGES[after:])
    monkeypatch.setattr(search_module, "PEAK_STAGES", stages)
    mix = hard_mix()
    plan = ncplace.optimize(mix, time_limit=1, deterministic=True)
    assert plan.stop_reason.startswith("optimal (oracle after CP-SAT)")
    assert plan.status == Status.OPTIMAL
    assert plan.levels[0].status.startswith("optimal (oracle after CP-SAT)")
    assert score(plan.layout, mix).peak_load == plan.objective
