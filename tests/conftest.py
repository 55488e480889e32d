"""Shared pytest options, Hypothesis profiles and fixtures.

Hypothesis runs derandomized by default: the property tests draw the same examples on every run,
so the suite (and CI) passes or fails the same way for the same code. ``HYPOTHESIS_PROFILE=explore``
draws new random examples each run, to look for counterexamples the fixed draws miss; a failure
found there is kept in ``.hypothesis/`` and replayed, and belongs in a test of its own.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from ncplace import Mix, Model, instance

settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files in tests/golden/ instead of comparing against them",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run was started with ``--update-golden``."""
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def small() -> Mix:
    """a: 2 cores, demand 0.5; b: 1 core x 2 copies, demand 1.5; c: 1 core, demand 0.1, on
    inf1.xlarge (4 cores).

    By hand: multicore puts a copy of everything on every core, 0.25 + 0.375 + 0.025 = 0.65 per
    core with three copies each (overlap 8); default and greedy both peak at b's 0.75 with one
    core shared (default: c beside a on nc0; greedy: c beside a on nc2) but default holds b in
    two handles.
    """
    return Mix(
        [
            Model("a", cores=2, rate=100, throughput=200),
            Model("b", replicas=2, rate=300, throughput=200),
            Model("c", rate=10, throughput=100),
        ],
        instance("inf1.xlarge"),
    )
