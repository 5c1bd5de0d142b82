"""Rebuilding the state table from Kafka, and keeping it up to date as a standby.

Recovery prefers, in order: the local RocksDB table (checked against the journal, then the events
after it), the newest valid snapshot plus the events after it, and the whole journal. A worker
with an empty data directory therefore recovers from Kafka alone. The same folding keeps a hot
standby's table current while another worker owns the commands partition.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer

from coordinator.config import Settings
from coordinator.domain.codec import decode_event
from coordinator.domain.state import change_for
from coordinator.errors import RecoveryError
from coordinator.kafka.reader import (
    OffsetOutOfRangeError,
    assign,
    committed_consumer,
    consume_batch,
    header_list,
    last_value,
    read_to_end,
    watermarks,
)
from coordinator.kafka.records import COMMAND_OFFSET_HEADER, Record, header
from coordinator.store.overlay import Overlay
from coordinator.store.table import PendingWrites, StateTable
from coordinator.worker import snapshots
from coordinator.worker.metrics import Metrics

log = logging.getLogger(__name__)

FOLD_CHUNK = 1_000_000
"""Events folded between two writes to the table: one RocksDB write batch, in which a pipeline
is written once however many of its events the chunk holds. What is held meanwhile is bounded by
the registry's size, not the chunk's (the read cache holds those pipelines anyway); a recovery
that crashes starts its chunk again."""
FOLD_CACHE = 500_000
"""Values a fold keeps in memory (every pipeline of a 100,000-pipeline registry, the applied
commands); over this, it starts reading the table afresh."""
FLUSH_PIPELINES = 20_000
"""A write of this many pipelines is flushed from RocksDB's memtable to disk at once."""
CHILD_FOLD_EVENTS = 100_000
"""A fold of more journal offsets than this runs in a child process (see ``catch_up``)."""
POLL_CHUNK = 2000
"""Records a standby reads at a time."""
PROGRESS_EVERY = 100_000


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    source: str
    """``local``, ``snapshot``, ``journal`` (a full replay) or ``empty`` (nothing to recover)."""
    seq: int
    events_replayed: int
    seconds: float
    snapshot_seq: int | None = None


class JournalFold:
    """Folds journal records into a table in chunks, checking that ``seq`` runs without gaps.

    One overlay spans the whole fold and stays as a read cache after each chunk is written, so a
    long replay parses each pipeline from RocksDB at most once.
    """

    def __init__(self, table: StateTable, applied_capacity: int) -> None:
        self.table = table
        self.applied_capacity = applied_capacity
        self.folded = 0

    def fold(self, records: Iterable[Record]) -> int:
        overlay = Overlay(self.table, keep_changes=False)
        pending = PendingWrites()
        last_offset = -1
        command_offset = self.table.meta.command_offset
        count = 0
        for record in records:
            if record.value is None:
                raise RecoveryError(f"event at offset {record.offset} has no value")
            event = decode_event(record.value)
            expected = overlay.summary.seq + 1
            if event.seq < expected:
                continue  # already folded (the record a local table was checked against)
            if event.seq > expected:
                raise RecoveryError(
                    f"journal gap: expected seq {expected}, found {event.seq} "
                    f"at offset {record.offset}"
                )
            change = change_for(overlay, event, self.applied_capacity)
            overlay.add(change)
            pending.add(change)
            last_offset = record.offset
            raw_command_offset = header(record.headers, COMMAND_OFFSET_HEADER)
            if raw_command_offset is not None:
                command_offset = int(raw_command_offset)
            count += 1
            if count % PROGRESS_EVERY == 0:
                log.info("msg=Replaying journal events=%d seq=%d", self.folded + count, event.seq)
            full = overlay.cached >= FOLD_CACHE
            if full or pending.count >= FOLD_CHUNK:
                self._write(pending, last_offset, command_offset)
                pending = PendingWrites()
                if full:
                    overlay = Overlay(self.table, keep_changes=False)
        self._write(pending, last_offset, command_offset)
        self.folded += count
        return count

    def _write(self, pending: PendingWrites, last_offset: int, command_offset: int) -> None:
        self.table.write(pending, last_offset, command_offset)
        if len(pending.pipelines) >= FLUSH_PIPELINES:
            # One write batch that large sits in RocksDB's memtable, whatever its configured
            # size, until the memtable is flushed: flush it now rather than keep it resident.
            self.table.flush()


def catch_up(
    settings: Settings,
    table: StateTable,
    consumer: Consumer,
    *,
    may_fork: bool = True,
) -> int:
    """Fold every committed event after the table's position; check the table first.

    The event at the table's own offset must carry the table's ``seq``: otherwise the table
    belongs to another journal (a recreated topic, another cluster) and ``RecoveryError`` says so.
    More than ``CHILD_FOLD_EVENTS`` journal offsets are folded by a child process if ``may_fork``
    (``coordinator.worker.replay``), so that this process never holds a long fold's peak.
    """
    topic = settings.topics.events
    low, high = watermarks(consumer, topic)
    start = table.events_offset
    if may_fork and high - max(low, start) > CHILD_FOLD_EVENTS:
        from coordinator.worker.replay import fold_in_child  # it imports this module

        return fold_in_child(settings, table)
    if start < 0:
        if low > 0:
            raise RecoveryError(
                f"the journal starts at offset {low} (older events were deleted); "
                "it cannot be replayed from the beginning without a snapshot"
            )
        begin = None
    elif start >= high:
        raise RecoveryError(
            f"local state is at events offset {start} but the journal ends at {high}"
        )
    else:
        begin = max(start, low)
    records = read_to_end(consumer, topic, begin)
    if start >= 0 and begin == start:
        first = next(records, None)
        if first is None or first.value is None:
            raise RecoveryError(f"no event at offset {start} to check local state against")
        found = decode_event(first.value).seq
        if found != table.summary.seq:
            raise RecoveryError(
                f"local state is at seq {table.summary.seq} but the journal has seq {found} "
                f"at offset {start}"
            )
    return JournalFold(table, settings.applied_capacity).fold(records)


