"""The codec: bytes from producers to typed commands (or a ``DecodeError``), models to bytes."""

from __future__ import annotations

import json

import pytest

from coordinator.domain.codec import (
    KNOWN_COMMAND_TYPES,
    DecodeError,
    decode_command,
    decode_event,
    encode,
)
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
from coordinator.domain.decider import Answered
from coordinator.domain.events import PipelineStatusUpdated
from coordinator.domain.model import PipelineStatus
from coordinator.domain.replies import ErrorCode

from .support import T0, assert_refused, registered, when


def decoded(line: str | bytes) -> object:
    return decode_command(line.encode() if isinstance(line, str) else line)


def refused(line: str | bytes, code: ErrorCode = ErrorCode.INVALID_COMMAND) -> DecodeError:
    result = decoded(line)
    assert isinstance(result, DecodeError), f"expected a DecodeError, got {result!r}"
    assert result.error.code is code, result.error
    return result


# Commands typed by hand, as in docs/protocol.md


def test_the_spec_example_decodes_to_a_register_pipeline() -> None:
    line = (
        '{"type":"RegisterPipeline","pipelineId":"pipeline-123","name":"User Events Pipeline",'
        '"replyTo":"coordinator.replies","correlationId":"c-1"}'
    )

    assert decoded(line) == RegisterPipeline(
        pipeline_id="pipeline-123",
        name="User Events Pipeline",
        reply_to="coordinator.replies",
        correlation_id="c-1",
    )


@pytest.mark.parametrize(
    ("line", "command"),
    [
        (
            '{"type":"UnregisterPipeline","pipelineId":"p1","commandId":"u-1"}',
            UnregisterPipeline(pipeline_id="p1", command_id="u-1"),
        ),
        (
            '{"type":"UpdatePipelineStatus","pipelineId":"p1","status":"running",'
            '"totalRecords":1000000,"failedRecords":5}',
            UpdatePipelineStatus(
                pipeline_id="p1",
                status=PipelineStatus.RUNNING,
                total_records=1_000_000,
                failed_records=5,
            ),
        ),
        (
            '{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":15.5,"memoryMB":2048}',
            ReportResourceUsage(pipeline_id="p1", cpu_percent=15.5, memory_mb=2048),
        ),
        (
            '{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":15,"memoryMB":0}',
            ReportResourceUsage(pipeline_id="p1", cpu_percent=15.0, memory_mb=0),
        ),
        (
            '{"type":"CheckResourceAvailability","estimatedCpuPercent":10.0,'
            '"estimatedMemoryMB":4096}',
            CheckResourceAvailability(estimated_cpu_percent=10.0, estimated_memory_mb=4096),
        ),
        ('{"type":"GetSystemStatus"}', GetSystemStatus()),
        ('{"type":"GetPipelineInfo","pipelineId":"p1"}', GetPipelineInfo(pipeline_id="p1")),
        ('{"type":"ListPipelines"}', ListPipelines()),
        (
            '{"type":"ListPipelines","status":"failed","limit":50,"after":"p-0049"}',
            ListPipelines(status=PipelineStatus.FAILED, limit=50, after="p-0049"),
        ),
        (
            '{"type":"ListPipelines","status":null,"limit":null,"after":null}',
            ListPipelines(),
        ),
    ],
)
def test_every_command_type_can_be_typed_on_one_line(line: str, command: object) -> None:
    assert decoded(line) == command


@pytest.mark.parametrize("type_name", ["registerpipeline", "REGISTERPIPELINE", "registerPipeline"])
def test_the_command_type_is_accepted_in_any_case(type_name: str) -> None:
    command = decoded(f'{{"type":"{type_name}","pipelineId":"p1","name":"One"}}')

    assert isinstance(command, RegisterPipeline)
    assert command.type == "RegisterPipeline"


@pytest.mark.parametrize("spelling", ["RUNNING", "Running", "running", "rUnNiNg"])
def test_enum_values_are_accepted_in_any_case(spelling: str) -> None:
    update = decoded(
        '{"type":"UpdatePipelineStatus","pipelineId":"p1",'
        f'"status":"{spelling}","totalRecords":1,"failedRecords":0}}'
    )
    listing = decoded(f'{{"type":"ListPipelines","status":"{spelling}"}}')

    assert isinstance(update, UpdatePipelineStatus)
    assert update.status is PipelineStatus.RUNNING
    assert isinstance(listing, ListPipelines)
    assert listing.status is PipelineStatus.RUNNING


