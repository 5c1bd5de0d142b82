"""Every wire model survives ``to_json()`` and back, in camelCase with lower-case enum values."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

from coordinator.domain.codec import decode_command, decode_event
from coordinator.domain.commands import (
    CheckResourceAvailability,
    GetPipelineInfo,
    GetSystemStatus,
    ListPipelines,
    RegisterPipeline,
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Accepted
from coordinator.domain.events import (
    PipelineRegistered,
    PipelineStatusUpdated,
    PipelineUnregistered,
    ResourceUsageReported,
)
from coordinator.domain.model import (
    MAX_LONG,
    PipelineInfo,
    PipelineStatus,
    ResourceLimits,
    Summary,
    SystemHealth,
)
from coordinator.domain.queries import list_page, system_status
from coordinator.domain.replies import (
    ErrorCode,
    ErrorInfo,
    PipelinePage,
    Reply,
    StateSummary,
    error_reply,
    ok_reply,
)
from coordinator.domain.state import CoordinatorState, change_for
from coordinator.domain.view import AppliedCommand
from coordinator.domain.wire import WireModel

from .support import T0, given, register, when

ENVELOPE = {"command_id": "c-1", "reply_to": "coordinator.replies.ui", "correlation_id": "k-1"}

COMMANDS = [
    RegisterPipeline(pipeline_id="p1", name="User Events Pipeline", **ENVELOPE),
    UnregisterPipeline(pipeline_id="p1", **ENVELOPE),
    UpdatePipelineStatus(
        pipeline_id="p1",
        status=PipelineStatus.STOPPED,
        total_records=MAX_LONG,
        failed_records=3,
        **ENVELOPE,
    ),
    ReportResourceUsage(pipeline_id="p1", cpu_percent=15.5, memory_mb=2048, **ENVELOPE),
    CheckResourceAvailability(estimated_cpu_percent=10.0, estimated_memory_mb=4096, **ENVELOPE),
    GetSystemStatus(**ENVELOPE),
    GetPipelineInfo(pipeline_id="p1", **ENVELOPE),
    ListPipelines(status=PipelineStatus.PAUSED, limit=10, after="p0", **ENVELOPE),
    ListPipelines(),
    GetSystemStatus(),
]

EVENTS = [
    PipelineRegistered(seq=1, command_id="c-1", pipeline_id="p1", name="One", timestamp=T0),
    PipelineUnregistered(seq=2, command_id=None, pipeline_id="p1", timestamp=T0),
    PipelineStatusUpdated(
        seq=3,
        command_id="c-3",
        pipeline_id="p1",
        status=PipelineStatus.FAILED,
        total_records=10,
        failed_records=10,
        timestamp=T0,
    ),
    ResourceUsageReported(
        seq=4, command_id="c-4", pipeline_id="p1", cpu_percent=0.1, memory_mb=0, timestamp=T0
    ),
]


def a_lived_in_state() -> CoordinatorState:
    later = T0 + timedelta(seconds=1)
    state = given(
        register("p1", command_id="c-1"),
        register("p2", command_id="c-2"),
        ReportResourceUsage(pipeline_id="p1", cpu_percent=0.1, memory_mb=5, command_id="c-3"),
        ReportResourceUsage(pipeline_id="p2", cpu_percent=0.2, memory_mb=7),
    )
    return given(
        UpdatePipelineStatus(
            pipeline_id="p2", status=PipelineStatus.FAILED, total_records=4, failed_records=4
        ),
        UnregisterPipeline(pipeline_id="p1", command_id="c-5"),
        state=state,
        now=later,
    )


STATE = a_lived_in_state()
INFO = STATE.pipelines["p2"]
SUMMARY_REPLY = change_for(
    STATE, PipelineRegistered(seq=7, command_id=None, pipeline_id="p3", name="3", timestamp=T0)
).reply
assert isinstance(SUMMARY_REPLY, StateSummary)
STATUS = system_status(STATE, stale_after=timedelta(seconds=30))
OMITTED = system_status(STATE, max_bytes=10)
PAGE = list_page(STATE, limit=1)

REPLIES = [
    ok_reply("k-1", "c-1", "RegisterPipeline", SUMMARY_REPLY),
    ok_reply("k-2", None, "GetSystemStatus", STATUS),
    ok_reply("k-3", None, "GetSystemStatus", OMITTED),
    ok_reply("k-4", None, "ListPipelines", PAGE),
    ok_reply("k-5", None, "GetPipelineInfo", INFO),
    ok_reply("k-6", None, "GetPipelineInfo", None),
    ok_reply("k-7", None, "CheckResourceAvailability", True),
    ok_reply("k-8", None, "CheckResourceAvailability", False),
    error_reply(
        "k-9",
        "c-9",
        "RegisterPipeline",
        ErrorInfo(code=ErrorCode.PIPELINE_ALREADY_REGISTERED, message="pipeline 'p1' is taken"),
    ),
    error_reply(None, None, None, ErrorInfo(code=ErrorCode.INVALID_COMMAND, message="garbage")),
]

OTHER_MODELS = [
    INFO,
    STATUS,
    OMITTED,
    SUMMARY_REPLY,
    PAGE,
    PipelinePage(items=[], next=None),
    STATE.get_system_health(),
    CoordinatorState.empty().get_system_health(),
    ResourceLimits(),
    ResourceLimits(max_cpu_percent=95.5, max_memory_mb=123_456),
    STATE.summary,
    Summary(),
    *STATE.applied_commands.values(),
    STATE,
    CoordinatorState.empty(),
    ErrorInfo(code=ErrorCode.FORBIDDEN_REPLY_TOPIC, message="no"),
]

EVERY_MODEL = [*COMMANDS, *EVENTS, *REPLIES, *OTHER_MODELS]


def keys_of(document: Any, maps: frozenset[str] = frozenset()) -> set[str]:
    """Every object key in a JSON document, except the keys of maps by id."""
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            found.add(key)
            if key in {"pipelines", "appliedCommands", "ring"} and isinstance(value, dict):
                for inner in value.values():
                    found |= keys_of(inner)
            else:
                found |= keys_of(value)
    elif isinstance(document, list):
        for item in document:
            found |= keys_of(item)
    return found


@pytest.mark.parametrize("model", EVERY_MODEL, ids=lambda m: type(m).__name__)
def test_every_model_survives_a_json_round_trip(model: WireModel) -> None:
    raw = model.to_json()

    assert type(model).model_validate_json(raw) == model


@pytest.mark.parametrize("command", COMMANDS, ids=lambda m: type(m).__name__)
def test_every_command_survives_the_codec(command: WireModel) -> None:
    assert decode_command(command.to_json()) == command


@pytest.mark.parametrize("event", EVENTS, ids=lambda m: type(m).__name__)
def test_every_event_survives_the_codec(event: WireModel) -> None:
    assert decode_event(event.to_json()) == event


@pytest.mark.parametrize("model", EVERY_MODEL, ids=lambda m: type(m).__name__)
def test_every_model_is_camel_case_on_the_wire(model: WireModel) -> None:
    keys = keys_of(json.loads(model.to_json()))

    assert not [key for key in keys if "_" in key]


def test_the_names_the_design_document_spells_in_capitals_keep_them() -> None:
    assert "memoryMB" in json.loads(INFO.to_json())
    assert "totalMemoryMB" in json.loads(STATUS.to_json())
    assert "totalMemoryMB" in json.loads(STATUS.health.to_json())
    assert "totalMemoryMB" in json.loads(SUMMARY_REPLY.to_json())
    assert "estimatedMemoryMB" in json.loads(COMMANDS[4].to_json())
    assert "maxMemoryMB" in json.loads(ResourceLimits().to_json())
    assert "pipelineId" in json.loads(EVENTS[0].to_json())


def test_pipeline_info_on_the_wire() -> None:
    assert json.loads(INFO.to_json()) == {
        "pipelineId": "p2",
        "name": "Pipeline p2",
        "status": "failed",
        "totalRecords": 4,
        "failedRecords": 4,
        "cpuPercent": 0.2,
        "memoryMB": 7,
        "registeredAt": "2026-11-27T03:52:48.480Z",
        "lastHeartbeat": "2026-11-27T03:52:49.480Z",
        "group": "default",
        "requestedCpuPercent": None,
        "requestedMemoryMB": None,
        "priority": 0,
        "preemptible": True,
        "labels": {},
        "statusSince": "2026-11-27T03:52:49.480Z",
        "stale": False,
        "preemptionRequested": None,
    }


def test_enum_values_are_lower_case_on_the_wire() -> None:
    status = json.loads(STATUS.to_json())

    assert status["health"]["status"] == "critical"
    assert set(status["countByStatus"]) == {"configured", "running", "paused", "stopped", "failed"}
    assert status["pipelines"]["p2"]["status"] == "failed"


def test_an_accepted_reply_has_a_value_and_no_error() -> None:
    document = json.loads(REPLIES[6].to_json())

    assert document == {
        "correlationId": "k-7",
        "commandId": None,
        "commandType": "CheckResourceAvailability",
        "ok": True,
        "value": True,
    }


def test_a_null_value_is_written_as_null() -> None:
    assert json.loads(REPLIES[5].to_json())["value"] is None


def test_a_refused_reply_has_an_error_and_no_value() -> None:
    document = json.loads(REPLIES[8].to_json())

    assert document == {
        "correlationId": "k-9",
        "commandId": "c-9",
        "commandType": "RegisterPipeline",
        "ok": False,
        "error": {"code": "PIPELINE_ALREADY_REGISTERED", "message": "pipeline 'p1' is taken"},
    }


def test_the_state_round_trip_keeps_the_exact_totals() -> None:
    again = CoordinatorState.model_validate_json(STATE.to_json())

    assert again.summary.cpu_total == STATE.summary.cpu_total
    assert again.summary.total_cpu_percent == 0.2


def test_an_applied_command_remembers_the_reply_it_gave() -> None:
    remembered = AppliedCommand.model_validate_json(STATE.applied_commands["c-5"].to_json())

    assert isinstance(remembered.value, StateSummary)
    assert remembered.value.total_pipelines == 1


def test_hand_typed_mixed_case_enums_parse_in_every_model_that_carries_them() -> None:
    info = PipelineInfo.model_validate_json(INFO.to_json().replace(b'"failed"', b'"FAILED"'))
    health = SystemHealth.model_validate_json(
        STATUS.health.to_json().replace(b'"critical"', b'"Critical"')
    )
    event = decode_event(EVENTS[2].to_json().replace(b'"failed"', b'"Failed"'))

    assert info == INFO
    assert health == STATUS.health
    assert event == EVENTS[2]


def test_the_json_of_an_accepted_command_s_events_decodes_to_the_same_events() -> None:
    outcome = when(register("p9", command_id="c-9"), STATE)
    assert isinstance(outcome.decision, Accepted)

    assert [decode_event(e.to_json()) for e in outcome.decision.events] == list(
        outcome.decision.events
    )


texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
counts = st.integers(min_value=0, max_value=MAX_LONG)
moments = st.datetimes(
    min_value=T0.replace(tzinfo=None) - timedelta(days=3650),
    max_value=T0.replace(tzinfo=None) + timedelta(days=3650),
    timezones=st.just(T0.tzinfo),
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))

infos = st.fixed_dictionaries(
    {
        "pipeline_id": texts,
        "name": texts,
        "status": st.sampled_from(PipelineStatus),
        "total_records": counts,
        "failed_records": counts,
        "cpu_percent": st.floats(allow_nan=False, allow_infinity=False),
        "memory_mb": counts,
        "registered_at": moments,
        "last_heartbeat": moments,
    }
).map(lambda fields: PipelineInfo(**fields))


@settings(max_examples=60, deadline=None)
@for_all(info=infos)
def test_any_pipeline_info_survives_a_round_trip(info: PipelineInfo) -> None:
    assert PipelineInfo.model_validate_json(info.to_json()) == info
    assert ok_reply(None, None, "GetPipelineInfo", info) == Reply.model_validate_json(
        ok_reply(None, None, "GetPipelineInfo", info).to_json()
    )
