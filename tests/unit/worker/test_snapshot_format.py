"""The snapshot header's ``format`` is checked at load: a snapshot this version wrote loads, one of
another format (or of none) is refused with a reason naming the format found and those read."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coordinator.kafka.records import Record
from coordinator.store.table import StateTable
from coordinator.worker import recovery, snapshots
from coordinator.worker.snapshots import FORMAT, SUPPORTED_FORMATS, SnapshotCatalog
from tests.unit.worker.test_journal_fold import CAPACITY, journal
from tests.unit.worker.test_journal_fold import records as journal_records


@pytest.fixture
def table() -> Iterator[StateTable]:
    with tempfile.TemporaryDirectory() as directory:
        opened = StateTable(Path(directory) / "state")
        events, _state = journal(7, 300)
        recovery.JournalFold(opened, CAPACITY).fold(journal_records(events))
        yield opened
        opened.close()


class NoConsumer:
    """Stands for the Kafka consumer: a load from chunks the scan kept never reads the topic."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the topic was read ({name})")


def written(table: StateTable, header_change: dict[str, Any] | None = None) -> SnapshotCatalog:
    """A snapshot of ``table`` as the worker writes it, its header changed by ``header_change``
    (a value of ``...`` deletes the field), read back into a catalog."""
    run = snapshots.SnapshotRun(table, "snapshots", "2026-03-01T00:00:00.000Z")
    catalog = SnapshotCatalog()
    offset = 0
    while not run.done:
        for out in run.next_records(budget=600):
            value = out.value
            assert value is not None
            if (out.key or b"").endswith(b"/0-header") and header_change is not None:
                header = json.loads(value)
                for name, changed in header_change.items():
                    if changed is ...:
                        del header[name]
                    else:
                        header[name] = changed
                value = json.dumps(header).encode()
            catalog.add(Record(offset, out.key, value, []))
            offset += 2
    assert run.chunks > 2, "the state should take several chunks"
    return catalog


def load(catalog: SnapshotCatalog) -> snapshots.LoadedSnapshot:
    (entry,) = catalog.complete()
    return snapshots.load(NoConsumer(), "snapshots", entry)  # type: ignore[arg-type]


def test_a_snapshot_of_the_format_this_version_writes_loads(table: StateTable) -> None:
    catalog = written(table)
    (entry,) = catalog.complete()
    assert entry.header is not None and entry.header["format"] == FORMAT
    assert FORMAT in SUPPORTED_FORMATS
    loaded = load(catalog)
    assert loaded.meta == table.meta
    assert loaded.pipelines == list(table.pipelines_from(None))


def test_a_header_with_format_2_is_refused_naming_both_formats(table: StateTable) -> None:
    seq = table.summary.seq
    with pytest.raises(ValueError, match=r"^[^;]+; this version reads format 1$") as refused:
        load(written(table, {"format": 2}))
    assert str(refused.value) == f"snapshot {seq} has format 2; this version reads format 1"


def test_a_header_without_format_is_refused(table: StateTable) -> None:
    seq = table.summary.seq
    with pytest.raises(ValueError) as refused:
        load(written(table, {"format": ...}))
    assert str(refused.value) == f"snapshot {seq} has no format; this version reads format 1"


@pytest.mark.parametrize(
    ("found", "shown"),
    [(0, "0"), (-1, "-1"), ("1", '"1"'), (1.0, "1.0"), (True, "true"), (None, "null")],
)
def test_a_format_that_only_looks_like_1_is_refused(
    table: StateTable, found: object, shown: str
) -> None:
    reason = f"has format {shown}; this version reads format 1"
    with pytest.raises(ValueError, match=re.escape(reason) + "$"):
        load(written(table, {"format": found}))


def test_the_reason_lists_every_supported_format(
    table: StateTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "SUPPORTED_FORMATS", frozenset({1, 3}))
    with pytest.raises(ValueError, match=r"has format 2; this version reads formats 1, 3$"):
        load(written(table, {"format": 2}))
    assert load(written(table, {"format": 3})).meta == table.meta