def catch_up_to_end(settings: Settings, table: StateTable) -> int:
    """``catch_up`` with a reader of its own (a take-over's last look at the journal)."""
    consumer = committed_consumer(settings, "takeover")
    try:
        return catch_up(settings, table, consumer)
    finally:
        consumer.close()


def read_progress(settings: Settings) -> int | None:
    """The commands offset the last committed batch reached, from the progress topic."""
    consumer = committed_consumer(settings, "progress")
    try:
        raw = last_value(consumer, settings.topics.progress)
    finally:
        consumer.close()
    return None if raw is None else int(json.loads(raw)["nextCommandOffset"])


def recover(
    settings: Settings, table: StateTable
) -> tuple[RecoveryReport, snapshots.SnapshotCatalog | None]:
    """Bring ``table`` to the end of the journal by the cheapest valid route.

    The snapshot catalog comes back too, except after a local recovery, which does not need the
    snapshots: the caller scans them later, once the worker serves.
    """
    started = time.monotonic()
    consumer = committed_consumer(settings, "recovery")
    try:
        if not table.is_empty:
            try:
                replayed = catch_up(settings, table, consumer)
            except (RecoveryError, OffsetOutOfRangeError) as exc:
                log.warning("msg=Local state discarded reason=%s", exc)
                table.clear()
            else:
                return _report("local", table, replayed, started), None

        scan_started = time.monotonic()
        catalog = snapshots.scan(consumer, settings.topics.snapshots)
        log.info(
            "msg=Snapshots scanned complete=%d seconds=%.3f",
            len(catalog.complete()),
            time.monotonic() - scan_started,
        )
        low, _high = watermarks(consumer, settings.topics.events)
        for entry in catalog.complete():
            if entry.events_offset + 1 < low:
                log.warning(
                    "msg=Snapshot skipped seq=%d reason=events after it were deleted", entry.seq
                )
                continue
            try:
                load_started = time.monotonic()
                loaded = snapshots.load(consumer, settings.topics.snapshots, entry)
                parsed = time.monotonic()
                table.load(loaded.meta, loaded.pipelines, loaded.applied, settings.applied_capacity)
                log.info(
                    "msg=Snapshot loaded seq=%d pipelines=%d readSeconds=%.3f writeSeconds=%.3f",
                    entry.seq,
                    len(loaded.pipelines),
                    parsed - load_started,
                    time.monotonic() - parsed,
                )
                replayed = catch_up(settings, table, consumer)
            except (ValueError, KeyError, RecoveryError, OffsetOutOfRangeError) as exc:
                log.warning("msg=Snapshot skipped seq=%d reason=%s", entry.seq, exc)
                table.clear()
                continue
            report = _report("snapshot", table, replayed, started, entry.seq)
            return report, catalog

        replayed = catch_up(settings, table, consumer)
        source = "journal" if replayed else "empty"
        return _report(source, table, replayed, started), catalog
    finally:
        consumer.close()


def announce(report: RecoveryReport, table: StateTable, metrics: Metrics) -> None:
    """Log how the table was recovered and set the recovery metrics."""
    metrics.recovery_seconds.labels(source=report.source).set(report.seconds)
    metrics.recovery_events.set(report.events_replayed)
    metrics.observe_summary(table.summary)
    logging.getLogger("coordinator").info(
        "msg=Recovered source=%s seq=%d eventsReplayed=%d snapshotSeq=%s seconds=%.3f pipelines=%d",
        report.source,
        report.seq,
        report.events_replayed,
        report.snapshot_seq,
        report.seconds,
        table.summary.total_pipelines,
    )


def _report(
    source: str, table: StateTable, replayed: int, started: float, snapshot_seq: int | None = None
) -> RecoveryReport:
    return RecoveryReport(
        source=source,
        seq=table.summary.seq,
        events_replayed=replayed,
        seconds=time.monotonic() - started,
        snapshot_seq=snapshot_seq,
    )


class Follower:
    """A hot standby's reader: folds new committed events into the table as they arrive."""

    def __init__(self, settings: Settings, table: StateTable) -> None:
        self.table = table
        self.consumer = committed_consumer(settings, "standby", eof=False)
        self._journal_fold = JournalFold(table, settings.applied_capacity)
        position = table.events_offset + 1 if table.events_offset >= 0 else None
        assign(self.consumer, settings.topics.events, position)

    def poll(self, timeout: float = 0.5) -> list[Record]:
        """What is new, waiting up to ``timeout`` (blocking: run it off the event loop)."""
        records = []
        for message in consume_batch(self.consumer, POLL_CHUNK, timeout):
            error = message.error()
            if error is not None:
                log.warning("msg=Standby read error error=%s", error.str())
                continue
            records.append(
                Record(
                    offset=message.offset() or 0,
                    key=message.key(),
                    value=message.value(),
                    headers=header_list(message.headers()),
                )
            )
        return records

    def fold(self, records: list[Record]) -> int:
        return self._journal_fold.fold(records)

    def close(self) -> None:
        self.consumer.close()
