"""The README's quick start is two commands, and CI runs the second.

The settings, endpoints and metrics are checked against docs/operations.md in test_docs.py.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["./ops/run.sh", "./ops/test.sh"]
    assert "./ops/test.sh" in (ROOT / ".ci" / "run").read_text()
