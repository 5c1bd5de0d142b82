"""UpdatePipelineStatus: given a registered pipeline, when it reports its status, then ..."""

from __future__ import annotations

from datetime import timedelta

import pytest

from coordinator.domain.commands import UpdatePipelineStatus
from coordinator.domain.decider import Accepted
from coordinator.domain.events import PipelineStatusUpdated
from coordinator.domain.model import MAX_LONG, PipelineStatus
from coordinator.domain.replies import ErrorCode
from coordinator.domain.state import change_for

from .support import T0, assert_refused, context, registered, when


def status_update(
    pipeline_id: str = "p1",
    status: PipelineStatus = PipelineStatus.RUNNING,
    total: int = 1_000_000,
    failed: int = 5,
    **envelope: str,
) -> UpdatePipelineStatus:
    return UpdatePipelineStatus(
        pipeline_id=pipeline_id,
        status=status,
        total_records=total,
        failed_records=failed,
        **envelope,
    )


def test_a_status_update_emits_pipeline_status_updated() -> None:
    state = registered("p1")

    outcome = when(status_update(command_id="s1"), state)

    assert outcome.decision == Accepted(
        (
            PipelineStatusUpdated(
                seq=2,
                command_id="s1",
                pipeline_id="p1",
                status=PipelineStatus.RUNNING,
                total_records=1_000_000,
                failed_records=5,
                timestamp=T0,
            ),
        )
    )


@pytest.mark.parametrize("status", list(PipelineStatus))
def test_a_status_update_moves_the_pipeline_between_status_counts(status: PipelineStatus) -> None:
    state = registered("p1", "p2")

    outcome = when(status_update(status=status), state)

    info = outcome.after.pipeline("p1")
    assert info is not None
    assert info.status is status
    expected = dict.fromkeys(PipelineStatus, 0)
    expected[PipelineStatus.CONFIGURED] += 1
    expected[status] += 1
    assert outcome.after.summary.count_by_status == expected


def test_a_status_update_records_the_counts_and_moves_only_the_heartbeat() -> None:
    later = T0 + timedelta(seconds=30)
    state = registered("p1")

    outcome = when(status_update(total=42, failed=2), state, context(later))

    info = outcome.after.pipeline("p1")
    assert info is not None
    assert (info.total_records, info.failed_records) == (42, 2)
    assert info.last_heartbeat == later
    assert info.registered_at == T0


def test_a_status_update_is_fire_and_forget() -> None:
    state = registered("p1")
    outcome = when(status_update(), state)
    assert isinstance(outcome.decision, Accepted)

    assert change_for(state, outcome.decision.events[0]).reply is None


def test_a_status_update_for_an_unknown_pipeline_changes_nothing() -> None:
    state = registered("p1")

    outcome = when(status_update(pipeline_id="ghost"), state)

    refusal = assert_refused(outcome, ErrorCode.PIPELINE_NOT_FOUND, dead_letter=False)
    assert "ghost" in refusal.error.message


@pytest.mark.parametrize(("total", "failed"), [(0, 0), (7, 7), (MAX_LONG, MAX_LONG), (MAX_LONG, 0)])
def test_record_counts_at_the_edges_are_accepted(total: int, failed: int) -> None:
    state = registered("p1")

    outcome = when(status_update(total=total, failed=failed), state)

    assert isinstance(outcome.decision, Accepted)


@pytest.mark.parametrize(
    ("total", "failed", "field"),
    [
        (-1, 0, "totalRecords"),
        (10, -1, "failedRecords"),
        (MAX_LONG + 1, 0, "totalRecords"),
        (2**64, 2**64, "totalRecords"),
        (10, 11, "failedRecords"),
    ],
)
def test_invalid_record_counts_are_refused_and_dead_lettered(
    total: int, failed: int, field: str
) -> None:
    state = registered("p1")

    outcome = when(status_update(total=total, failed=failed), state)

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert field in refusal.error.message


def test_failed_records_above_total_records_names_both_fields() -> None:
    state = registered("p1")

    outcome = when(status_update(total=10, failed=11), state)

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert "failedRecords (11)" in refusal.error.message
    assert "totalRecords (10)" in refusal.error.message


def test_invalid_counts_for_an_unknown_pipeline_are_invalid_rather_than_not_found() -> None:
    state = registered("p1")

    outcome = when(status_update(pipeline_id="ghost", total=-1), state)

    assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)


@pytest.mark.parametrize("pipeline_id", ["", " ", "x" * 257, "p\x1f"])
def test_an_invalid_pipeline_id_is_refused_and_dead_lettered(pipeline_id: str) -> None:
    state = registered("p1")

    outcome = when(status_update(pipeline_id=pipeline_id), state)

    assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
