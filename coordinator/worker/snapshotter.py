"""Taking snapshots while the worker serves: one chunk per transaction, between batches.

A snapshot starts once ``snapshot_every`` events have been appended since the last one; its
chunks are written through the journal writer (so a fenced worker cannot write one), one per
transaction, by the service's snapshot pump between batches. When one is complete, the snapshots
beyond ``snapshots_kept`` are tombstoned and, if configured, the events older than the oldest kept
snapshot are deleted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from confluent_kafka.admin import AdminClient

from coordinator.config import Settings
from coordinator.domain.wire import format_timestamp
from coordinator.errors import FencedError, JournalError, WriterBrokenError
from coordinator.kafka import admin as kafka_admin
from coordinator.kafka.reader import committed_consumer
from coordinator.kafka.records import OutRecord
from coordinator.kafka.writer import JournalWriter, RetryBatch
from coordinator.store.table import StateTable
from coordinator.worker import snapshots
from coordinator.worker.memory import trim_heap
from coordinator.worker.metrics import Metrics
from coordinator.worker.threads import WorkerThreads

log = logging.getLogger("coordinator")

Spawn = Callable[[Coroutine[Any, Any, None], str], object]


class Snapshotter:
    def __init__(
        self,
        settings: Settings,
        table: StateTable,
        metrics: Metrics,
        threads: WorkerThreads,
        *,
        admin: Callable[[], AdminClient],
        spawn: Spawn,
    ) -> None:
        self._settings = settings
        self._topic = settings.topics.snapshots
        self._table = table
        self._metrics = metrics
        self._threads = threads
        self._admin = admin
        self._spawn = spawn
        self.catalog = snapshots.SnapshotCatalog()
        self.last_snapshot_seq = 0
        self.wakeup = asyncio.Event()
        self._run: snapshots.SnapshotRun | None = None
        self._started = 0.0

    @property
    def in_progress(self) -> bool:
        return self._run is not None

    def adopt(self, catalog: snapshots.SnapshotCatalog) -> None:
        """Take what a scan of the snapshots topic found (without the chunks' values)."""
        self.catalog.merge(catalog)
        for entry in self.catalog.entries.values():
            entry.chunks = None
        complete = self.catalog.complete()
        if complete:
            self.last_snapshot_seq = max(self.last_snapshot_seq, complete[0].seq)

    async def scan(self) -> None:
        """Scan the snapshots topic (after a local recovery, which did not need to)."""

        def scan() -> snapshots.SnapshotCatalog:
            consumer = committed_consumer(self._settings, "snapshots")
            try:
                return snapshots.scan(consumer, self._topic, keep_chunks=False)
            finally:
                consumer.close()

        try:
            catalog = await self._threads.on_housekeeping(scan)
        except Exception as exc:  # noqa: BLE001 - retention waits for the next start
            log.warning("msg=Snapshot scan failed error=%r", exc)
            return
        self.adopt(catalog)

    async def pump(
        self,
        exclusive: Callable[[], AbstractAsyncContextManager[None]],
        serving_writer: Callable[[], JournalWriter | None],
        step_down: Callable[[str], Awaitable[None]],
    ) -> None:
        """Write the snapshot in progress one chunk per transaction, between batches (each
        under ``exclusive()``: no batch deciding or committing), while the worker serves."""
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while True:
                async with exclusive():
                    writer = serving_writer()
                    if not self.in_progress or writer is None:
                        break
                    try:
                        await self.step(writer)
                    except (FencedError, WriterBrokenError) as exc:
                        await step_down(f"fenced: {exc}")
                    except Exception:  # snapshots are an optimisation: never stop taking them
                        log.exception("msg=Snapshot failed")
                        self.abandon("an unexpected error (logged above)")
                await asyncio.sleep(0)

    def maybe_start(self) -> None:
        """Start a snapshot if enough events were appended since the last one."""
        seq = self._table.summary.seq
        if self._run is None and seq - self.last_snapshot_seq >= self._settings.snapshot_every:
            self._run = snapshots.SnapshotRun(
                self._table, self._topic, format_timestamp(datetime.now(UTC))
            )
            self._started = time.monotonic()
            self.wakeup.set()

    def abandon(self, reason: str | None = None) -> None:
        """Drop the snapshot in progress: for a ``reason`` (a failure, counted in
        ``coordinator_snapshots_failed_total``), or without one when the worker steps down."""
        if self._run is not None and reason is not None:
            log.warning("msg=Snapshot abandoned seq=%d reason=%s", self._run.seq, reason)
            self._metrics.snapshots_failed.inc()
        self._run = None

    async def _write(self, writer: JournalWriter, records: list[OutRecord]) -> None:
        await self._threads.on_writer(writer.write, records, None)

    async def step(self, writer: JournalWriter) -> None:
        """Write the next chunk of the snapshot in progress (``FencedError`` is the caller's)."""
        run = self._run
        if run is None:
            return
        try:
            await self._write(writer, run.next_records())
        except RetryBatch:
            self.abandon("transaction aborted")
            return
        except JournalError as exc:
            self.abandon(str(exc))
            return
        if not run.done:
            return
        self._run = None
        self.last_snapshot_seq = run.seq
        self.catalog.add_written(run)
        self._metrics.snapshots.inc()
        seconds = time.monotonic() - self._started
        self._metrics.snapshot_seconds.observe(seconds)
        log.info(
            "msg=Snapshot written seq=%d pipelines=%d chunks=%d bytes=%d seconds=%.3f",
            run.seq,
            run.counts["pipelines"],
            run.chunks,
            run.bytes_written,
            seconds,
        )
        await self._expire(writer)
        # The snapshot's chunks went through the producer; give their memory back (off the loop).
        await self._threads.on_housekeeping(trim_heap)
        self.maybe_start()

    async def _expire(self, writer: JournalWriter) -> None:
        expired = self.catalog.expired(self._settings.snapshots_kept)
        if not expired:
            return
        records: list[OutRecord] = []
        for entry in expired:
            records.extend(snapshots.tombstones(self._topic, entry))
        try:
            await self._write(writer, records)
        except (RetryBatch, JournalError) as exc:
            log.warning("msg=Snapshot deletion postponed reason=%s", exc)
            return
        for entry in expired:
            self.catalog.forget(entry)
        log.info("msg=Snapshots deleted seqs=%s", ",".join(str(entry.seq) for entry in expired))
        if self._settings.delete_events_on_snapshot:
            kept = self.catalog.complete()[: self._settings.snapshots_kept]
            if len(kept) == self._settings.snapshots_kept:
                oldest = min(entry.events_offset for entry in kept)
                if oldest >= 0:
                    self._spawn(self._delete_events_before(oldest + 1), "delete-events")

    async def _delete_events_before(self, offset: int) -> None:
        try:
            await self._threads.on_housekeeping(
                kafka_admin.delete_before, self._admin(), self._settings.topics.events, offset
            )
            log.info("msg=Events deleted beforeOffset=%d", offset)
        except Exception as exc:  # noqa: BLE001 - optional housekeeping; retried next snapshot
            log.warning("msg=Event deletion failed beforeOffset=%d error=%r", offset, exc)
