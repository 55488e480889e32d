"""The project's own promises: the README quickstart and CI run the same commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    assert block is not None, "the Quickstart has no code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_a_two_command_quickstart():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.index("## Quickstart") < readme.index("\n## ", readme.index("## Quickstart") + 1)
    commands = quickstart_commands()
    assert len(commands) == 2
    assert "ncplace" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert quickstart_commands()[1] in ci.splitlines()
    assert "set -euo pipefail" in ci


def test_notebooks_and_examples_are_where_the_readme_says():
    for folder in ("examples", "notebooks", "benchmarks", "src/ncplace"):
        assert (ROOT / folder).is_dir(), folder


def fresh_interpreter(script: str) -> str:
    """What ``script`` prints when run by a new Python interpreter (nothing imported yet)."""
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout


def test_importing_ncplace_leaves_the_solver_and_graphs_until_they_are_used():
    script = (
        "import sys, ncplace\n"
        "before = sorted(m for m in ('ortools', 'networkx') if m in sys.modules)\n"
        "mix = ncplace.Mix([ncplace.Model('a')], ncplace.instance('inf1.xlarge'))\n"
        "plan = ncplace.optimize(mix)\n"
        "from ncplace import optimize\n"
        "import ncplace.optimize.tabu\n"
        "print(before, plan.status.value, ncplace.optimize is optimize,\n"
        "      callable(ncplace.optimize), ncplace.instance('trn1.32xlarge').hops(0, 31),\n"
        "      'networkx' in sys.modules)\n"
    )
    out = fresh_interpreter(script)
    assert out.split() == ["[]", "optimal", "True", "True", "2", "True"]
