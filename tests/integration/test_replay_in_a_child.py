"""A long fold runs in a child process (``coordinator.worker.replay``): it recovers the same state
as a fold in the worker, the worker's table is usable again afterwards, and a journal the table
does not belong to is refused by the child as it would be in-process (the local state is
discarded and the snapshot used instead).

The journal is the one recorded with commit 19c062e (``tests/data/compat-19c062e``); the
threshold is lowered so that its 288 events count as a long fold.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from coordinator.store.table import StateTable
from coordinator.worker import recovery
from tests.fixtures.broker import Broker
from tests.integration.test_snapshot_compatibility import (
    EXPECTED,
    assert_recovers_what_the_old_worker_answered,
    load_recording,
)

pytestmark = pytest.mark.integration


def test_a_full_replay_in_a_child_recovers_what_the_old_worker_answered(
    broker: Broker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_recording(broker, tmp_path, snapshots=False, change=None)
    monkeypatch.setattr(recovery, "CHILD_FOLD_EVENTS", 10)
    table = StateTable(tmp_path / "state")
    try:
        with caplog.at_level(logging.INFO, logger="coordinator.worker.replay"):
            report, _catalog = recovery.recover(settings, table)
        assert any("Folding in a child process" in r.getMessage() for r in caplog.records)
        assert report.source == "journal"
        assert report.events_replayed == report.seq == EXPECTED["lastSeq"]
        # The table the worker holds was reopened on what the child wrote.
        assert table.summary.seq == EXPECTED["lastSeq"]
        assert_recovers_what_the_old_worker_answered(table, settings)
    finally:
        table.close()


def test_a_child_refuses_a_table_of_another_journal_and_the_snapshot_is_used(
    broker: Broker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_recording(broker, tmp_path, snapshots=True, change=None)
    table = StateTable(tmp_path / "state")
    try:
        # A table that is far behind, but whose event at its offset carries another seq: it
        # belongs to another journal.
        recovery.recover(settings, table)
        meta = table.meta.model_copy(update={"events_offset": 0})
        table._db.put(b"m", meta.to_json())  # forge a table of another journal
        table.reopen()
        monkeypatch.setattr(recovery, "CHILD_FOLD_EVENTS", 10)
        with caplog.at_level(logging.WARNING, logger="coordinator.worker.recovery"):
            report, _catalog = recovery.recover(settings, table)
        discarded = [
            r.getMessage() for r in caplog.records if "Local state discarded" in r.getMessage()
        ]
        assert discarded, [r.getMessage() for r in caplog.records]
        assert "but the journal has seq 1 at offset 0" in discarded[0]
        assert report.source == "snapshot"
        assert report.seq == EXPECTED["lastSeq"]
        assert_recovers_what_the_old_worker_answered(table, settings)
    finally:
        table.close()