def test_enum_values_are_written_lower_case() -> None:
    command = decoded(
        '{"type":"updatepipelinestatus","pipelineId":"p1","status":"FAILED",'
        '"totalRecords":2,"failedRecords":2}'
    )
    assert isinstance(command, UpdatePipelineStatus)

    document = json.loads(encode(command))

    assert document["status"] == "failed"
    assert document["type"] == "UpdatePipelineStatus"


def test_the_correlation_id_defaults_to_the_command_id() -> None:
    command = decoded('{"type":"GetSystemStatus","commandId":"c-7"}')

    assert isinstance(command, GetSystemStatus)
    assert command.correlation_id is None
    assert command.effective_correlation_id == "c-7"


# Not a command at all


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"hello",
        b"{",
        b'{"type":"GetSystemStatus"',
        b"\xff\xfe\x00",
        b'{"type":"GetSystemStatus","commandId":"\xc3\x28"}',
        b'{"type":"GetPipelineInfo","pipelineId":"\\ud800"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"type":"GetSystemStatus","x":' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
    ids=[
        "empty",
        "blank",
        "garbage",
        "truncated",
        "unclosed",
        "binary",
        "invalid-utf8",
        "lone-surrogate",
        "deeply-nested",
        "deeply-nested-field",
    ],
)
def test_bytes_that_are_not_json_are_an_invalid_command(raw: bytes) -> None:
    error = refused(raw)

    assert error.command_type is None
    assert error.reply_to is None


def test_an_empty_message_is_an_invalid_command() -> None:
    assert decode_command(None) == refused(b"")


@pytest.mark.parametrize("line", ["[]", '"RegisterPipeline"', "1", "null", "true", "[{}]"])
def test_json_that_is_not_an_object_is_an_invalid_command(line: str) -> None:
    error = refused(line)

    assert "JSON object" in error.error.message


@pytest.mark.parametrize("line", ["{}", '{"pipelineId":"p1"}', '{"type":null}', '{"type":7}'])
def test_a_missing_or_non_text_type_is_an_invalid_command(line: str) -> None:
    error = refused(line)

    assert "type" in error.error.message


@pytest.mark.parametrize("type_name", ["DeletePipeline", "", "Register Pipeline", "x" * 10_000])
def test_an_unknown_type_is_an_unknown_command_type(type_name: str) -> None:
    error = refused(
        f'{{"type":"{type_name}","replyTo":"coordinator.replies","commandId":"c-1"}}',
        ErrorCode.UNKNOWN_COMMAND_TYPE,
    )

    assert error.command_type == type_name[:100]
    assert "RegisterPipeline" in error.error.message
    # The type is echoed cut to 100 characters, then the known types are listed.
    assert len(error.error.message) < 200 + len(", ".join(KNOWN_COMMAND_TYPES))
    assert (error.reply_to, error.command_id, error.correlation_id) == (
        "coordinator.replies",
        "c-1",
        "c-1",
    )


# A command of a known type but the wrong shape


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"type":"RegisterPipeline","name":"One"}', "pipelineId"),
        ('{"type":"RegisterPipeline","pipelineId":"p1"}', "name"),
        ('{"type":"UnregisterPipeline"}', "pipelineId"),
        (
            '{"type":"UpdatePipelineStatus","pipelineId":"p1","totalRecords":1,"failedRecords":0}',
            "status",
        ),
        (
            '{"type":"UpdatePipelineStatus","pipelineId":"p1","status":"running","failedRecords":0}',
            "totalRecords",
        ),
        ('{"type":"ReportResourceUsage","pipelineId":"p1","memoryMB":1}', "cpuPercent"),
        ('{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":1}', "memoryMB"),
        ('{"type":"CheckResourceAvailability","estimatedMemoryMB":1}', "estimatedCpuPercent"),
        ('{"type":"CheckResourceAvailability","estimatedCpuPercent":1}', "estimatedMemoryMB"),
        ('{"type":"GetPipelineInfo"}', "pipelineId"),
    ],
)
def test_a_missing_field_is_an_invalid_command_that_names_it(line: str, field: str) -> None:
    error = refused(line)

    assert field in error.error.message
    assert "required" in error.error.message


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (
            '{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":"15","memoryMB":1}',
            "cpuPercent",
        ),
        (
            '{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":true,"memoryMB":1}',
            "cpuPercent",
        ),
        (
            '{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":1,"memoryMB":1024.5}',
            "memoryMB",
        ),
        (
            '{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":1,"memoryMB":"1024"}',
            "memoryMB",
        ),
        ('{"type":"RegisterPipeline","pipelineId":123,"name":"One"}', "pipelineId"),
        ('{"type":"RegisterPipeline","pipelineId":"p1","name":["One"]}', "name"),
        (
            '{"type":"UpdatePipelineStatus","pipelineId":"p1","status":"exploded",'
            '"totalRecords":1,"failedRecords":0}',
            "status",
        ),
        (
            '{"type":"UpdatePipelineStatus","pipelineId":"p1","status":"running",'
            '"totalRecords":false,"failedRecords":0}',
            "totalRecords",
        ),
        ('{"type":"ListPipelines","limit":"10"}', "limit"),
        ('{"type":"GetSystemStatus","commandId":42}', "commandId"),
        ('{"type":"GetSystemStatus","replyTo":{"topic":"x"}}', "replyTo"),
    ],
)
def test_a_field_of_the_wrong_type_is_an_invalid_command_that_names_it(
    line: str, field: str
) -> None:
    error = refused(line)

    assert error.error.message.startswith(f"{field}:"), error.error.message


