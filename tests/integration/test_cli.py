"""The operator CLI end to end: the installed ``coordinator`` command in a subprocess, against
a real worker. Every command, its ``--json`` output parsed, and its exit code."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.broker import free_port
from tests.fixtures.workers import Deployment

pytestmark = pytest.mark.integration

COORDINATOR = Path(sys.executable).with_name("coordinator")


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

    def start(self, *args: str, stderr: Any = subprocess.PIPE) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(COORDINATOR), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def interrupt(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, f"exit {process.returncode}: {stderr}"
    return stdout, stderr


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
    assert status["limits"] == {"maxCpuPercent": 80.0, "maxMemoryMB": 80000}

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
    assert watching.stdout is not None
    lines = [watching.stdout.readline() for _ in range(2)]
    stdout, _ = interrupt(watching)
    assert all(json.loads(line)["health"]["totalPipelines"] == 2 for line in lines)

    tables = cli.start("watch", "--interval", "0.3")
    time.sleep(3)
    stdout, _ = interrupt(tables)
    assert stdout.count("Refreshed") >= 2, stdout  # not a terminal: frame after frame
    assert "Pipeline 2" in stdout and "Health healthy" in stdout

    assert "Unregistered p2; 1 pipeline registered." in cli("unregister", "p2").stdout
    gone = json.loads(cli("unregister", "p2", "--json", code=1).stdout)
    assert gone["error"]["code"] == "PIPELINE_NOT_FOUND"
    assert cli.json("unregister", "p1", "--command-id", "u-1")["totalPipelines"] == 0

    assert "No such option" in cli("list", "--bogus", code=2).stderr
    assert "Missing argument" in cli("register", "p9", code=2).stderr


def test_watch_keeps_going_while_no_worker_answers(deployment: Deployment, tmp_path: Path) -> None:
    worker = deployment.worker().start().wait_serving()
    cli = Cli(deployment)
    errors = tmp_path / "watch.err"
    with errors.open("w") as stderr:
        watching = cli.start(
            "watch", "--json", "--interval", "0.2", "--timeout", "0.5", stderr=stderr
        )
        assert watching.stdout is not None
        assert json.loads(watching.stdout.readline())["health"]["totalPipelines"] == 0
        worker.stop()
        deadline = time.monotonic() + 30
        while "no refresh: no reply to GetSystemStatus" not in errors.read_text():
            assert watching.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, errors.read_text()
            time.sleep(0.1)
        worker.start().wait_serving()
        with deployment.client() as client:
            client.register("p1", "Pipeline 1")
        # Lines printed before the worker stopped may still be in the pipe: read on until the
        # registration shows.
        while json.loads(watching.stdout.readline())["health"]["totalPipelines"] != 1:
            assert time.monotonic() < deadline + 60, errors.read_text()
        interrupt(watching)


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
