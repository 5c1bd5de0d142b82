"""ops/run.sh's supervisor loop, the real script: a worker that exits with 75 (its consumer
stalled) is started again; any other exit ends the run with that status.

The worker is a stub: ``COORDINATOR_VENV`` points at a directory whose ``bin/coordinator`` is a
shell script that records each call and exits with the next code of ``STUB_EXIT_CODES``;
``COORDINATOR_SKIP_SETUP=1`` skips ops/setup.sh and ``COORDINATOR_BROKER`` keeps run.sh from
starting a broker. Everything after that is run.sh as ./ops/run.sh runs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "ops" / "run.sh"
DEADLINE = 30.0

STUB = r"""#!/usr/bin/env bash
# A stand-in for the coordinator command: records each call in $STUB_LOG; the n-th
# `coordinator worker` exits with the n-th code of $STUB_EXIT_CODES ("wait": run until SIGTERM).
set -u
case "${1:-}" in
  topics)
    echo "topics $*" >>"$STUB_LOG"
    exit 0
    ;;
  worker)
    echo "start $$" >>"$STUB_LOG"
    read -r -a codes <<<"$STUB_EXIT_CODES"
    n="$(grep -c '^start ' "$STUB_LOG")"
    code="${codes[$((n - 1))]:-${codes[-1]}}"
    if [ "$code" = wait ]; then
      trap 'echo "terminated $$" >>"$STUB_LOG"; exit 143' TERM
      while :; do sleep 0.05; done
    fi
    echo "exit $code" >>"$STUB_LOG"
    exit "$code"
    ;;
esac
echo "unexpected call: $*" >>"$STUB_LOG"
exit 64
"""


@pytest.fixture(autouse=True)
def _bash_exists() -> None:
    # ops/run.sh is a bash script: without bash this test fails, it does not skip.
    assert shutil.which("bash") is not None, "ops/run.sh needs bash"


class Supervised:
    """ops/run.sh started with a stub coordinator in ``tmp_path``."""

    def __init__(self, tmp_path: Path, exit_codes: str) -> None:
        venv = tmp_path / "venv"
        (venv / "bin").mkdir(parents=True)
        stub = venv / "bin" / "coordinator"
        stub.write_text(STUB)
        stub.chmod(0o755)
        self.log = tmp_path / "calls.log"
        env = {key: value for key, value in os.environ.items() if not key.startswith("COORDINATOR")}
        env.update(
            COORDINATOR_VENV=str(venv),
            COORDINATOR_SKIP_SETUP="1",
            COORDINATOR_BROKER="127.0.0.1:1",
            COORDINATOR_DATA_DIR=str(tmp_path / "data"),
            STUB_LOG=str(self.log),
            STUB_EXIT_CODES=exit_codes,
        )
        self.process = subprocess.Popen(
            ["bash", str(RUN)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def starts(self) -> int:
        return sum(line.startswith("start ") for line in self.calls())

    def finish(self) -> tuple[int, str]:
        """run.sh's exit status and its stderr, within the deadline."""
        try:
            _stdout, stderr = self.process.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.kill()
            _stdout, stderr = self.process.communicate(timeout=10)
            raise AssertionError(
                f"ops/run.sh still running after {DEADLINE:g} s; calls: {self.calls()}\n{stderr}"
            ) from None
        return self.process.returncode, stderr

    def wait_for_starts(self, count: int) -> None:
        deadline = time.monotonic() + DEADLINE
        while self.starts() < count:
            assert self.process.poll() is None, f"ops/run.sh exited early; calls: {self.calls()}"
            assert time.monotonic() < deadline, f"not {count} starts; calls: {self.calls()}"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL run.sh and any stub still running (its session's process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("exit_codes", "starts", "status"),
    [
        ("75 75 0", 3, 0),  # restarted twice, then a clean exit ends the run
        ("75 75 75 3", 4, 3),  # restarted three times, then a failure ends it with its status
        ("3", 1, 3),  # a failure is not restarted
        ("0", 1, 0),  # nor is a clean exit
    ],
)
def test_exit_75_restarts_the_worker_and_any_other_status_ends_the_run(
    tmp_path: Path, exit_codes: str, starts: int, status: int
) -> None:
    run = Supervised(tmp_path, exit_codes)
    returncode, stderr = run.finish()
    calls = run.calls()
    assert returncode == status, f"ops/run.sh exited {returncode}; calls: {calls}\n{stderr}"
    assert run.starts() == starts, f"worker started {run.starts()} times: {calls}\n{stderr}"
    assert calls[0] == "topics topics create", calls  # topics first, then the worker loop
    assert [line for line in calls if line.startswith("exit ")] == [
        f"exit {code}" for code in exit_codes.split()
    ]
    restarted = stderr.count("worker asked to be restarted (exit 75); restarting")
    assert restarted == starts - 1, stderr


def test_sigterm_stops_the_worker_and_the_run(tmp_path: Path) -> None:
    run = Supervised(tmp_path, "75 wait")
    try:
        run.wait_for_starts(2)
        run.process.send_signal(signal.SIGTERM)
        returncode, stderr = run.finish()
    finally:
        run.kill()
    calls = run.calls()
    assert returncode == 143, f"ops/run.sh exited {returncode}; calls: {calls}\n{stderr}"
    assert run.starts() == 2, calls
    second = [line.split()[1] for line in calls if line.startswith("start ")][1]
    assert f"terminated {second}" in calls, f"the running worker got no SIGTERM: {calls}"
