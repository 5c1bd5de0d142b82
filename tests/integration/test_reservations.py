"""Reservations, journal time, preemption requests, runtime limits, labels and truthful status
through a real broker: hand-typed JSON in the console producer; a short reservation expired by
the ``Tick`` the active worker appends; a standby that takes over has the same reservations; a
reporter's ``on_preemption`` hears a request made with the client."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from coordinator.client import PipelineReporter, ResourceSample
from coordinator.domain.model import PreemptionRequest
from tests.fixtures.workers import Deployment
from tests.integration.support import assert_worker_matches_journal, read_topic
from tests.integration.test_groups import _console_produce, _replies
from tests.integration.test_observability import http

pytestmark = pytest.mark.integration


def _asked(reply_to: str, correlation: str, **command: Any) -> dict[str, Any]:
    return {**command, "replyTo": reply_to, "correlationId": correlation}


def _first_lines(reply_to: str) -> list[dict[str, Any]]:
    def asked(correlation: str, **command: Any) -> dict[str, Any]:
        return _asked(reply_to, correlation, **command)

    return [
        asked("l-1", type="SetResourceLimits", maxCpuPercent=90.0, reason="typed by hand"),
        asked("g-1", type="CreateGroup", groupId="payments"),
        asked("g-2", type="SetGroupQuota", groupId="payments", maxCpuPercent=40.0, maxPipelines=3),
        asked(
            "c-1",
            type="RegisterPipeline",
            pipelineId="refunds",
            name="Refunds",
            group="payments",
            requestedCpuPercent=10.0,
        ),
        asked(
            "r-1",
            type="ReserveResources",
            group="payments",
            cpuPercent=25.0,
            memoryMB=2048,
            ttlSeconds=300,
            commandId="r-1",
        ),
        asked(
            "r-2",
            type="ReserveResources",
            group="payments",
            cpuPercent=25.0,
            memoryMB=2048,
            ttlSeconds=300,
        ),
        asked("r-3", type="ReserveResources", cpuPercent=1.0, memoryMB=1, ttlSeconds=1.5),
        asked("r-4", type="GetGroup", groupId="payments"),
        asked("r-5", type="ListReservations", group="payments"),
        asked(
            "s-1",
            type="UpdatePipelineStatus",
            pipelineId="refunds",
            status="RUNNING",
            totalRecords=10,
            failedRecords=0,
        ),
        asked("s-2", type="SetPipelineLabels", pipelineId="refunds", labels={"team": "payments"}),
        asked(
            "s-3",
            type="ListPipelines",
            status="running",
            labelSelector="team in (payments)",
            namePrefix="Ref",
        ),
        asked(
            "p-1",
            type="RequestPreemption",
            pipelineIds=["refunds"],
            forPipelineId="checkout",
            reason="checkout needs the room",
        ),
        asked("p-2", type="GetPipelineInfo", pipelineId="refunds"),
        asked("p-3", type="RequestPreemption", pipelineIds=["nobody"], reason="room"),
        asked("l-2", type="ResetResourceLimits", expectedRevision=1),
        asked("l-3", type="GetSystemStatus"),
    ]


def _value(replies: dict[str, dict[str, Any]], correlation: str) -> Any:
    assert replies[correlation]["ok"] is True, replies[correlation]
    return replies[correlation]["value"]


def _error(replies: dict[str, dict[str, Any]], correlation: str) -> dict[str, Any]:
    assert replies[correlation]["ok"] is False, replies[correlation]
    return dict(replies[correlation]["error"])


def _events(deployment: Deployment) -> list[dict[str, Any]]:
    return [
        json.loads(record.value or b"")
        for record in read_topic(deployment.settings, deployment.settings.topics.events)
    ]


def test_reservations_and_preemption_typed_into_the_console_producer(
    deployment: Deployment,
) -> None:
    first = deployment.worker("first", tick_interval_seconds=0.2).start()
    first.wait_serving()
    second = deployment.worker("second", tick_interval_seconds=0.2).start()
    second.wait_recovered()
    reply_to = deployment.settings.topics.replies
    lines = _first_lines(reply_to)

    _console_produce(deployment, lines)
    replies = _replies(deployment, len(lines) - 1)  # the status update is fire-and-forget

    assert _value(replies, "l-1")["limits"] == {"maxCpuPercent": 90.0, "maxMemoryMB": None}
    reservation = _value(replies, "r-1")
    assert reservation["groupId"] == "payments" and reservation["reservationId"].startswith("res-")
    race = _error(replies, "r-2")
    assert (race["code"], race["dimension"], race["used"], race["limit"]) == (
        "QUOTA_EXCEEDED",
        "cpuPercent",
        35.0,
        40.0,
    )
    assert "(25.0 of it reserved)" in race["message"]
    short = _value(replies, "r-3")
    assert _value(replies, "r-4")["reserved"] == {
        "cpuPercent": 25.0,
        "memoryMB": 2048,
        "pipelines": 1,
    }
    assert _value(replies, "r-5")["reservations"] == [reservation]
    assert [item["pipelineId"] for item in _value(replies, "s-3")["items"]] == ["refunds"]
    assert _value(replies, "p-1") is None
    info = _value(replies, "p-2")
    assert info["preemptionRequested"]["forPipelineId"] == "checkout"
    assert info["preemptionRequested"]["reason"] == "checkout needs the room"
    assert info["status"] == "running" and info["statusSince"] == info["lastHeartbeat"]
    assert info["stale"] is False and info["labels"] == {"team": "payments"}
    assert _error(replies, "p-3")["code"] == "PIPELINE_NOT_FOUND"
    reset = _value(replies, "l-2")
    assert (reset["limits"], reset["revision"]) == (None, 2)
    assert _value(replies, "l-3")["limits"]["source"] == "configuration"

    # The short reservation expires without anyone asking: the active worker appends a Tick.
    deadline = time.monotonic() + 30
    expired: list[dict[str, Any]] = []
    while not expired:
        assert time.monotonic() < deadline, "the short reservation did not expire in 30 s"
        expired = [
            event
            for event in _events(deployment)
            if event["type"] == "ReservationExpired"
            and event["reservationId"] == short["reservationId"]
        ]
        time.sleep(0.2)  # polling the journal for the expiry, with a deadline
    assert expired[0]["timestamp"] >= short["expiresAt"]
    ticks = [
        record
        for record in read_topic(deployment.settings, deployment.settings.topics.commands)
        if json.loads(record.value or b"").get("type") == "Tick"
    ]
    assert ticks, "no Tick on the commands topic"

    # The second batch names the reservation the first one made.
    second_lines = [
        _asked(
            reply_to,
            "r-6",
            type="RegisterPipeline",
            pipelineId="orders",
            name="Orders",
            reservationId=reservation["reservationId"],
        ),
        _asked(
            reply_to,
            "r-7",
            type="RegisterPipeline",
            pipelineId="late",
            name="Late",
            reservationId=short["reservationId"],
        ),
        _asked(reply_to, "r-8", type="ReserveResources", cpuPercent=2.0, memoryMB=2, ttlSeconds=60),
        _asked(reply_to, "r-9", type="GetGroup", groupId="payments"),
    ]
    _console_produce(deployment, second_lines)
    replies = _replies(deployment, len(replies) + len(second_lines))
    orders = _value(replies, "r-6")["pipeline"]
    assert (orders["group"], orders["requestedCpuPercent"], orders["requestedMemoryMB"]) == (
        "payments",
        25.0,
        2048,
    )
    assert _error(replies, "r-7")["code"] == "RESERVATION_NOT_FOUND"
    kept = _value(replies, "r-8")
    group = _value(replies, "r-9")
    assert group["usage"]["pipelines"] == 2 and group["reserved"]["pipelines"] == 0

    # A standby that takes over has the same reservations, and the journal folds to its table.
    first.kill()
    second.wait_serving(30)
    with deployment.client(timeout=30) as client:
        assert [json.loads(r.to_json()) for r in client.reservations()] == [kept]
        assert_worker_matches_journal(deployment.settings, client)
        client.release_reservation(kept["reservationId"])
        assert client.reservations() == []
    code, body = http(second, "/reservations")
    assert code == 200 and json.loads(body) == {"reservations": []}
    code, body = http(second, "/groups/payments")
    assert code == 200 and json.loads(body)["reserved"]["pipelines"] == 0


def test_a_reporter_hears_a_preemption_request(deployment: Deployment) -> None:
    worker = deployment.worker().start()
    worker.wait_serving()
    heard: list[PreemptionRequest] = []
    arrived = threading.Event()

    def give_way(request: PreemptionRequest) -> None:
        heard.append(request)
        arrived.set()

    with (
        deployment.client() as client,
        PipelineReporter(
            "batch-1",
            "Batch",
            client=client,
            status_interval=60,
            preemption_interval=0.2,
            resources=lambda: ResourceSample(cpu_percent=1.0, memory_mb=1),
            on_preemption=give_way,
        ),
    ):
        client.request_preemption(["batch-1"], "room for vip", for_pipeline_id="vip")
        assert arrived.wait(30), "on_preemption was not called within 30 s"
        info = client.pipeline_info("batch-1")

    assert info is not None and info.preemption_requested == heard[0]
    assert (heard[0].for_pipeline_id, heard[0].reason) == ("vip", "room for vip")
    assert len(heard) == 1
