"""What the clients send and how they read replies (``coordinator.client.calls``): no Kafka."""

from __future__ import annotations

import json

import pytest

from coordinator.client import ClientError, CommandRefusedError, ReplyTimeoutError, calls, requests
from coordinator.config import Settings
from coordinator.domain.model import LimitsOverride, PipelineStatus
from coordinator.domain.replies import (
    ErrorCode,
    ErrorInfo,
    PipelinePage,
    Reply,
    RuntimeLimits,
    error_reply,
    ok_reply,
)


def test_a_request_gets_a_command_id_that_doubles_as_correlation_id() -> None:
    request = requests.prepare(calls.system_status().command, "coordinator.replies.cli")

    sent = json.loads(request.payload)
    assert sent == {
        "type": "GetSystemStatus",
        "commandId": request.command_id,
        "correlationId": request.command_id,
        "replyTo": "coordinator.replies.cli",
    }
    assert len(request.command_id) == 32 and request.correlation_id == request.command_id


def test_given_ids_are_kept_and_a_retry_sends_the_same_bytes() -> None:
    command = calls.register("p1", "Pipeline 1", command_id="c-1").command

    request = requests.prepare(command, "coordinator.replies.x")

    assert json.loads(request.payload) == {
        "type": "RegisterPipeline",
        "pipelineId": "p1",
        "name": "Pipeline 1",
        "commandId": "c-1",
        "correlationId": "c-1",
        "replyTo": "coordinator.replies.x",
    }
    assert requests.prepare(command, "coordinator.replies.x").payload == request.payload


def test_a_raw_command_keeps_its_own_correlation_id_and_gets_our_reply_topic() -> None:
    raw = {"type": "GetPipelineInfo", "pipelineId": "p1", "correlationId": "mine"}

    request = requests.prepare(raw, "coordinator.replies.cli")

    assert request.correlation_id == "mine" and request.command_type == "GetPipelineInfo"
    assert json.loads(request.payload)["replyTo"] == "coordinator.replies.cli"
    assert "replyTo" not in raw  # the caller's mapping is not changed


def test_fire_and_forget_without_reply_topic_is_the_hand_typed_form() -> None:
    command = calls.update_status("pipeline-123", "RUNNING", 1_000_000, 5).command

    sent = json.loads(requests.prepare(command, None).payload)

    assert sent == {
        "type": "UpdatePipelineStatus",
        "pipelineId": "pipeline-123",
        "status": "running",
        "totalRecords": 1000000,
        "failedRecords": 5,
    }
    resources = calls.report_resources("pipeline-123", 15.5, 2048).command
    assert json.loads(requests.prepare(resources, None).payload)["memoryMB"] == 2048


@pytest.mark.parametrize(
    ("kind", "answered"),
    [
        ("UpdatePipelineStatus", False),
        ("reportresourceusage", False),
        ("RegisterPipeline", True),
        ("LaunchRocket", True),
    ],
)
def test_only_status_updates_and_resource_reports_go_unanswered(kind: str, answered: bool) -> None:
    assert requests.expects_reply({"type": kind}) is answered


def test_statuses_are_read_in_any_case_and_unknown_ones_are_named() -> None:
    assert calls.status_of("Paused") is PipelineStatus.PAUSED
    assert calls.status_of(PipelineStatus.FAILED) is PipelineStatus.FAILED
    with pytest.raises(ValueError, match="configured, running, paused, stopped, failed"):
        calls.status_of("sleeping")


def test_an_accepted_reply_is_read_as_the_calls_model() -> None:
    page = PipelinePage(items=[], next=None)

    value = requests.value_of(calls.list_page(), ok_reply("c", "c", "ListPipelines", page))

    assert value == page
    assert requests.value_of(calls.pipeline_info("p1"), ok_reply("c", "c", "x", None)) is None
    assert requests.value_of(calls.check_resources(1.0, 1), ok_reply("c", "c", "x", False)) is False


def test_a_refusal_raises_with_the_spec_code() -> None:
    error = ErrorInfo(code=ErrorCode.PIPELINE_NOT_FOUND, message="pipeline 'p1' is not registered")
    reply = error_reply("c", "c", "UnregisterPipeline", error)

    with pytest.raises(CommandRefusedError) as refused:
        requests.value_of(calls.unregister("p1"), reply)

    assert refused.value.code is ErrorCode.PIPELINE_NOT_FOUND
    assert str(refused.value) == "PIPELINE_NOT_FOUND: pipeline 'p1' is not registered"
    with pytest.raises(CommandRefusedError):
        requests.raise_if_refused(reply)
    requests.raise_if_refused(None)  # no reply by the barrier: accepted


def test_a_reply_of_the_wrong_shape_is_a_client_error() -> None:
    with pytest.raises(ClientError, match="wanted SystemStatus, got bool"):
        requests.value_of(calls.system_status(), ok_reply("c", "c", "GetSystemStatus", True))


def test_the_timeout_error_says_how_long_and_what_to_check() -> None:
    request = requests.prepare(calls.system_status().command, "coordinator.replies.x")
    settings = Settings(broker="kafka:9092", topic_prefix="prod")

    error = requests.timeout_error(request, settings, 2.5, 3)

    assert isinstance(error, ReplyTimeoutError)
    message = str(error)
    assert "no reply to GetSystemStatus within 7.5 s (3 attempts" in message
    assert "kafka:9092 with topic prefix 'prod'" in message
    assert "`coordinator worker`" in message


def test_a_reply_from_the_wire_reads_back() -> None:
    wire = (
        b'{"correlationId":"c-1","commandId":"c-1",'
        b'"commandType":"CheckResourceAvailability","ok":true,"value":true}'
    )

    reply = Reply.model_validate_json(wire)

    assert requests.value_of(calls.check_resources(1.0, 1), reply) is True


def test_setting_limits_sends_only_what_is_given_and_reads_the_runtime_limits() -> None:
    call = calls.set_limits(max_cpu_percent=50.0, expected_revision=2, reason="night shift")
    sent = json.loads(requests.prepare(call.command, "coordinator.replies.cli").payload)
    answer = RuntimeLimits(seq=9, limits=LimitsOverride(max_cpu_percent=50.0), revision=3)

    value = requests.value_of(call, ok_reply("c", "c", "SetResourceLimits", answer))

    assert {key: sent[key] for key in ("type", "maxCpuPercent", "expectedRevision", "reason")} == {
        "type": "SetResourceLimits",
        "maxCpuPercent": 50.0,
        "expectedRevision": 2,
        "reason": "night shift",
    }
    assert sent.get("maxMemoryMB") is None
    assert value == answer
    reset = json.loads(
        requests.prepare(calls.reset_limits(expected_revision=3).command, None).payload
    )
    assert reset["type"] == "ResetResourceLimits"


def test_a_revision_conflict_raises_with_its_code() -> None:
    error = ErrorInfo(code=ErrorCode.REVISION_CONFLICT, message="expectedRevision 1 is not ...")
    reply = error_reply("c", "c", "ResetResourceLimits", error)

    with pytest.raises(CommandRefusedError) as refused:
        requests.value_of(calls.reset_limits(expected_revision=1), reply)

    assert refused.value.code is ErrorCode.REVISION_CONFLICT
