"""Timestamps: assigned from ``Context.now`` in milliseconds, and journal time never runs back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from coordinator.domain.commands import ReportResourceUsage, UpdatePipelineStatus
from coordinator.domain.decider import Accepted
from coordinator.domain.model import PipelineInfo, PipelineStatus

from .support import T0, context, given, register, registered, when


def test_an_event_is_stamped_with_the_context_time_truncated_to_milliseconds() -> None:
    now = datetime(2026, 11, 27, 3, 52, 48, 480999, tzinfo=UTC)

    outcome = when(register("p1"), given(), context(now))

    assert isinstance(outcome.decision, Accepted)
    assert outcome.decision.events[0].timestamp == datetime(
        2026, 11, 27, 3, 52, 48, 480000, tzinfo=UTC
    )


def test_a_context_time_in_another_zone_is_stored_as_utc_and_written_with_z() -> None:
    two_hours_east = timezone(timedelta(hours=2))
    now = datetime(2026, 11, 27, 5, 52, 48, 480000, tzinfo=two_hours_east)

    outcome = when(register("p1"), given(), context(now))

    assert isinstance(outcome.decision, Accepted)
    event = outcome.decision.events[0]
    assert event.timestamp == T0
    assert json.loads(event.to_json())["timestamp"] == "2026-11-27T03:52:48.480Z"


def test_a_clock_that_went_back_does_not_move_journal_time_back() -> None:
    state = registered("p1")
    earlier = T0 - timedelta(hours=1)

    outcome = when(
        ReportResourceUsage(pipeline_id="p1", cpu_percent=1.0, memory_mb=1), state, context(earlier)
    )

    assert isinstance(outcome.decision, Accepted)
    assert outcome.decision.events[0].timestamp == T0
    assert outcome.after.summary.last_updated == T0


def test_a_clock_less_than_a_millisecond_ahead_keeps_the_same_millisecond() -> None:
    state = registered("p1")

    outcome = when(register("p2"), state, context(T0 + timedelta(microseconds=999)))

    assert isinstance(outcome.decision, Accepted)
    assert outcome.decision.events[0].timestamp == T0


def test_registered_at_is_set_once_and_the_heartbeat_moves_on_every_update_and_report() -> None:
    t1, t2, t3 = (T0 + timedelta(seconds=30 * n) for n in (1, 2, 3))
    state = registered("p1")

    after_status = when(
        UpdatePipelineStatus(
            pipeline_id="p1", status=PipelineStatus.RUNNING, total_records=1, failed_records=0
        ),
        state,
        context(t1),
    ).after
    after_report = when(
        ReportResourceUsage(pipeline_id="p1", cpu_percent=2.0, memory_mb=3),
        after_status,
        context(t2),
    ).after
    after_other = when(register("p2"), after_report, context(t3)).after

    heartbeats = [s.pipelines["p1"].last_heartbeat for s in (state, after_status, after_report)]
    assert heartbeats == [T0, t1, t2]
    assert {s.pipelines["p1"].registered_at for s in (after_status, after_report)} == {T0}
    assert after_other.pipelines["p1"].last_heartbeat == t2
    assert after_other.summary.last_updated == t3


def test_queries_and_refusals_do_not_move_last_updated() -> None:
    state = registered("p1")
    later = context(T0 + timedelta(hours=1))

    refused = when(register("p1"), state, later)

    assert refused.after.summary.last_updated == T0


def _row(at: str) -> bytes:
    return json.dumps(
        {
            "pipelineId": "p1",
            "name": "p1",
            "status": "running",
            "totalRecords": 0,
            "failedRecords": 0,
            "cpuPercent": 0.0,
            "memoryMB": 0,
            "registeredAt": at,
            "lastHeartbeat": "2026-11-27T03:52:48.480Z",
        }
    ).encode()


def test_a_timestamp_read_with_z_or_another_zone_is_held_in_utc_and_written_with_z() -> None:
    for written in (
        "2026-11-27T03:52:48.480Z",
        "2026-11-27T03:52:48.48Z",
        "2026-11-27T05:52:48.480+02:00",
        "2026-11-27T03:52:48.480000+00:00",
    ):
        info = PipelineInfo.model_validate_json(_row(written))

        assert info.registered_at == T0
        assert info.registered_at.tzinfo is UTC
        assert json.loads(info.to_json())["registeredAt"] == "2026-11-27T03:52:48.480Z"


def test_a_timestamp_without_a_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="with a time zone"):
        PipelineInfo.model_validate_json(_row("2026-11-27T03:52:48.480"))


def test_a_timestamp_given_in_python_without_a_zone_is_refused() -> None:
    fields = {
        **json.loads(_row("2026-11-27T03:52:48.480Z")),
        "registeredAt": T0.replace(tzinfo=None),
    }

    with pytest.raises(ValidationError, match="must carry a time zone"):
        PipelineInfo.model_validate(fields)
