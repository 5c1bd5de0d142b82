"""Starting the baseline loops of ``bench.loops`` as processes of their own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from bench.env import ROOT, BenchError, Deployment


def run_relay(
    deployment: Deployment, start: int, count: int, label: str, transactional: bool
) -> dict[str, float]:
    """Relay ``count`` commands of the deployment's commands topic from offset ``start``."""
    deployment.create_topics(f"{label}.events", f"{label}.replies", f"{label}.progress")
    command = [
        sys.executable,
        "-m",
        "bench.loops",
        "relay",
        "--bootstrap",
        deployment.settings.broker,
        "--source",
        deployment.settings.topics.commands,
        "--start",
        str(start),
        "--count",
        str(count),
        "--out-prefix",
        f"{deployment.prefix}.{label}",
    ]
    if transactional:
        command.append("--transactional")
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"relay {label} failed:\n{result.stdout}{result.stderr[-3000:]}")
    found: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


class Echo:
    """A bare echo service on the commands topic of ``deployment`` (a process of its own)."""

    def __init__(self, deployment: Deployment, value: bytes, transactional: bool) -> None:
        self.deployment = deployment
        self.value_file = deployment.root / f"echo-value-{transactional}.json"
        self.value_file.write_bytes(value)
        self.transactional = transactional
        self.process: subprocess.Popen[str] | None = None
        self.log_path: Path = deployment.root / f"echo-{transactional}.log"

    def __enter__(self) -> Echo:
        command = [
            sys.executable,
            "-m",
            "bench.loops",
            "echo",
            "--bootstrap",
            self.deployment.settings.broker,
            "--topic",
            self.deployment.settings.topics.commands,
            "--label",
            self.deployment.prefix,
            "--value-file",
            str(self.value_file),
        ]
        if self.transactional:
            command.append("--transactional")
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        line = self.process.stdout.readline()
        if line.strip() != "ready" or time.monotonic() > deadline:
            self.__exit__(None, None, None)
            raise BenchError(f"echo did not start: {line!r} {self.log_path.read_text()[-2000:]}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
