"""The worker's runtime: recovery, standby, taking over, applying batches, snapshots.

One worker process runs one ``CoordinatorService``. Every worker recovers its table at start and
then follows the journal as a hot standby. The worker whose faust consumer is assigned the
commands partition takes over: it initialises the journal writer (fencing any former owner),
folds the last events in, reads which commands are done from the progress topic, and applies
batches. Batches, snapshot chunks and role changes are serialised by one lock, so the journal
writer only ever has one transaction open.

Delivery is at-least-once (faust acknowledges a batch only after ``handle`` returns, and ``handle``
returns only once the batch is committed or was already applied); processing is effectively once
because a command's effects and its offset are committed in one transaction and commands below
the committed offset are skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from coordinator.config import Settings
from coordinator.domain.codec import DecodeError
from coordinator.domain.commands import Command
from coordinator.domain.decider import Context
from coordinator.domain.wire import format_timestamp
from coordinator.errors import FencedError, JournalError
from coordinator.kafka import admin as kafka_admin
from coordinator.kafka.reader import committed_consumer, last_value, watermarks
from coordinator.kafka.writer import JournalWriter, OutRecord, RetryBatch
from coordinator.store.table import StateTable
from coordinator.worker import snapshots
from coordinator.worker.memory import release_memory, trim_heap
from coordinator.worker.metrics import Metrics
from coordinator.worker.observe import observe
from coordinator.worker.processing import (
    BatchBuilder,
    BatchResult,
    Incoming,
    context_for,
    decode,
    reply_topics_wanted,
)
from coordinator.worker.recovery import Follower, RecoveryReport, catch_up, recover
from coordinator.worker.replytopics import ReplyTopics

log = logging.getLogger("coordinator")

T = TypeVar("T")
EXIT_JOURNAL_FAILURE = 70
EXIT_RESTART = 75
"""Asks a supervisor for a restart (EX_TEMPFAIL): the consumer stopped delivering commands."""
WATCHDOG_SECONDS = 5.0
MAX_REJECTED_ATTEMPTS = 5
"""Batches whose journal or dead-letter records the broker refuses for good are given up on
after this many tries (the worker exits; see ``handle``)."""


class Role(StrEnum):
    STARTING = "starting"
    RECOVERING = "recovering"
    STANDBY = "standby"
    TAKING_OVER = "taking-over"
    ACTIVE = "active"
    STOPPED = "stopped"


class CommandMessage(Protocol):
    """What the service needs of a consumed record (a faust ``Message`` has these)."""

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def timestamp(self) -> float: ...


class CoordinatorService:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.metrics = metrics if metrics is not None else Metrics()
        self.table = StateTable(settings.worker_dir / "state")
        self.role = Role.STARTING
        self.recovery: RecoveryReport | None = None
        self.next_offset: int | None = None
        self.owns_partition = False
        self.catalog = snapshots.SnapshotCatalog()
        self.last_snapshot_seq = 0
        self._snapshot: snapshots.SnapshotRun | None = None
        self._snapshot_started = 0.0
        self._writer: JournalWriter | None = None
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="journal-writer")
        self._reader_thread = ThreadPoolExecutor(1, thread_name_prefix="journal-reader")
        self._metrics_thread = ThreadPoolExecutor(1, thread_name_prefix="metrics")
        self._lag_consumer: Consumer | None = None
        self._admin_client: AdminClient | None = None
        self._reply_topics = ReplyTopics(
            self._reply_topic_names, settings.reply_topic_wait_ms / 1e3
        )
        self._lock = asyncio.Lock()
        self._recovered = asyncio.Event()
        self._active = asyncio.Event()
        self._snapshot_wakeup = asyncio.Event()
        self._follower_task: asyncio.Task[None] | None = None
        self._takeover_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._client_id = f"{self.topics.prefix}-{settings.worker_name}-{os.getpid()}"
        self._last_progress = time.monotonic()

    # -- plumbing ---------------------------------------------------------------------------

    async def _on(self, executor: ThreadPoolExecutor, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, call, *args)

    def _spawn(self, coroutine: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    @property
    def _admin(self) -> AdminClient:
        if self._admin_client is None:
            self._admin_client = kafka_admin.admin_client(self.settings)
        return self._admin_client

    def _reply_topic_names(self) -> set[str]:
        prefix = self.topics.replies
        return {name for name in kafka_admin.topic_names(self._admin) if name.startswith(prefix)}

    @property
    def ready(self) -> bool:
        """Serving, or a standby whose recovery is complete."""
        return self.role in (Role.ACTIVE, Role.STANDBY)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover the table, then follow the journal until this worker takes over."""
        self.role = Role.RECOVERING
        log.info("msg=Recovering worker=%s dataDir=%s", self.settings.worker_name, self.table.path)
        report, catalog = await self._on(self._reader_thread, recover, self.settings, self.table)
        release_memory()
        self.recovery = report
        if catalog is not None:
            self._adopt_catalog(catalog)
        else:
            # A local recovery did not read the snapshots; do it now, without holding anything up.
            self.last_snapshot_seq = self.table.summary.seq
            self._spawn(self._scan_snapshots(), "scan-snapshots")
        self.metrics.recovery_seconds.labels(source=report.source).set(report.seconds)
        self.metrics.recovery_events.set(report.events_replayed)
        self.metrics.observe_summary(self.table.summary)
        log.info(
            "msg=Recovered source=%s seq=%d eventsReplayed=%d snapshotSeq=%s seconds=%.3f "
            "pipelines=%d",
            report.source,
            report.seq,
            report.events_replayed,
            report.snapshot_seq,
            report.seconds,
            self.table.summary.total_pipelines,
        )
        self.role = Role.STANDBY
        self.metrics.ready.set(1)
        self._recovered.set()
        self._spawn(self._snapshot_pump(), "snapshot-pump")
        if self.settings.stall_restart_seconds > 0:
            self._spawn(self._watchdog(), "watchdog")
        if self.owns_partition:
            self._schedule_takeover()
        else:
            self._start_following()

    def _adopt_catalog(self, catalog: snapshots.SnapshotCatalog) -> None:
        self.catalog.merge(catalog)
        for entry in self.catalog.entries.values():
            entry.chunks = None
        complete = self.catalog.complete()
        if complete:
            self.last_snapshot_seq = max(self.last_snapshot_seq, complete[0].seq)

    async def _scan_snapshots(self) -> None:
        def scan() -> snapshots.SnapshotCatalog:
            consumer = committed_consumer(self.settings, "snapshots")
            try:
                return snapshots.scan(consumer, self.topics.snapshots, keep_chunks=False)
            finally:
                consumer.close()

        try:
            catalog = await self._on(self._metrics_thread, scan)
        except Exception as exc:  # noqa: BLE001 - retention waits for the next start
            log.warning("msg=Snapshot scan failed error=%r", exc)
            return
        self._adopt_catalog(catalog)

    async def stop(self) -> None:
        self.role = Role.STOPPED
        self._active.clear()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        async with self._lock:
            await self._close_writer()
        self.table.flush()
        self.table.close()
        if self._lag_consumer is not None:
            self._lag_consumer.close()
        self._writer_thread.shutdown(wait=False)
        self._reader_thread.shutdown(wait=False)
        self._metrics_thread.shutdown(wait=False)
        log.info("msg=Stopped worker=%s", self.settings.worker_name)

    # -- ownership --------------------------------------------------------------------------

    def partitions_assigned(self, owns_commands: bool) -> None:
        """faust assigned partitions; take over if the commands partition is among them."""
        self.owns_partition = owns_commands
        if owns_commands and self._recovered.is_set():
            self._schedule_takeover()

    async def partitions_revoked(self) -> None:
        """faust revoked the partitions: become a standby (after the batch in flight)."""
        if not self.owns_partition:
            return
        self.owns_partition = False
        async with self._lock:
            if self.role in (Role.ACTIVE, Role.TAKING_OVER):
                await self._step_down("partition revoked")

    def _schedule_takeover(self) -> None:
        if self._takeover_task is None or self._takeover_task.done():
            self._takeover_task = self._spawn(self._take_over(), "take-over")

    async def _take_over(self) -> None:
        await self._recovered.wait()
        delay = 0.5
        while self.owns_partition and self.role != Role.ACTIVE:
            started = time.monotonic()
            try:
                async with self._lock:
                    if not self.owns_partition or self.role == Role.STOPPED:
                        return
                    await self._become_active()
            except Exception as exc:  # noqa: BLE001 - a Kafka client error of any kind: retry
                log.warning("msg=Take-over failed, retrying error=%r", exc)
            else:
                log.info(
                    "msg=Serving role=active seq=%d nextCommandOffset=%s takeoverSeconds=%.3f",
                    self.table.summary.seq,
                    self.next_offset,
                    time.monotonic() - started,
                )
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _become_active(self) -> None:
        self.role = Role.TAKING_OVER
        self.metrics.ready.set(0)
        await self._stop_following()
        writer = JournalWriter(self.settings, self._client_id)
        try:
            # From here on, a former owner can no longer commit anything.
            await self._on(self._writer_thread, writer.start)
            replayed = await self._on(self._reader_thread, self._catch_up)
            committed = await self._on(self._reader_thread, self._read_progress)
        except BaseException:
            await self._on(self._writer_thread, writer.close)
            self.role = Role.STANDBY
            self.metrics.ready.set(1)
            self._start_following()
            raise
        after_last_event = self.table.meta.command_offset + 1
        self.next_offset = max(committed or 0, after_last_event)
        if committed is not None and committed < after_last_event:
            log.warning(
                "msg=Progress offset behind the journal committed=%d journal=%d",
                committed,
                after_last_event,
            )
        self._writer = writer
        self._last_progress = time.monotonic()
        self.role = Role.ACTIVE
        self.metrics.active.set(1)
        self.metrics.ready.set(1)
        self.metrics.observe_summary(self.table.summary)
        if replayed:
            log.info("msg=Caught up on take-over eventsReplayed=%d", replayed)
        self._active.set()
        self._maybe_snapshot()

    def _read_progress(self) -> int | None:
        consumer = committed_consumer(self.settings, "progress")
        try:
            raw = last_value(consumer, self.topics.progress)
        finally:
            consumer.close()
        return None if raw is None else int(json.loads(raw)["nextCommandOffset"])

    def _catch_up(self) -> int:
        consumer = committed_consumer(self.settings, "takeover")
        try:
            return catch_up(self.settings, self.table, consumer)
        finally:
            consumer.close()

    async def _step_down(self, reason: str) -> None:
        """Stop writing (the lock is held by the caller) and follow the journal again."""
        log.warning("msg=Stepping down reason=%s seq=%d", reason, self.table.summary.seq)
        self._active.clear()
        self._snapshot = None
        await self._close_writer()
        self.metrics.active.set(0)
        if self.role != Role.STOPPED:
            self.role = Role.STANDBY
            self._start_following()

    async def _close_writer(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await self._on(self._writer_thread, writer.close)

    # -- standby ----------------------------------------------------------------------------

    def _start_following(self) -> None:
        if self._follower_task is None or self._follower_task.done():
            self._follower_task = self._spawn(self._follow(), "follow-journal")

    async def _stop_following(self) -> None:
        task, self._follower_task = self._follower_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _follow(self) -> None:
        follower = await self._on(self._reader_thread, Follower, self.settings, self.table)
        try:
            while self.role == Role.STANDBY:
                records = await self._on(self._reader_thread, follower.poll, 0.5)
                if records and self.role == Role.STANDBY:
                    follower.fold(records)
                    self.metrics.observe_summary(self.table.summary)
        finally:
            await self._on(self._reader_thread, follower.close)

    # -- applying commands ------------------------------------------------------------------

    async def handle(self, messages: Sequence[CommandMessage]) -> None:
        """Apply one batch from the commands partition; return only once it is committed.

        Nothing may escape from here: faust acknowledges the messages of an agent that raises,
        and a later batch would then be applied over a hole. An error that is not handled below
        ends the process instead; its restart resumes after the last committed command.
        """
        while True:
            await self._active.wait()
            async with self._lock:
                if self.role != Role.ACTIVE or self._writer is None:
                    continue
                try:
                    done = await self._apply(messages)
                except asyncio.CancelledError:
                    raise
                except BaseException:
                    log.critical("msg=Batch failed unexpectedly; exiting", exc_info=True)
                    os._exit(EXIT_JOURNAL_FAILURE)
                if done:
                    return

    async def _apply(self, messages: Sequence[CommandMessage]) -> bool:
        """True when the batch is done (committed or already applied); False when fenced."""
        assert self.next_offset is not None
        fresh = [message for message in messages if message.offset >= self.next_offset]
        if not fresh:
            return True
        if fresh[0].offset > self.next_offset:
            log.warning(
                "msg=Commands skipped by the consumer expected=%d got=%d",
                self.next_offset,
                fresh[0].offset,
            )
        incoming = [Incoming(m.offset, m.key, m.value) for m in fresh]
        decoded = [decode(item, self.settings.max_command_bytes) for item in incoming]
        try:
            result = await self._commit(incoming, decoded)
        except FencedError as exc:
            await self._step_down(f"fenced: {exc}")
            return False
        except JournalError:
            log.critical(
                "msg=Journal write failed and cannot be retried; exiting so that a restart "
                "resumes from the last committed command",
                exc_info=True,
            )
            os._exit(EXIT_JOURNAL_FAILURE)
        self._applied(result, fresh)
        return True

    async def _commit(
        self, incoming: list[Incoming], decoded: list[Command | DecodeError]
    ) -> BatchResult:
        assert self._writer is not None
        writer = self._writer
        attempt = 0
        refused: dict[str, str] = {}
        while True:
            wanted = reply_topics_wanted(decoded, self.topics.replies)
            try:
                existing = await self._reply_topics.resolve(wanted)
            except Exception as exc:  # noqa: BLE001 - the broker is unreachable: wait for it
                attempt += 1
                log.warning("msg=Cannot list reply topics, retrying error=%s", exc)
                await asyncio.sleep(min(5.0, 0.1 * 2**attempt))
                continue
            builder = BatchBuilder(
                self.settings, self.table, self._context(), existing.__contains__, refused.get
            )
            for item, command in zip(incoming, decoded, strict=True):
                builder.add(item, command)
            result = builder.result
            try:
                last_event = await self._on(
                    self._writer_thread, writer.write, result.records, result.next_offset
                )
            except RetryBatch as retry:
                attempt += 1
                self._reply_topics.forget()
                replies = {
                    t: why for t, why in retry.rejected.items() if t.startswith(self.topics.replies)
                }
                if replies:
                    # Leave those replies out (their commands are dead-lettered instead): the
                    # same records would be refused again and stop the stream.
                    log.warning(
                        "msg=Reply topics refuse replies topics=%s", ",".join(sorted(replies))
                    )
                    refused.update(replies)
                    continue
                if len(retry.rejected) and attempt >= MAX_REJECTED_ATTEMPTS:
                    raise JournalError(f"records refused for good: {retry.rejected}") from retry
                await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
                continue
            if result.changes:
                if last_event is None:
                    raise JournalError("events were committed but no offset was reported")
                self.table.apply(result.changes, last_event, result.last_event_command_offset)
            return result

    def _context(self) -> Context:
        return context_for(self.settings, datetime.now(UTC))

    def _applied(self, result: BatchResult, messages: Sequence[CommandMessage]) -> None:
        assert result.next_offset is not None
        self.next_offset = result.next_offset
        self._last_progress = time.monotonic()
        now = time.time()
        for message in messages:
            self.metrics.latency.observe(max(0.0, now - message.timestamp))
        for outcome in result.outcomes:
            observe(outcome, self.metrics)
        self.metrics.batches.inc()
        self.metrics.observe_summary(self.table.summary)
        log.debug(
            "msg=Batch committed commands=%d events=%d records=%d seq=%d",
            len(messages),
            len(result.changes),
            len(result.records),
            self.table.summary.seq,
        )
        self._maybe_snapshot()

    # -- liveness ----------------------------------------------------------------------------

    async def _watchdog(self) -> None:
        """Restart when the active worker's consumer stops delivering commands that are there.

        faust's consumer does not always resume after a long broker outage (faust-streaming
        issues #175, #523): it reconnects but fetches nothing. A restart is cheap (the state is
        local and in Kafka), so a stalled active worker exits with code 75 for its supervisor
        (``ops/run.sh``, the compose restart policy, systemd, Kubernetes) to start it again.
        """
        limit = self.settings.stall_restart_seconds
        while True:
            await asyncio.sleep(WATCHDOG_SECONDS)
            if self.role != Role.ACTIVE or self._lock.locked():
                continue
            stalled = time.monotonic() - self._last_progress
            if stalled < limit:
                continue
            lag = await self.commands_lag()
            if lag:
                log.critical(
                    "msg=Commands wait but none arrive; restarting lag=%d stalledSeconds=%.0f",
                    lag,
                    stalled,
                )
                os._exit(EXIT_RESTART)
            self._last_progress = time.monotonic()

    # -- snapshots --------------------------------------------------------------------------

    def _maybe_snapshot(self) -> None:
        seq = self.table.summary.seq
        if self._snapshot is None and seq - self.last_snapshot_seq >= self.settings.snapshot_every:
            self._snapshot = snapshots.SnapshotRun(
                self.table, self.topics.snapshots, format_timestamp(datetime.now(UTC))
            )
            self._snapshot_started = time.monotonic()
            self._snapshot_wakeup.set()

    async def _snapshot_pump(self) -> None:
        """Write the snapshot in progress one chunk per transaction, between batches."""
        while True:
            await self._snapshot_wakeup.wait()
            self._snapshot_wakeup.clear()
            while True:
                async with self._lock:
                    run = self._snapshot
                    if run is None or self.role != Role.ACTIVE or self._writer is None:
                        break
                    try:
                        await self._write_snapshot_step(run, self._writer)
                    except Exception:  # snapshots are an optimisation: never stop taking them
                        log.exception("msg=Snapshot abandoned seq=%d", run.seq)
                        self._snapshot = None
                await asyncio.sleep(0)

    async def _write_snapshot_step(self, run: snapshots.SnapshotRun, writer: JournalWriter) -> None:
        records = run.next_records()
        try:
            await self._on(self._writer_thread, writer.write, records, None)
        except RetryBatch:
            log.warning("msg=Snapshot abandoned seq=%d reason=transaction aborted", run.seq)
            self._snapshot = None
            return
        except FencedError as exc:
            await self._step_down(f"fenced: {exc}")
            return
        except JournalError:
            log.exception("msg=Snapshot abandoned seq=%d", run.seq)
            self._snapshot = None
            return
        if not run.done:
            return
        self._snapshot = None
        self.last_snapshot_seq = run.seq
        self.catalog.add_written(run)
        self.metrics.snapshots.inc()
        seconds = time.monotonic() - self._snapshot_started
        self.metrics.snapshot_seconds.observe(seconds)
        log.info(
            "msg=Snapshot written seq=%d pipelines=%d chunks=%d bytes=%d seconds=%.3f",
            run.seq,
            run.counts["pipelines"],
            run.chunks,
            run.bytes_written,
            seconds,
        )
        await self._expire_snapshots(writer)
        # The snapshot's chunks went through the producer; give their memory back (off the loop).
        await self._on(self._metrics_thread, trim_heap)
        self._maybe_snapshot()

    async def _expire_snapshots(self, writer: JournalWriter) -> None:
        expired = self.catalog.expired(self.settings.snapshots_kept)
        if not expired:
            return
        records: list[OutRecord] = []
        for entry in expired:
            records.extend(snapshots.tombstones(self.topics.snapshots, entry))
        try:
            await self._on(self._writer_thread, writer.write, records, None)
        except (RetryBatch, JournalError) as exc:
            log.warning("msg=Snapshot deletion postponed reason=%s", exc)
            return
        except FencedError as exc:
            await self._step_down(f"fenced: {exc}")
            return
        for entry in expired:
            self.catalog.forget(entry)
        log.info("msg=Snapshots deleted seqs=%s", ",".join(str(entry.seq) for entry in expired))
        if self.settings.delete_events_on_snapshot:
            kept = self.catalog.complete()[: self.settings.snapshots_kept]
            if len(kept) == self.settings.snapshots_kept:
                oldest = min(entry.events_offset for entry in kept)
                if oldest >= 0:
                    self._spawn(self._delete_events_before(oldest + 1), "delete-events")

    async def _delete_events_before(self, offset: int) -> None:
        try:
            await self._on(
                self._reader_thread,
                kafka_admin.delete_before,
                self._admin,
                self.topics.events,
                offset,
            )
            log.info("msg=Events deleted beforeOffset=%d", offset)
        except Exception as exc:  # noqa: BLE001 - optional housekeeping; retried next snapshot
            log.warning("msg=Event deletion failed beforeOffset=%d error=%r", offset, exc)

    # -- reads for the HTTP views and metrics -----------------------------------------------

    async def commands_lag(self) -> int | None:
        """Commands on the topic not yet applied (only the active worker knows)."""
        if self.role != Role.ACTIVE or self.next_offset is None:
            return None
        if self._lag_consumer is None:
            self._lag_consumer = committed_consumer(self.settings, "lag")
        try:
            _low, high = await self._on(
                self._metrics_thread, watermarks, self._lag_consumer, self.topics.commands, 2.0
            )
        except Exception:  # noqa: BLE001 - a metric is not worth an error page
            return None
        return max(0, high - (self.next_offset or 0))
