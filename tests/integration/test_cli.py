"""The operator CLI end to end: the installed ``coordinator`` command in a subprocess, against
a real worker. Every command, its ``--json`` output parsed, and its exit code."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.fixtures.broker import free_port
from tests.fixtures.workers import Deployment

pytestmark = pytest.mark.integration

COORDINATOR = Path(sys.executable).with_name("coordinator")
LINE_WITHIN = 30.0
"""The longest wait for one line (a frame) of ``coordinator watch``."""


class Cli:
    """Runs ``coordinator`` with a deployment's environment (broker, topic prefix)."""

    def __init__(self, deployment: Deployment) -> None:
        self.env = {**deployment.base_env, "COLUMNS": "200"}

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(COORDINATOR), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == code, (
            f"coordinator {' '.join(args)}: exit {done.returncode}, wanted {code}\n"
            f"stdout: {done.stdout}\nstderr: {done.stderr}"
        )
        return done

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self(*args, "--json", code=code).stdout)

    def start(self, *args: str) -> Running:
        return Running(
            subprocess.Popen(
                [str(COORDINATOR), *args],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )


def total_pipelines(line: str) -> int:
    """``totalPipelines`` of one line of ``coordinator watch --json``."""
    return int(json.loads(line)["health"]["totalPipelines"])


_running: list[Running] = []


@pytest.fixture(autouse=True)
def _no_watch_left_running() -> Iterator[None]:
    """A test that failed before interrupting its ``watch`` does not leave it running."""
    yield
    while _running:
        process = _running.pop().process
        if process.poll() is None:
            process.kill()
            process.wait(10)


class Running:
    """A ``coordinator`` that runs until interrupted (``watch``): threads read its stdout (line
    by line) and its stderr (when piped), so that every read has a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        _running.append(self)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._out: list[str] = []
        self._err: list[str] = []
        assert process.stdout is not None
        self._readers = [self._reader(process.stdout, self._out, self._lines)]
        if process.stderr is not None:
            self._readers.append(self._reader(process.stderr, self._err, None))

    @staticmethod
    def _reader(
        pipe: IO[str], into: list[str], lines: queue.Queue[str | None] | None
    ) -> threading.Thread:
        def run() -> None:
            for line in pipe:
                into.append(line)
                if lines is not None:
                    lines.put(line)
            if lines is not None:
                lines.put(None)  # end of output

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    @property
    def stdout(self) -> str:
        return "".join(self._out)

    @property
    def stderr(self) -> str:
        return "".join(self._err)

    def readline(self, timeout: float = LINE_WITHIN) -> str:
        try:
            line = self._lines.get(timeout=max(timeout, 0.01))
        except queue.Empty:
            raise AssertionError(
                f"no line in {timeout:g} s; stdout so far: {self.stdout[-2000:]!r}, "
                f"stderr: {self.stderr[-2000:]!r}"
            ) from None
        if line is None:
            self._lines.put(None)
            raise AssertionError(
                f"output ended (exit {self.process.wait(10)}); stderr: {self.stderr[-2000:]!r}"
            )
        return line

    def read_until(self, done: Callable[[str], bool], timeout: float = LINE_WITHIN) -> str:
        """Read lines until ``done(everything read)``; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not done(self.stdout):
            left = deadline - time.monotonic()
            assert left > 0, f"not there after {timeout:g} s: {self.stdout[-3000:]!r}"
            self.readline(left)
        return self.stdout

    def poll(self) -> int | None:
        return self.process.poll()

    def interrupt(self) -> tuple[str, str]:
        """SIGINT (Ctrl-C); it must exit with 0. Everything it printed, stdout and stderr."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"no exit 30 s after SIGINT; stderr: {self.stderr}") from None
        for reader in self._readers:
            reader.join(10)
        assert self.process.returncode == 0, f"exit {self.process.returncode}: {self.stderr}"
        return self.stdout, self.stderr


def test_every_command_with_json_and_exit_codes(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    cli = Cli(deployment)

    assert (
        "Registered p1 (Pipeline 1); 1 pipeline registered."
        in cli("register", "p1", "Pipeline 1").stdout
    )
    summary = cli.json("register", "p2", "Pipeline 2", "--command-id", "c-2")
    assert (summary["pipelineId"], summary["totalPipelines"]) == ("p2", 2)
    assert summary["pipeline"]["status"] == "configured"
    again = cli("register", "p1", "again", "--json", code=1)
    assert json.loads(again.stdout)["error"]["code"] == "PIPELINE_ALREADY_REGISTERED"
    assert "refused: PIPELINE_ALREADY_REGISTERED" in again.stderr

    # send: fire-and-forget commands are confirmed; others print the reply.
    update = json.dumps(
        {
            "type": "UpdatePipelineStatus",
            "pipelineId": "p1",
            "status": "RUNNING",
            "totalRecords": 10,
            "failedRecords": 1,
        }
    )
    assert "accepted: UpdatePipelineStatus" in cli("send", update).stderr
    ghost = '{"type":"ReportResourceUsage","pipelineId":"ghost","cpuPercent":1,"memoryMB":1}'
    assert json.loads(cli("send", ghost, code=1).stdout)["error"]["code"] == "PIPELINE_NOT_FOUND"
    with deployment.client() as client:  # (a report from elsewhere, for the totals below)
        client.report_resources("p1", 30.5, 4096)
    reply = json.loads(cli("send", '{"type":"GetPipelineInfo","pipelineId":"p1"}').stdout)
    assert reply["ok"] is True and reply["value"]["status"] == "running"
    assert reply["value"]["cpuPercent"] == 30.5
    assert "not JSON" in cli("send", "{nope", code=2).stderr

    human = cli("status").stdout
    assert "Health healthy" in human and "2 pipelines, 1 running, 0 failed" in human
    assert "30.5 %" in human and "80,000 MB" in human
    status = cli.json("status")
    assert status["health"]["status"] == "healthy"
    assert status["countByStatus"]["running"] == 1 and status["totalMemoryMB"] == 4096
    assert status["limits"] == {
        "maxCpuPercent": 80.0,
        "maxMemoryMB": 80000,
        "source": "configuration",
        "revision": 0,
    }
    assert status["overCommitted"] is False

    listed = cli("list").stdout
    assert "p1" in listed and "Pipeline 2" in listed and "running" in listed
    assert [p["pipelineId"] for p in cli.json("list")] == ["p1", "p2"]
    assert [p["pipelineId"] for p in cli.json("list", "--status", "RUNNING")] == ["p1"]
    assert "No failed pipelines registered." in cli("list", "--status", "failed").stdout

    assert "Last heartbeat" in cli("info", "p1").stdout
    info = cli.json("info", "p1")
    assert (info["totalRecords"], info["failedRecords"], info["memoryMB"]) == (10, 1, 4096)
    assert info["lastHeartbeat"].endswith("Z")
    missing = cli("info", "ghost", "--json", code=1)
    assert json.loads(missing.stdout) is None and "'ghost' is not registered" in missing.stderr

    assert "Available" in cli("check", "--cpu", "49.5", "--memory-mb", "100").stdout
    assert cli.json("check", "--cpu", "49.5", "--memory-mb", "100") is True
    assert cli.json("check", "--cpu", "49.6", "--memory-mb", "100", code=1) is False
    invalid = cli("check", "--cpu", "-1", "--memory-mb", "1", code=1)
    assert "refused: INVALID_ARGUMENT" in invalid.stderr

    watching = cli.start("watch", "--json", "--interval", "0.3")
    lines = [watching.readline() for _ in range(2)]
    watching.interrupt()
    assert all(total_pipelines(line) == 2 for line in lines)

    tables = cli.start("watch", "--interval", "0.3")
    tables.read_until(lambda printed: printed.count("Refreshed") >= 2)
    stdout, _ = tables.interrupt()
    assert stdout.count("Refreshed") >= 2, stdout  # not a terminal: frame after frame
    assert "Pipeline 2" in stdout and "Health healthy" in stdout

    assert "Unregistered p2; 1 pipeline registered." in cli("unregister", "p2").stdout
    gone = json.loads(cli("unregister", "p2", "--json", code=1).stdout)
    assert gone["error"]["code"] == "PIPELINE_NOT_FOUND"
    assert cli.json("unregister", "p1", "--command-id", "u-1")["totalPipelines"] == 0

    assert "No such option" in cli("list", "--bogus", code=2).stderr
    assert "Missing argument" in cli("register", "p9", code=2).stderr


def test_watch_keeps_going_while_no_worker_answers(deployment: Deployment) -> None:
    worker = deployment.worker().start().wait_serving()
    cli = Cli(deployment)
    watching = cli.start("watch", "--json", "--interval", "0.2", "--timeout", "0.5")
    assert total_pipelines(watching.readline()) == 0
    worker.stop()
    deadline = time.monotonic() + 30
    while "no refresh: no reply to GetSystemStatus" not in watching.stderr:
        assert watching.poll() is None, f"exit {watching.poll()}: {watching.stderr[-2000:]!r}"
        assert time.monotonic() < deadline, watching.stderr[-2000:]
        time.sleep(0.1)
    worker.start().wait_serving()
    with deployment.client() as client:
        client.register("p1", "Pipeline 1")
    # Lines printed before the worker stopped may still be in the pipe: read on until the
    # registration shows.
    deadline = time.monotonic() + 60
    while total_pipelines(watching.readline(deadline - time.monotonic())) != 1:
        assert time.monotonic() < deadline, watching.stderr[-2000:]
    watching.interrupt()


def test_watch_started_before_any_worker_waits_for_one(deployment: Deployment) -> None:
    cli = Cli(deployment)  # topics exist, but no worker runs yet
    tables = cli.start("watch", "--interval", "0.2", "--timeout", "0.3")
    deadline = time.monotonic() + 30
    while "no refresh: no reply to GetSystemStatus" not in tables.stderr:
        assert tables.poll() is None, f"exit {tables.poll()}: {tables.stderr[-2000:]!r}"
        assert time.monotonic() < deadline, tables.stderr[-2000:]
        time.sleep(0.1)
    assert tables.stdout == ""

    deployment.worker().start().wait_serving()
    tables.read_until(lambda printed: "Refreshed" in printed)
    stdout, _ = tables.interrupt()
    assert "Health idle   0 pipelines" in stdout


def test_connection_errors_say_what_to_do(deployment: Deployment) -> None:
    cli = Cli(deployment)  # topics exist, but no worker runs

    started = time.monotonic()
    no_broker = cli("status", "--broker", f"127.0.0.1:{free_port()}", code=2)
    assert "no Kafka broker answered at 127.0.0.1:" in no_broker.stderr
    assert "./ops/broker.sh start" in no_broker.stderr
    assert time.monotonic() - started < 15

    no_topics = cli("list", "--prefix", "nothing-here", code=2)
    assert "coordinator topics create" in no_topics.stderr

    no_worker = cli("info", "p1", "--timeout", "0.3", code=2)
    assert "is a coordinator worker running" in no_worker.stderr
    assert no_worker.stdout == ""


def test_groups_quotas_moves_and_labels_from_the_command_line(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    cli = Cli(deployment)

    created = cli.json("groups", "create", "payments", "--label", "team=payments")
    assert (created["groupId"], created["revision"]) == ("payments", 1)
    capped = cli.json("quota", "set", "payments", "--pipelines", "1", "--cpu", "40")
    assert capped["quota"] == {"maxCpuPercent": 40.0, "maxMemoryMB": None, "maxPipelines": 1}
    cli("register", "p1", "One", "--group", "payments", "--cpu", "30", "--priority", "1")
    refused = cli("register", "p2", "Two", "--group", "payments", "--priority", "5", code=1)
    assert (
        "QUOTA_EXCEEDED" in refused.stderr and "preempting p1 would make it fit" in refused.stderr
    )
    check = cli("check", "--cpu", "20", "--memory-mb", "0", "--group", "payments", code=1)
    assert "Not available: group payments" in check.stdout
    assert "cpuPercent" in check.stdout or "pipelines" in check.stdout
    table = cli("groups", "list").stdout
    assert "payments" in table and "1 / 1" in table
    cli("quota", "set", "payments", "--pipelines", "none")
    cli("groups", "close", "payments")
    closed = cli("register", "p3", "Three", "--group", "payments", code=1)
    assert "GROUP_CLOSED" in closed.stderr
    cli("groups", "create", "batch")
    moved = cli.json("move", "p1", "batch")
    assert moved["group"] == "batch"
    cli("labels", "set", "p1", "tier=gold", "team=payments")
    listed = cli.json("list", "--selector", "tier=gold,team in (payments)")
    assert [item["pipelineId"] for item in listed] == ["p1"]
    assert cli.json("list", "--group", "payments") == []
    cli("groups", "delete", "payments")
    assert cli("groups", "show", "payments", code=1).stderr.startswith("group 'payments'")


def test_reservations_and_preemption_from_the_command_line(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    cli = Cli(deployment)
    cli("groups", "create", "payments")
    cli("quota", "set", "payments", "--cpu", "40")
    cli("register", "refunds", "Refunds", "--group", "payments", "--cpu", "10")

    held = cli.json("reserve", "--group", "payments", "--cpu", "25", "--memory-mb", "512")
    assert held["groupId"] == "payments" and held["cpuPercent"] == 25.0
    said = cli("reserve", "--group", "payments", "--cpu", "1", "--ttl", "60").stdout
    assert "Register with: coordinator register ID NAME --reservation res-" in said
    refused = cli("reserve", "--group", "payments", "--cpu", "20", code=1)
    assert "QUOTA_EXCEEDED" in refused.stderr and "of it reserved" in refused.stderr
    listed = cli("reservations", "--group", "payments").stdout
    assert held["reservationId"] in listed
    assert re.search(r"\(in (29\d|300) s\)", listed), listed  # about 300 s left
    assert "2: 26.0 %" in cli("groups", "list").stdout  # the Reserved column: two, 26 % CPU
    registered = cli.json("register", "orders", "Orders", "--reservation", held["reservationId"])
    assert registered["pipeline"]["requestedCpuPercent"] == 25.0
    (other,) = cli.json("reservations")
    cli("release", other["reservationId"])
    assert cli.json("reservations") == []
    assert "No reservations outstanding." in cli("reservations").stdout
    again = cli("release", other["reservationId"], code=1)
    assert "RESERVATION_NOT_FOUND" in again.stderr

    cli("preempt", "refunds", "--reason", "room for checkout", "--for", "checkout")
    info = cli.json("info", "refunds")
    assert info["preemptionRequested"]["forPipelineId"] == "checkout"
    assert "Preemption" in cli("info", "refunds").stdout
    missing = cli("preempt", "nobody", "--reason", "room", code=1)
    assert "PIPELINE_NOT_FOUND" in missing.stderr
