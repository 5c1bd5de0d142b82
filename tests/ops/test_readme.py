"""The README documents what the code does: every setting, and the two quick-start commands."""

from __future__ import annotations

import re
from pathlib import Path

from coordinator.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    documented = set(re.findall(r"^\| `(COORDINATOR_[A-Z_]+)` \|", README, re.MULTILINE))
    settings = {f"COORDINATOR_{name.upper()}" for name in Settings.model_fields}
    assert settings - documented == set(), "settings missing from the README"
    assert documented - settings == set(), "README documents settings that do not exist"


def test_defaults_in_the_table_match_the_code() -> None:
    for name in ("broker", "topic_prefix", "snapshot_every", "snapshots_kept", "http_port"):
        row = re.search(rf"^\| `COORDINATOR_{name.upper()}` \| `([^`]*)` \|", README, re.M)
        assert row is not None, name
        assert row.group(1) == str(Settings.model_fields[name].default), name


def test_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["./ops/run.sh", "./ops/test.sh"]
    assert "./ops/test.sh" in (ROOT / ".ci" / "run").read_text()
