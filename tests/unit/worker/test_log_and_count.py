"""Every command type that can be accepted is logged and counted when it is."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Literal

import pytest

from coordinator.domain.commands import (
    COMMAND_TYPES,
    CommandModel,
    Declaration,
    RegisterPipeline,
    ReportResourceUsage,
    ResetResourceLimits,
    SetPipelineLabels,
    SetResourceLimits,
    SuccessReply,
    UnregisterPipeline,
    UpdatePipelineStatus,
    type_name,
)
from coordinator.domain.decider import Accepted, decide
from coordinator.domain.group_commands import (
    CreateGroup,
    DeleteGroup,
    MovePipeline,
    SetGroupQuota,
    SetGroupState,
)
from coordinator.domain.model import GroupState, PipelineStatus, Summary
from coordinator.domain.reservation_commands import (
    ReleaseReservation,
    RequestPreemption,
    ReserveResources,
    Tick,
)
from coordinator.worker.metrics import Metrics
from coordinator.worker.observe import log_and_count_batch
from coordinator.worker.processing import Outcome
from tests.unit.domain.support import T0, context, given

EXAMPLES: dict[type[CommandModel], CommandModel] = {
    RegisterPipeline: RegisterPipeline(pipeline_id="p2", name="Second"),
    UnregisterPipeline: UnregisterPipeline(pipeline_id="p1"),
    UpdatePipelineStatus: UpdatePipelineStatus(
        pipeline_id="p1", status=PipelineStatus.RUNNING, total_records=5, failed_records=0
    ),
    ReportResourceUsage: ReportResourceUsage(pipeline_id="p1", cpu_percent=5.0, memory_mb=64),
    SetResourceLimits: SetResourceLimits(max_cpu_percent=50.0, reason="night shift"),
    ResetResourceLimits: ResetResourceLimits(),
    CreateGroup: CreateGroup(group_id="team-a", labels={"team": "payments"}),
    SetGroupQuota: SetGroupQuota(group_id="empty", max_pipelines=3),
    SetGroupState: SetGroupState(group_id="empty", state=GroupState.CLOSED),
    DeleteGroup: DeleteGroup(group_id="empty"),
    MovePipeline: MovePipeline(pipeline_id="p1", group_id="empty"),
    SetPipelineLabels: SetPipelineLabels(pipeline_id="p1", labels={"tier": "gold", "team": "a"}),
    ReserveResources: ReserveResources(
        group="empty", cpu_percent=5.0, memory_mb=64, ttl_seconds=30
    ),
    ReleaseReservation: ReleaseReservation(reservation_id="res-3"),
    Tick: Tick(),
    RequestPreemption: RequestPreemption(pipeline_ids=["p1"], for_pipeline_id="p9", reason="room"),
}
"""One command of each state-changing type that a registry holding p1, the empty group ``empty``
and ``res-3`` (a reservation in the default group, due at T0 + 1 s) accepts at T0 + 2 s."""

LOGGED = {
    "RegisterPipeline": "msg=Register pipeline pipelineId=p2 name=Second",
    "UnregisterPipeline": "msg=Unregister pipeline pipelineId=p1",
    "UpdatePipelineStatus": "msg=Update pipeline status pipelineId=p1 status=running records=5",
    "ReportResourceUsage": "msg=Report resource usage pipelineId=p1 cpu=5% memory=64MB",
    "SetResourceLimits": (
        "msg=Resource limits set maxCpuPercent=50 maxMemoryMB=- revision=1 reason=night shift"
    ),
    "ResetResourceLimits": "msg=Resource limits reset to the configuration revision=1 reason=-",
    "CreateGroup": "msg=Group created groupId=team-a labels=team=payments",
    "SetGroupQuota": (
        "msg=Group quota set groupId=empty maxCpuPercent=- maxMemoryMB=- maxPipelines=3 "
        "revision=2 reason=-"
    ),
    "SetGroupState": "msg=Group closed groupId=empty revision=2",
    "DeleteGroup": "msg=Group deleted groupId=empty",
    "MovePipeline": "msg=Pipeline moved pipelineId=p1 from=default to=empty",
    "SetPipelineLabels": "msg=Pipeline labels set pipelineId=p1 labels=team=a,tier=gold",
    "ReserveResources": (
        "msg=Resources reserved reservationId=res-4 groupId=empty cpu=5% memory=64MB "
        "expiresAt=2026-11-27T03:53:20.480Z"
    ),
    "ReleaseReservation": "msg=Reservation released reservationId=res-3 groupId=default",
    "Tick": "msg=Reservation expired reservationId=res-3 groupId=default",
    "RequestPreemption": "msg=Preemption requested pipelineId=p1 forPipelineId=p9 reason=room",
}

COUNTERS = {  # the design document's counters; any other type is in coordinator_commands_total
    "RegisterPipeline": "coordinator_registrations_total",
    "UnregisterPipeline": "coordinator_unregistrations_total",
    "UpdatePipelineStatus": "coordinator_status_updates_total",
    "ReportResourceUsage": "coordinator_resource_reports_total",
}


def test_there_is_an_example_of_every_state_changing_command_type() -> None:
    changing = {command for command in COMMAND_TYPES if command.declared.changes_state}
    assert set(EXAMPLES) == changing


@pytest.mark.parametrize("kind", list(EXAMPLES), ids=type_name)
def test_an_accepted_command_is_logged_and_counted(
    kind: type[CommandModel], caplog: pytest.LogCaptureFixture
) -> None:
    command = EXAMPLES[kind]
    state = given(
        RegisterPipeline(pipeline_id="p1", name="First"),
        CreateGroup(group_id="empty"),
        ReserveResources(cpu_percent=1.0, memory_mb=1, ttl_seconds=1),
    )
    later = context(T0 + timedelta(seconds=2))
    decision = decide(command, state, later)  # type: ignore[arg-type]  # a Command member
    assert isinstance(decision, Accepted)
    metrics = Metrics()
    outcome = Outcome(0, command.type, command, decision, events=decision.events, before=Summary())  # type: ignore[arg-type]

    with caplog.at_level(logging.DEBUG, logger="coordinator"):
        log_and_count_batch([outcome], metrics)

    assert LOGGED[command.type] in [r.getMessage() for r in caplog.records]
    sample = metrics.registry.get_sample_value
    if command.type in COUNTERS:
        assert sample(COUNTERS[command.type]) == 1
    assert sample("coordinator_commands_total", {"type": command.type, "result": "accepted"}) == 1
    assert sample("coordinator_events_appended_total") == len(decision.events)


class RenamePipeline(CommandModel):
    """A command type this worker has no line of its own for (as a new one would be)."""

    declared = Declaration("Rename a pipeline.", SuccessReply.SUMMARY, emits=())
    type: Literal["RenamePipeline"] = "RenamePipeline"
    pipeline_id: str
    name: str


def test_a_command_type_without_a_line_of_its_own_is_logged_by_its_declaration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    command = RenamePipeline(pipeline_id="p1", name="New\nname", command_id="c-9")
    outcome = Outcome(0, command.type, command, Accepted(()), before=Summary())  # type: ignore[arg-type]
    metrics = Metrics()

    with caplog.at_level(logging.INFO, logger="coordinator"):
        log_and_count_batch([outcome], metrics)

    assert [r.getMessage() for r in caplog.records] == [
        "msg=Rename a pipeline pipelineId=p1 name=New\\nname"
    ]
    # Not one of COMMAND_TYPES (a real new type would be): counted under ``unknown``.
    labels = {"type": "unknown", "result": "accepted"}
    assert metrics.registry.get_sample_value("coordinator_commands_total", labels) == 1


def test_a_made_up_command_type_adds_one_series_not_one_per_type() -> None:
    from coordinator.worker.observe import type_label

    assert type_label("RegisterPipeline") == "RegisterPipeline"
    assert type_label("registerpipeline") == "RegisterPipeline"
    assert type_label("LaunchRocket") == type_label("x" * 100) == type_label(None) == "unknown"
