"""Baselines and scoring do work linear in the number of models (issue 16, item 2).

Work is counted, not timed: every Python and C function call made while a mix is read, laid out
by each baseline policy and scored (``compare(..., optimizer=False, latency=False)``), seen by a
``sys.setprofile`` hook. The counts are deterministic for a given interpreter and numpy.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from benchmarks.generator import generate
from ncplace import Mix
from ncplace.comparison import compare


def calls(work: Callable[[], object]) -> int:
    """How many function calls (Python and C) ``work()`` makes."""
    count = 0

    def hook(frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        work()
    finally:
        sys.setprofile(previous)
    return count


def baselines_work(models: int) -> int:
    """Calls to read a ``scale`` mix of ``models`` models on 256 cores and compare every
    baseline on it (each policy through the emulator, each layout scored)."""
    data = generate("scale", "synthetic-256", models, 0).to_dict()
    return calls(lambda: compare(Mix.from_dict(data), optimizer=False, latency=False))


@pytest.fixture(scope="module")
def work() -> dict[int, int]:
    return {n: baselines_work(n) for n in (300, 1200)}


def test_four_times_the_models_is_at_most_about_four_times_the_work(work: dict[int, int]) -> None:
    assert work[1200] <= 4.4 * work[300]


def test_work_per_model_does_not_grow_with_the_cores(work: dict[int, int]) -> None:
    # Judging each of 256 starts in Python (greedy's key, the emulator's least-used window)
    # made about 11,000 calls per model; whole-machine array passes make about 500.
    assert work[1200] / 1200 <= 1000
