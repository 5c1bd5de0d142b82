"""What operators see: Prometheus metrics, health probes, read-only views, and the log lines."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer

from coordinator.domain.events import PipelineRegistered
from tests.fixtures.workers import Deployment, Worker

pytestmark = pytest.mark.integration


def http(worker: Worker, path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{worker.env['COORDINATOR_HTTP_PORT']}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def metric(worker: Worker, name: str, labels: str = "") -> float:
    status, body = http(worker, "/metrics")
    assert status == 200
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)$"
    found = re.search(pattern, body.decode(), re.MULTILINE)
    assert found, f"{name}{{{labels}}} not in /metrics"
    return float(found.group(1))


def test_metrics_move_as_commands_are_applied(deployment: Deployment) -> None:
    worker = deployment.worker(log_level="DEBUG").start().wait_serving()
    assert metric(worker, "coordinator_registrations_total") == 0
    assert metric(worker, "coordinator_active") == 1
    with deployment.client() as client:
        for name in ("a", "b", "c"):
            client.register(name, f"Pipeline {name}")
        client.update_status("a", "running", 1000, 5)
        client.update_status("b", "failed", 10, 10)
        client.report_resources("a", 15.5, 2048)
        client.report_resources("b", 20.0, 1024)
        client.update_status("ghost", "running", 1, 0)
        client.unregister("c")
        assert client.check_resources(50.0, 100) is False
        client.send_raw(b"not json")
        client.system_status()  # everything before it is applied

    assert metric(worker, "coordinator_registrations_total") == 3
    assert metric(worker, "coordinator_unregistrations_total") == 1
    assert metric(worker, "coordinator_status_updates_total") == 2
    assert metric(worker, "coordinator_resource_reports_total") == 2
    assert metric(worker, "coordinator_pipelines_total", 'status="running"') == 1
    assert metric(worker, "coordinator_pipelines_total", 'status="failed"') == 1
    assert metric(worker, "coordinator_pipelines_total", 'status="configured"') == 0
    assert metric(worker, "coordinator_cpu_percent_total") == 35.5
    assert metric(worker, "coordinator_memory_mb_total") == 3072
    assert metric(worker, "coordinator_unknown_pipeline_updates_total") == 1
    assert metric(worker, "coordinator_dead_letters_total", 'reason="INVALID_COMMAND"') == 1
    assert (
        metric(worker, "coordinator_commands_total", 'result="accepted",type="RegisterPipeline"')
        == 3
    )
    assert metric(worker, "coordinator_events_appended_total") == 3 + 2 + 2 + 1
    assert metric(worker, "coordinator_seq") == 8
    assert metric(worker, "coordinator_command_latency_seconds_count") >= 10
    assert metric(worker, "coordinator_commands_lag") == 0

    log = worker.log()
    assert "INFO  - msg=Register pipeline pipelineId=a name=Pipeline a" in log
    assert "INFO  - msg=Unregister pipeline pipelineId=c" in log
    assert "DEBUG - msg=Update pipeline status pipelineId=a status=running records=1000" in log
    assert "DEBUG - msg=Report resource usage pipelineId=a cpu=15.5% memory=2048MB" in log
    assert (
        "WARN  - msg=Resources unavailable cpu=50% (current=35.5%) memory=100MB (current=3072)"
        in log
    )
    assert (
        "msg=Update for unknown pipeline ignored type=UpdatePipelineStatus pipelineId=ghost" in log
    )


def test_read_views_match_the_replies(deployment: Deployment) -> None:
    worker = deployment.worker().start().wait_serving()
    with deployment.client() as client:
        for index in range(25):
            client.register(f"p-{index:02d}", f"n{index}")
        client.update_status("p-03", "running", 5, 0)
        status_reply = client.request({"type": "GetSystemStatus"})
        page_reply = client.request({"type": "ListPipelines", "limit": 10, "after": "p-05"})
        running_reply = client.request({"type": "ListPipelines", "status": "RUNNING"})
        info_reply = client.request({"type": "GetPipelineInfo", "pipelineId": "p-03"})

    def value_json(reply: object) -> object:
        return json.loads(reply.to_json())["value"]  # type: ignore[attr-defined]

    assert json.loads(http(worker, "/status")[1]) == value_json(status_reply)
    assert json.loads(http(worker, "/pipelines?limit=10&after=p-05")[1]) == value_json(page_reply)
    assert json.loads(http(worker, "/pipelines?status=running")[1]) == value_json(running_reply)
    assert json.loads(http(worker, "/pipelines/p-03")[1]) == value_json(info_reply)
    code, body = http(worker, "/pipelines/nope")
    assert code == 404 and json.loads(body)["error"]["code"] == "PIPELINE_NOT_FOUND"
    assert http(worker, "/pipelines?limit=0")[0] == 400
    assert http(worker, "/pipelines?status=sleeping")[0] == 400
    assert http(worker, "/health/live") == (200, b'{"live":true}')


def test_ready_only_after_recovery(deployment: Deployment) -> None:
    # A journal of many events, written directly, so that a replay takes a while.
    count = 100_000
    producer = Producer({**deployment.settings.kafka_base(), "linger.ms": 50})
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, count + 1):
        event = PipelineRegistered(
            seq=seq, command_id=None, pipeline_id=f"p{seq:06d}", name="n", timestamp=at
        )
        producer.produce(deployment.settings.topics.events, event.to_json(), event.pipeline_id)
        if seq % 10_000 == 0:
            producer.flush()
    producer.flush()

    worker = deployment.worker().start()
    answers: list[tuple[int, str]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            code, body = http(worker, "/health/ready")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
            continue
        answers.append((code, json.loads(body)["role"]))
        if code == 200:
            break
        time.sleep(0.05)

    assert answers and answers[-1][0] == 200, answers[-5:]
    assert (503, "recovering") in answers, answers[:5]
    recovered = worker.wait_recovered()
    assert recovered.group(1) == "journal" and int(recovered.group(3)) == count
    status, body = http(worker, "/status")
    assert status == 200 and json.loads(body)["health"]["totalPipelines"] == count


def test_stale_pipelines_in_journal_time(deployment: Deployment) -> None:
    worker = deployment.worker(stale_after_seconds=1).start().wait_serving()
    with deployment.client() as client:
        client.register("quiet", "q")
        client.register("busy", "b")
        client.update_status("quiet", "running", 1, 0)
        time.sleep(1.5)
        client.update_status("busy", "running", 2, 0)  # journal time moves on
        status = client.system_status()

    assert status.stale_pipelines == 1
    assert status.stale_after_seconds == 1.0
    assert status.pipelines is not None and status.pipelines["quiet"].status == "running"
    assert metric(worker, "coordinator_stale_pipelines") == 1
