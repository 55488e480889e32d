"""benchmarks/latency.py: one layout judged and summarised (the full run is the benchmark)."""

from __future__ import annotations

from pathlib import Path

import ncplace
from benchmarks import latency as bench
from ncplace import Mix
from ncplace.latency import estimate, max_scale


def test_judge_and_summary_on_one_layout() -> None:
    mix = Mix.from_file(
        Path(__file__).parent.parent / "examples" / "vision-skewed-inf1-xlarge.yaml"
    )
    layout = ncplace.POLICIES["greedy"](mix)
    row, errors = bench.judge("vision", "greedy", layout, mix)
    assert row["alpha"] == max_scale(layout, mix)
    assert row["alpha_est"] == estimate(layout, mix).max_scale
    assert row["calls"] > 90_000
    assert {e["point"] for e in errors} == {"today", "0.9 alpha*"}
    assert len(errors) == 2 * len(mix.models)
    first = errors[0]
    assert first["error"] == first["est_p99_ms"] / first["sim_p99_ms"] - 1
    text = bench.summarize([row | {"policy": "optimized"}, row], errors)
    assert "estimate p99 error at today: 8 model-layouts" in text
    assert "| vision | " in text
    assert "optimized (objective slo) against the best feasible policy on alpha*: " in text
    assert "0 higher, 1 within 1%, 0 lower" in text
