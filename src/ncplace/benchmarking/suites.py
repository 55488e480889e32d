"""The benchmark suites: which generated instances each run measures, and with what time limit.

=========  ======================================================================================
suite      cases
=========  ======================================================================================
quick      13 instances at 5 s: the five families on inf1.xlarge and inf1.6xlarge (seed 0), the
           issue-4 40-model inf1.6xlarge mix, uniform and pipeline on inf1.24xlarge. Under 3
           minutes on 2 cores.
full       ``families``: uniform, skewed, pipeline, exclusive, memory x inf1.xlarge ..
           synthetic-256 (6 sizes) x seeds 0-2 at 10 s; ``target-6xl``: ``scale`` on inf1.6xlarge
           with 10/20/30/40 models x seeds 0-4 at 10 s; ``target-24xl``: ``scale`` on
           inf1.24xlarge with 300 models x seeds 0-2 at 30 s; ``scaling-cores``: ``scale`` with one
           model per core on 4, 8, 16, 32, 64, 128, 256 cores x seeds 0-1 at 30 s;
           ``scaling-models``: ``scale`` on inf1.24xlarge with 50/100/200/400 models at 30 s.
=========  ======================================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ncplace import Mix

from .generator import generate


@dataclass(frozen=True)
class Case:
    """One benchmark instance: ``generate(family, size, n_models, seed)`` and its time limit.

    ``group`` names the part of the suite it belongs to (``families``, ``target-6xl``,
    ``target-24xl``, ``scaling-cores``, ``scaling-models``).
    """

    family: str
    size: str
    n_models: int | None
    seed: int
    time_limit: float
    group: str = "families"

    def mix(self) -> Mix:
        return generate(self.family, self.size, self.n_models, self.seed)


FAMILY_NAMES = ("uniform", "skewed", "pipeline", "exclusive", "memory")
FULL_SIZES = (
    "inf1.xlarge",
    "inf1.2xlarge",
    "inf1.6xlarge",
    "inf1.24xlarge",
    "synthetic-128",
    "synthetic-256",
)


def _quick() -> list[Case]:
    cases = [Case(f, "inf1.xlarge", None, 0, 5.0) for f in FAMILY_NAMES]
    cases += [Case(f, "inf1.6xlarge", None, 0, 5.0) for f in FAMILY_NAMES]
    cases += [Case("scale", "inf1.6xlarge", 40, 0, 5.0, "target-6xl")]
    cases += [Case(f, "inf1.24xlarge", None, 0, 5.0) for f in ("uniform", "pipeline")]
    return cases


def _full() -> list[Case]:
    cases = [
        Case(f, size, None, seed, 10.0)
        for size in FULL_SIZES
        for f in FAMILY_NAMES
        for seed in range(3)
    ]
    cases += [
        Case("scale", "inf1.6xlarge", n, seed, 10.0, "target-6xl")
        for n in (10, 20, 30, 40)
        for seed in range(5)
    ]
    cases += [Case("scale", "inf1.24xlarge", 300, seed, 30.0, "target-24xl") for seed in range(3)]
    cases += [
        Case("scale", _size(n), n, seed, 30.0, "scaling-cores")
        for n in (4, 8, 16, 32, 64, 128, 256)
        for seed in range(2)
    ]
    cases += [
        Case("scale", "inf1.24xlarge", n, 0, 30.0, "scaling-models") for n in (50, 100, 200, 400)
    ]
    return cases


def _size(cores: int) -> str:
    """The catalogue Inf1 instance with ``cores`` cores, else ``synthetic-<cores>``."""
    return {4: "inf1.xlarge", 16: "inf1.6xlarge", 64: "inf1.24xlarge"}.get(
        cores, f"synthetic-{cores}"
    )


SUITES: dict[str, Callable[[], list[Case]]] = {"quick": _quick, "full": _full}
"""Suite name -> a function returning its cases (see the module table)."""
