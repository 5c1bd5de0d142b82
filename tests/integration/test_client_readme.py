"""The README's examples for pipelines, services and operators, run as pasted against a real
worker (the broker and topic prefix come from the environment, as the README says)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.domain.events import (
    PipelineRegistered,
    PipelineStatusUpdated,
    PipelineUnregistered,
)
from tests.fixtures.broker import ROOT
from tests.fixtures.workers import Deployment
from tests.integration.support import journal

pytestmark = pytest.mark.integration

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    return README.split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def run(deployment: Deployment, *command: str) -> str:
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**deployment.base_env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_readme_examples_work_as_pasted(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()

    reporter, async_reporter = blocks(section("For pipelines"), "python")
    run(deployment, sys.executable, "-c", reporter)
    run(deployment, sys.executable, "-c", async_reporter)
    for pipeline_id in ("pipeline-789", "pipeline-790"):
        kinds = [type(e) for e in journal(deployment.settings) if e.pipeline_id == pipeline_id]
        assert kinds[0] is PipelineRegistered and kinds[-1] is PipelineUnregistered
        assert PipelineStatusUpdated in kinds

    sync_client, async_client = blocks(section("For services"), "python")
    printed = run(deployment, sys.executable, "-c", sync_client).splitlines()
    assert printed[:3] == ["1", "True", "healthy"]
    assert printed[4].startswith("pipeline-123 1000000 ")
    assert printed[-1] == "PIPELINE_ALREADY_REGISTERED"
    printed = run(deployment, sys.executable, "-c", async_client).splitlines()
    assert printed == ["configured None", "pipeline-456 configured"]

    commands, watch = blocks(section("For operators"), "sh")
    # The README activates ./.venv; the tests may run from another (COORDINATOR_VENV).
    activate = Path(sys.executable).parent / "activate"
    assert commands.startswith(". .venv/bin/activate\n") and activate.is_file()
    commands = commands.replace(".venv/bin/activate", shlex.quote(str(activate)), 1)
    shown = run(deployment, "bash", "-e", "-c", commands)
    assert "Registered pipeline-123 (User Events Pipeline)" in shown
    assert '"pipelineId":"pipeline-123"' in shown and "room for one more pipeline" in shown
    assert "Unregistered pipeline-123; 0 pipelines registered." in shown
    assert watch.strip() == "coordinator watch"  # interactive; tested in test_cli.py
