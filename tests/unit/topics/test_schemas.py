"""The checked-in JSON Schemas match the models, and real messages validate against them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from coordinator.domain.commands import (
    COMMAND_TYPES,
    CheckResourceAvailability,
    Command,
    GetPipelineInfo,
    GetSystemStatus,
    ListPipelines,
    RegisterPipeline,
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Accepted, decide
from coordinator.domain.events import EVENT_TYPES
from coordinator.domain.model import PipelineStatus
from coordinator.domain.queries import list_page, system_status
from coordinator.domain.replies import ErrorCode, ErrorInfo, error_reply, ok_reply
from coordinator.domain.state import CoordinatorState, change_for, evolve
from topics import schemas
from topics.schemas import SCHEMA_DIRECTORY, drifted, generate, main

from ..domain.support import T0, context

REPOSITORY = Path(schemas.__file__).resolve().parents[1]


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMA_DIRECTORY / name).read_text(encoding="utf-8")))


def errors(name: str, document: Any) -> list[str]:
    return [error.message for error in validator(name).iter_errors(document)]


# The files and the generator


def test_the_checked_in_schemas_match_the_models() -> None:
    stale = drifted(generate())

    assert stale == [], (
        f"schema files differ from the models: {stale}; run `python -m topics.schemas`"
    )


def test_there_is_a_schema_for_every_command_event_and_reply_value() -> None:
    names = set(generate())

    assert {f"{model.__name__}.json" for model in (*COMMAND_TYPES, *EVENT_TYPES)} <= names
    assert {
        "Command.json",
        "Event.json",
        "Reply.json",
        "PipelineInfo.json",
        "SystemStatus.json",
        "StateSummary.json",
        "PipelinePage.json",
    } <= names


@pytest.mark.parametrize("name", sorted(generate()))
def test_every_schema_is_a_valid_draft_2020_12_schema_in_canonical_layout(name: str) -> None:
    text = generate()[name]
    schema = json.loads(text)

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert text == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_generation_is_deterministic() -> None:
    assert generate() == generate()


def test_check_lists_missing_changed_and_stale_files_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--directory", str(tmp_path)]) == 0
    (tmp_path / "Reply.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "Event.json").unlink()
    (tmp_path / "Retired.json").write_text("{}\n", encoding="utf-8")
    capsys.readouterr()

    assert main(["--check", "--directory", str(tmp_path)]) == 1

    report = capsys.readouterr().err
    assert "Reply.json" in report
    assert "Event.json" in report
    assert "Retired.json" in report
    assert "RegisterPipeline.json" not in report


def test_regenerating_repairs_the_directory(tmp_path: Path) -> None:
    (tmp_path / "Reply.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "Retired.json").write_text("{}\n", encoding="utf-8")

    assert main(["--directory", str(tmp_path)]) == 0

    assert main(["--check", "--directory", str(tmp_path)]) == 0
    assert not (tmp_path / "Retired.json").exists()
    assert {p.name for p in tmp_path.iterdir()} == set(generate())


def test_the_module_runs_as_a_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "topics.schemas", "--check"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr


# Commands as humans type them (docs/protocol.md)

HAND_TYPED = [
    (
        "RegisterPipeline.json",
        '{"type":"RegisterPipeline","pipelineId":"pipeline-123","name":"User Events Pipeline",'
        '"replyTo":"coordinator.replies","correlationId":"c-1"}',
    ),
    ("UnregisterPipeline.json", '{"type":"UnregisterPipeline","pipelineId":"pipeline-123"}'),
    (
        "UpdatePipelineStatus.json",
        '{"type":"UpdatePipelineStatus","pipelineId":"pipeline-123","status":"running",'
        '"totalRecords":1000000,"failedRecords":5}',
    ),
    (
        "ReportResourceUsage.json",
        '{"type":"ReportResourceUsage","pipelineId":"pipeline-123","cpuPercent":15.5,'
        '"memoryMB":2048,"commandId":"r-1"}',
    ),
    (
        "CheckResourceAvailability.json",
        '{"type":"CheckResourceAvailability","estimatedCpuPercent":10.0,'
        '"estimatedMemoryMB":4096,"replyTo":"coordinator.replies.ui-7f3a"}',
    ),
    ("GetSystemStatus.json", '{"type":"GetSystemStatus","replyTo":"coordinator.replies"}'),
    ("GetPipelineInfo.json", '{"type":"GetPipelineInfo","pipelineId":"pipeline-123"}'),
    ("ListPipelines.json", '{"type":"ListPipelines","status":"failed","limit":50}'),
    ("ListPipelines.json", '{"type":"ListPipelines","after":"pipeline-122"}'),
]


@pytest.mark.parametrize(("name", "line"), HAND_TYPED)
def test_hand_typed_commands_validate_against_their_schema_and_the_union(
    name: str, line: str
) -> None:
    document = json.loads(line)

    assert errors(name, document) == []
    assert errors("Command.json", document) == []


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"pipelineId":"p1","name":"One"}', "no type"),
        ('{"type":"RegisterPipeline","name":"One"}', "no pipelineId"),
        ('{"type":"RegisterPipeline","pipelineId":"p1","name":"One","x":1}', "unknown field"),
        ('{"type":"RegisterPipeline","pipelineId":"","name":"One"}', "empty id"),
        ('{"type":"RegisterPipeline","pipelineId":"p1","name":"' + "n" * 257 + '"}', "long name"),
        ('{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":"15","memoryMB":1}', "text"),
        ('{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":101,"memoryMB":1}', "cpu"),
        ('{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":1,"memoryMB":-1}', "memory"),
        (
            '{"type":"UpdatePipelineStatus","pipelineId":"p1","status":"running",'
            '"totalRecords":9223372036854775808,"failedRecords":0}',
            "above a Long",
        ),
        ('{"type":"ListPipelines","limit":0}', "limit"),
        ('{"type":"GetSystemStatus","commandId":"' + "c" * 129 + '"}', "long commandId"),
        ('{"type":"DeletePipeline","pipelineId":"p1"}', "unknown type"),
        (
            '{"type":"UpdatePipelineStatus","pipelineId":"p1","status":"exploded",'
            '"totalRecords":1,"failedRecords":0}',
            "unknown status",
        ),
    ],
)
def test_malformed_commands_do_not_validate_against_the_union(line: str, why: str) -> None:
    assert errors("Command.json", json.loads(line)), why


def test_every_command_the_models_write_validates() -> None:
    commands: list[Command] = [
        RegisterPipeline(pipeline_id="p1", name="One", command_id="c-1"),
        UnregisterPipeline(pipeline_id="p1"),
        UpdatePipelineStatus(
            pipeline_id="p1", status=PipelineStatus.PAUSED, total_records=3, failed_records=1
        ),
        ReportResourceUsage(pipeline_id="p1", cpu_percent=100, memory_mb=0),
        CheckResourceAvailability(estimated_cpu_percent=0, estimated_memory_mb=1),
        GetSystemStatus(correlation_id="k"),
        GetPipelineInfo(pipeline_id="p1"),
        ListPipelines(status=PipelineStatus.STOPPED, limit=1, after="a"),
    ]

    for command in commands:
        document = json.loads(command.to_json())
        assert errors(f"{command.type}.json", document) == []
        assert errors("Command.json", document) == []


# Events and replies as the coordinator writes them


def a_journal() -> tuple[CoordinatorState, list[Any]]:
    state = CoordinatorState.empty()
    journal = []
    for minute, command in enumerate(
        [
            RegisterPipeline(pipeline_id="p1", name="Pipeline 1", command_id="c-1"),
            RegisterPipeline(pipeline_id="p2", name="Pipeline 2"),
            UpdatePipelineStatus(
                pipeline_id="p1", status=PipelineStatus.RUNNING, total_records=9, failed_records=1
            ),
            ReportResourceUsage(pipeline_id="p1", cpu_percent=15.5, memory_mb=2048),
            UnregisterPipeline(pipeline_id="p2", command_id="c-5"),
        ]
    ):
        decision = decide(command, state, context(T0 + timedelta(minutes=minute)))
        assert isinstance(decision, Accepted)
        for event in decision.events:
            journal.append((event, change_for(state, event).reply))
            state = evolve(state, event)
    return state, journal


def test_real_encoded_events_validate_against_their_schema_and_the_union() -> None:
    _, journal = a_journal()

    for event, _ in journal:
        document = json.loads(event.to_json())
        assert errors(f"{event.type}.json", document) == []
        assert errors("Event.json", document) == []


def test_an_event_without_its_seq_does_not_validate() -> None:
    _, journal = a_journal()
    document = json.loads(journal[0][0].to_json())
    del document["seq"]

    assert errors("Event.json", document)


def test_real_replies_validate_against_the_reply_envelope() -> None:
    state, journal = a_journal()
    replies = [
        ok_reply("c-1", "c-1", "RegisterPipeline", journal[0][1]),
        ok_reply("c-5", "c-5", "UnregisterPipeline", journal[-1][1]),
        ok_reply("k", None, "GetSystemStatus", system_status(state)),
        ok_reply("k", None, "GetSystemStatus", system_status(state, max_bytes=10)),
        ok_reply("k", None, "ListPipelines", list_page(state, limit=1)),
        ok_reply("k", None, "GetPipelineInfo", state.pipeline("p1")),
        ok_reply("k", None, "GetPipelineInfo", None),
        ok_reply("k", None, "CheckResourceAvailability", False),
        error_reply(
            "k", None, "RegisterPipeline", ErrorInfo(code=ErrorCode.INVALID_ARGUMENT, message="x")
        ),
        error_reply(None, None, None, ErrorInfo(code=ErrorCode.INVALID_COMMAND, message="x")),
    ]

    for reply in replies:
        assert errors("Reply.json", json.loads(reply.to_json())) == []


@pytest.mark.parametrize(
    ("document", "why"),
    [
        ({"correlationId": "k", "commandId": None, "commandType": "X", "ok": True}, "no value"),
        (
            {"correlationId": "k", "commandId": None, "commandType": "X", "ok": False, "value": 1},
            "no error",
        ),
        (
            {
                "correlationId": "k",
                "commandId": None,
                "commandType": "X",
                "ok": True,
                "value": True,
                "error": {"code": "INVALID_COMMAND", "message": "x"},
            },
            "both",
        ),
        (
            {
                "correlationId": "k",
                "commandId": None,
                "commandType": "X",
                "ok": False,
                "error": {"code": "NOT_A_CODE", "message": "x"},
            },
            "unknown code",
        ),
    ],
)
def test_an_inconsistent_reply_does_not_validate(document: dict[str, Any], why: str) -> None:
    assert errors("Reply.json", document), why


def test_reply_values_validate_against_their_own_schemas() -> None:
    state, journal = a_journal()
    info = state.pipeline("p1")
    assert info is not None

    assert errors("PipelineInfo.json", json.loads(info.to_json())) == []
    assert errors("SystemStatus.json", json.loads(system_status(state).to_json())) == []
    assert errors("StateSummary.json", json.loads(journal[0][1].to_json())) == []
    assert errors("PipelinePage.json", json.loads(list_page(state).to_json())) == []


def test_timestamps_are_described_as_date_times() -> None:
    schema = json.loads(generate()["PipelineInfo.json"])

    assert schema["properties"]["registeredAt"] == {"type": "string", "format": "date-time"}
