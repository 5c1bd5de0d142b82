"""A snapshot that fails is abandoned and counted (``coordinator_snapshots_failed_total``, which
the ``CoordinatorSnapshotsFailing`` alert reads); one dropped at a step-down is not a failure."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coordinator.config import Settings
from coordinator.kafka.records import OutRecord
from coordinator.kafka.writer import JournalError, RetryBatch
from coordinator.store.table import StateTable
from coordinator.worker import recovery
from coordinator.worker.metrics import Metrics
from coordinator.worker.snapshotter import Snapshotter
from coordinator.worker.threads import WorkerThreads
from tests.unit.worker.test_journal_fold import CAPACITY, journal, records


class FailingSnapshotter(Snapshotter):
    """Writes nothing: each chunk's transaction fails with ``failure``."""

    failure: Exception

    async def _write(self, writer: Any, records: list[OutRecord]) -> None:
        raise self.failure


@pytest.fixture
def table() -> Iterator[StateTable]:
    with tempfile.TemporaryDirectory() as directory:
        opened = StateTable(Path(directory) / "state")
        events, _state = journal(3, 200)
        recovery.JournalFold(opened, CAPACITY).fold(records(events))
        yield opened
        opened.close()


def snapshotter(table: StateTable, metrics: Metrics, failure: Exception) -> FailingSnapshotter:
    made = FailingSnapshotter(
        Settings(snapshot_every=1),
        table,
        metrics,
        WorkerThreads(),
        admin=lambda: None,  # type: ignore[arg-type,return-value]
        spawn=lambda coroutine, _name: None,  # type: ignore[arg-type,return-value]
    )
    made.failure = failure
    return made


@pytest.mark.parametrize(
    "failure", [RetryBatch("aborted"), JournalError("topic refuses the record")], ids=str
)
def test_a_failed_chunk_abandons_the_snapshot_and_counts_it(
    table: StateTable, failure: Exception
) -> None:
    metrics = Metrics()
    taking = snapshotter(table, metrics, failure)
    taking.maybe_start()
    assert taking.in_progress

    asyncio.run(taking.step(writer=None))  # type: ignore[arg-type]

    assert not taking.in_progress
    assert metrics.registry.get_sample_value("coordinator_snapshots_failed_total") == 1
    assert metrics.registry.get_sample_value("coordinator_snapshots_total") == 0


def test_a_snapshot_dropped_at_a_step_down_is_not_a_failure(table: StateTable) -> None:
    metrics = Metrics()
    taking = snapshotter(table, metrics, RetryBatch("unused"))
    taking.maybe_start()

    taking.abandon()

    assert not taking.in_progress
    assert metrics.registry.get_sample_value("coordinator_snapshots_failed_total") == 0
