"""The three scenarios of the design document's "Testing" section, at the domain level.

``CoordinatorAggregateSpec`` spawns the actor and reads replies from a probe; here the same steps
run through ``decide`` and ``evolve``, and the reply is what the worker would send.
"""

from __future__ import annotations

from coordinator.domain.commands import GetSystemStatus, RegisterPipeline, ReportResourceUsage
from coordinator.domain.decider import Accepted, Answered, Refused
from coordinator.domain.replies import ErrorCode, StateSummary, SystemStatus
from coordinator.domain.state import change_for

from .support import given, when


def test_register_a_pipeline() -> None:
    state = given()

    outcome = when(RegisterPipeline(pipeline_id="p1", name="Pipeline 1"), state)

    assert isinstance(outcome.decision, Accepted)
    reply = change_for(state, outcome.decision.events[0]).reply
    assert isinstance(reply, StateSummary)
    assert reply.pipeline_id == "p1"
    assert reply.total_pipelines == 1
    assert "p1" in outcome.after.pipelines


def test_reject_duplicate_registration() -> None:
    state = given(RegisterPipeline(pipeline_id="p1", name="Pipeline 1"))

    outcome = when(RegisterPipeline(pipeline_id="p1", name="Pipeline 1"), state)

    assert isinstance(outcome.decision, Refused)
    assert outcome.decision.error.code is ErrorCode.PIPELINE_ALREADY_REGISTERED
    assert outcome.after == state


def test_track_resource_usage() -> None:
    state = given(
        RegisterPipeline(pipeline_id="p1", name="Pipeline 1"),
        ReportResourceUsage(pipeline_id="p1", cpu_percent=10.0, memory_mb=1024),
    )

    outcome = when(GetSystemStatus(), state)

    assert isinstance(outcome.decision, Answered)
    status = outcome.decision.value
    assert isinstance(status, SystemStatus)
    assert status.total_cpu_percent == 10.0
    assert status.total_memory_mb == 1024
