"""Pipeline groups through a real broker: hand-typed JSON in the console producer creates,
caps, closes and moves; refusals name the rule that binds; a standby that takes over has the
same groups, and the worker's groups are the fold of the journal."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.workers import Deployment
from tests.integration.support import assert_worker_matches_journal, read_topic
from tests.integration.test_observability import http

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _lines(reply_to: str) -> list[dict[str, Any]]:
    def asked(correlation: str, **command: Any) -> dict[str, Any]:
        return {**command, "replyTo": reply_to, "correlationId": correlation}

    return [
        asked("g-1", type="CreateGroup", groupId="payments", labels={"team": "payments"}),
        asked(
            "g-2",
            type="SetGroupQuota",
            groupId="payments",
            maxCpuPercent=40.0,
            maxPipelines=2,
            expectedRevision=1,
        ),
        asked(
            "c-1",
            type="RegisterPipeline",
            pipelineId="orders",
            name="Orders",
            group="payments",
            requestedCpuPercent=30.0,
            priority=10,
        ),
        asked(
            "c-2",
            type="RegisterPipeline",
            pipelineId="refunds",
            name="Refunds",
            group="payments",
            requestedCpuPercent=5.0,
        ),
        asked(
            "c-3",
            type="RegisterPipeline",
            pipelineId="ledger",
            name="Ledger",
            group="payments",
            requestedCpuPercent=10.0,
            priority=5,
        ),
        asked(
            "c-4",
            type="CheckResourceAvailability",
            estimatedCpuPercent=10.0,
            estimatedMemoryMB=0,
            group="payments",
            detail=True,
            priority=5,
        ),
        asked("g-3", type="SetGroupState", groupId="payments", state="CLOSED"),
        asked("g-4", type="CreateGroup", groupId="batch"),
        asked("g-5", type="MovePipeline", pipelineId="refunds", groupId="batch"),
        asked("c-5", type="RegisterPipeline", pipelineId="late", name="Late", group="payments"),
        asked("g-6", type="DeleteGroup", groupId="payments"),
        asked("g-7", type="SetGroupQuota", groupId="payments", maxPipelines=5, expectedRevision=1),
        asked("g-8", type="GetGroup", groupId="payments"),
        asked("g-9", type="ListGroups"),
        asked("c-6", type="ListPipelines", group="batch"),
    ]


def _console_produce(deployment: Deployment, lines: list[dict[str, Any]]) -> None:
    typed = "".join(
        f"global-coordinator|{json.dumps(line, separators=(',', ':'))}\n" for line in lines
    )
    subprocess.run(
        [
            str(ROOT / "ops" / "kafka-console-producer.sh"),
            "--bootstrap-server",
            deployment.broker.bootstrap,
            "--topic",
            deployment.settings.topics.commands,
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=|",
        ],
        input=typed,
        text=True,
        check=True,
        timeout=120,
    )


def _replies(deployment: Deployment, count: int) -> dict[str, dict[str, Any]]:
    topic = deployment.settings.topics.replies
    deadline = time.monotonic() + 60
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        found = {}
        for record in read_topic(deployment.settings, topic):
            reply = json.loads(record.value or b"")
            found[reply["correlationId"]] = reply
        if len(found) >= count:
            return found
        time.sleep(0.2)  # polling a topic until the replies are there, with a deadline
    raise AssertionError(f"{len(found)} of {count} replies after 60 s: {sorted(found)}")


def test_groups_typed_into_the_console_producer_and_kept_across_a_take_over(
    deployment: Deployment,
) -> None:
    first = deployment.worker("first").start()
    first.wait_serving()
    second = deployment.worker("second").start()
    second.wait_recovered()
    lines = _lines(deployment.settings.topics.replies)

    _console_produce(deployment, lines)
    replies = _replies(deployment, len(lines))

    def value(correlation: str) -> Any:
        assert replies[correlation]["ok"] is True, replies[correlation]
        return replies[correlation]["value"]

    def error(correlation: str) -> dict[str, Any]:
        assert replies[correlation]["ok"] is False, replies[correlation]
        return dict(replies[correlation]["error"])

    assert value("g-1")["revision"] == 1 and value("g-1")["labels"] == {"team": "payments"}
    assert value("g-2")["quota"] == {"maxCpuPercent": 40.0, "maxMemoryMB": None, "maxPipelines": 2}
    assert value("c-1")["pipeline"]["group"] == "payments"
    assert value("c-2")["pipeline"]["requestedCpuPercent"] == 5.0
    quota = error("c-3")
    assert quota["code"] == "QUOTA_EXCEEDED"
    assert (quota["scope"], quota["groupId"], quota["dimension"]) == (
        "group",
        "payments",
        "pipelines",
    )
    assert (quota["requested"], quota["used"], quota["limit"]) == (1, 2, 2)
    assert (quota["preemptionCandidates"], quota["fitsAfterPreemption"]) == (["refunds"], True)
    assert value("c-4") == {
        "available": False,
        "binding": {
            "scope": "group",
            "groupId": "payments",
            "dimension": "pipelines",
            "requested": 1,
            "used": 2,
            "limit": 2,
        },
        "preemptionCandidates": ["refunds"],
        "fitsAfterPreemption": True,
    }
    assert value("g-3")["state"] == "closed"
    assert value("g-5")["group"] == "batch"
    assert error("c-5")["code"] == "GROUP_CLOSED"
    assert error("g-6")["code"] == "GROUP_NOT_EMPTY"
    assert error("g-7")["code"] == "REVISION_CONFLICT"
    payments = value("g-8")
    assert payments["usage"] == {"cpuPercent": 30.0, "memoryMB": 0, "pipelines": 1}
    assert payments["revision"] == 3 and payments["state"] == "closed"
    assert [group["groupId"] for group in value("g-9")["items"]] == ["batch", "default", "payments"]
    assert [item["pipelineId"] for item in value("c-6")["items"]] == ["refunds"]

    first.kill()
    second.wait_serving(30)
    with deployment.client(timeout=30) as client:
        taken_over = client.group("payments")
        assert taken_over is not None
        assert json.loads(taken_over.to_json()) == payments
        assert_worker_matches_journal(deployment.settings, client)
        client.set_labels("orders", {"team": "payments", "tier": "gold"})
        client.set_labels("refunds", {"team": "payments", "tier": "batch"})
        matching = client.list_pipelines(selector="team=payments,tier!=batch")
        assert [info.pipeline_id for info in matching] == ["orders"]

    # The HTTP read views answer by the same rules, from the worker's own table.
    code, body = http(second, "/groups/payments")
    assert code == 200 and json.loads(body) == payments
    assert http(second, "/groups/nope")[0] == 404
    code, body = http(second, "/pipelines?labelSelector=tier%3Dbatch")
    assert code == 200 and [item["pipelineId"] for item in json.loads(body)["items"]] == ["refunds"]
    code, body = http(second, "/pipelines?labelSelector=tier%20in%20(gold")
    assert code == 400 and b"labelSelector" in body
    code, body = http(second, "/groups?limit=1")
    assert code == 200 and json.loads(body)["next"] == "batch"