def test_an_unknown_field_is_an_invalid_command_that_names_it() -> None:
    error = refused('{"type":"GetSystemStatus","verbose":true}')

    assert "verbose" in error.error.message


def test_a_decode_error_keeps_the_readable_envelope() -> None:
    error = refused(
        '{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":"lots","memoryMB":1,'
        '"replyTo":"coordinator.replies.ui","commandId":"c-1","correlationId":"k-1"}'
    )

    assert error.command_type == "ReportResourceUsage"
    assert error.reply_to == "coordinator.replies.ui"
    assert error.command_id == "c-1"
    assert error.correlation_id == "k-1"


def test_a_decode_error_defaults_the_correlation_id_to_the_command_id() -> None:
    error = refused('{"type":"registerpipeline","commandId":"c-2"}')

    assert error.correlation_id == "c-2"
    assert error.command_type == "RegisterPipeline"


def test_an_unreadable_envelope_field_is_left_out_of_the_decode_error() -> None:
    error = refused('{"type":"GetSystemStatus","commandId":42,"replyTo":"coordinator.replies"}')

    assert error.command_id is None
    assert error.correlation_id is None
    assert error.reply_to == "coordinator.replies"


# Well-formed but out of range: decoded, then refused by ``decide``


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (
            '{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":NaN,"memoryMB":1}',
            "cpuPercent",
        ),
        (
            '{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":Infinity,"memoryMB":1}',
            "cpuPercent",
        ),
        (
            '{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":1e999,"memoryMB":1}',
            "cpuPercent",
        ),
        (
            '{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":1,'
            '"memoryMB":9223372036854775808}',
            "memoryMB",
        ),
        (
            '{"type":"UpdatePipelineStatus","pipelineId":"p1","status":"running",'
            '"totalRecords":99999999999999999999999999,"failedRecords":0}',
            "totalRecords",
        ),
        (
            '{"type":"CheckResourceAvailability","estimatedCpuPercent":-Infinity,'
            '"estimatedMemoryMB":1}',
            "estimatedCpuPercent",
        ),
    ],
)
def test_out_of_range_numbers_decode_and_are_then_refused_as_invalid_arguments(
    line: str, field: str
) -> None:
    command = decoded(line)
    assert not isinstance(command, DecodeError), command

    outcome = when(command, registered("p1"))  # type: ignore[arg-type]  # narrowed above

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert field in refusal.error.message


def test_a_long_message_is_cut_down_in_the_unknown_type_error() -> None:
    error = refused('{"type":"' + "é" * 1000 + '"}', ErrorCode.UNKNOWN_COMMAND_TYPE)

    assert error.command_type == "é" * 100


# Events and models out


def test_events_are_written_in_camel_case_and_read_back() -> None:
    event = PipelineStatusUpdated(
        seq=9,
        command_id="s-1",
        pipeline_id="p1",
        status=PipelineStatus.PAUSED,
        total_records=10,
        failed_records=1,
        timestamp=T0,
    )

    raw = encode(event)

    assert json.loads(raw) == {
        "type": "PipelineStatusUpdated",
        "seq": 9,
        "commandId": "s-1",
        "pipelineId": "p1",
        "timestamp": "2026-11-27T03:52:48.480Z",
        "status": "paused",
        "totalRecords": 10,
        "failedRecords": 1,
    }
    assert decode_event(raw) == event


def test_a_decoded_command_is_answered_like_a_constructed_one() -> None:
    command = decoded('{"type":"GETPIPELINEINFO","pipelineId":"p1"}')
    state = registered("p1")

    outcome = when(command, state)  # type: ignore[arg-type]  # a decoded command

    assert outcome.decision == Answered(state.pipeline("p1"))
