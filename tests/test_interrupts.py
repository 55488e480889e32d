"""Ctrl-C and SIGTERM during a solve, through the real console script.

The first SIGINT (or a SIGTERM) stops the search: ``recommend`` prints the best layout found so
far, marked interrupted, and exits 130. A second signal exits at once with one line on stderr.
The solve runs with stderr on a pseudo-terminal, so that the progress line says when the solve
has started; the mix (40 random-load models on 16 cores, seed 0) is not proven within a minute
(``benchmarks/RESULTS.md``, proofs), so the search is still running when the signal comes.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.generator import generate
from tests.test_cli import console_script

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

LIMIT_S = 60
"""The solve's time limit: far longer than any test waits."""


@pytest.fixture(scope="module")
def hard_mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("interrupts") / "mix.json"
    path.write_text(json.dumps(generate("scale", "inf1.6xlarge", 40, 0).to_dict()))
    return path


class Solve:
    """``ncplace recommend MIX`` with stderr on a pseudo-terminal (its progress line)."""

    def __init__(self, mix: Path, *options: str) -> None:
        self.master, slave = os.openpty()
        argv = [console_script(), "recommend", str(mix), "--time-limit", str(LIMIT_S), *options]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, text=True)
        os.close(slave)
        self.stderr = b""

    def read_stderr(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    return
                if not chunk:
                    return
                self.stderr += chunk
            elif self.process.poll() is not None:
                return

    def wait_for_search(self) -> None:
        """Until the progress line shows the solve running for a second."""
        deadline = time.monotonic() + 60
        while b"solving: 1." not in self.stderr and b"solving: 2." not in self.stderr:
            assert time.monotonic() < deadline, self.stderr
            assert self.process.poll() is None, self.stderr
            self.read_stderr(0.2)

    def finish(self, timeout: float) -> tuple[int, str, list[str]]:
        """Exit code, stdout and the stderr lines other than the progress line's redraws."""
        out, _ = self.process.communicate(timeout=timeout)
        self.read_stderr(0.5)
        os.close(self.master)
        text = self.stderr.decode()
        text = text.replace("\x1b[K", "")  # the progress line's erasure
        parts = [p.strip() for line in text.splitlines() for p in line.split("\r")]
        lines = [p for p in parts if p and not p.startswith("ncplace: solving:")]
        return self.process.returncode, out, lines


def test_the_first_ctrl_c_returns_the_best_layout_so_far_and_exits_130(hard_mix: Path) -> None:
    solve = Solve(hard_mix)
    solve.wait_for_search()
    solve.process.send_signal(signal.SIGINT)
    code, out, errors = solve.finish(timeout=30)
    assert code == 130
    assert errors == []
    plan_line = next(line for line in out.splitlines() if line.startswith("Plan: "))
    assert "(interrupted" in plan_line
    assert "neuron_cores_context" in out or "NEURON_RT_VISIBLE_CORES" in out


def test_sigterm_stops_the_search_like_ctrl_c_with_json_marked_interrupted(
    hard_mix: Path,
) -> None:
    solve = Solve(hard_mix, "--format", "json")
    solve.wait_for_search()
    solve.process.send_signal(signal.SIGTERM)
    code, out, errors = solve.finish(timeout=30)
    assert code == 130
    assert errors == []
    certificate = json.loads(out)["certificate"]
    assert certificate["interrupted"] is True
    assert certificate["stop_reason"].startswith("interrupted")
    assert json.loads(out)["layout"] is not None


def test_a_second_signal_exits_at_once_with_one_line(hard_mix: Path) -> None:
    """Two signals back to back: a SIGINT then a SIGTERM, since two SIGINTs sent together may
    reach the process as one (pending signals of one kind are merged)."""
    solve = Solve(hard_mix)
    solve.wait_for_search()
    solve.process.send_signal(signal.SIGINT)
    solve.process.send_signal(signal.SIGTERM)
    code, out, errors = solve.finish(timeout=30)
    assert code == 130
    assert errors == ["ncplace: interrupted again: stopped at once"]
    assert "Plan: " not in out
