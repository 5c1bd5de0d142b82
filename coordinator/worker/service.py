"""The worker's runtime: recovery, the standby and active roles, taking over, applying batches.

Every worker recovers its table, then follows the journal as a hot standby (``StandbyFollower``).
The worker whose command feed is assigned the commands partition takes over (``takeover``): it
initialises the journal writer (fencing any former owner), folds the last events in, reads from
the progress topic which commands are done, and has the feed deliver from there. Batches
(``BatchCommitter``) go through a ``CommitPipeline``, which decides one while the one before it
commits; the batches, snapshot chunks (``Snapshotter``) and role changes are serialised by its
lock, and each transaction starts once the one before has committed. Delivery is at-least-once
(nothing is committed to the consumer group); processing is effectively once, because a batch's
effects and its offset are committed in one transaction and commands below the committed offset
are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

from coordinator.config import Settings
from coordinator.kafka import admin as kafka_admin
from coordinator.kafka.records import OutRecord
from coordinator.kafka.writer import JournalWriter
from coordinator.store.table import StateTable
from coordinator.worker.committer import (
    EXIT_JOURNAL_FAILURE,
    BatchCommitter,
    exit_now,
)
from coordinator.worker.feed import CommandBatch, CommandFeed, FeedItem
from coordinator.worker.inflight import CommitPipeline
from coordinator.worker.lag import CommandsLag
from coordinator.worker.memory import collect_less_often, release_memory, tune_collector
from coordinator.worker.metrics import Metrics
from coordinator.worker.observe import log_and_count_commit
from coordinator.worker.processing import BatchResult
from coordinator.worker.recovery import RecoveryReport, announce, recover
from coordinator.worker.replytopics import ReplyTopics
from coordinator.worker.roles import Role, RoleState
from coordinator.worker.snapshotter import Snapshotter
from coordinator.worker.standby import StandbyFollower
from coordinator.worker.takeover import open_journal, resume_journal
from coordinator.worker.threads import WorkerThreads
from coordinator.worker.ticker import Ticker
from coordinator.worker.watchdog import watch

log = logging.getLogger("coordinator")

RETAKE_DELAY_SECONDS = 0.5
"""After a step-down while the partition is still this worker's, wait this long before taking
over again (a former owner whose revocation is still on its way then gives up first)."""


class CoordinatorService:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics | None = None,
        exit_process: Callable[[int], NoReturn] = exit_now,
    ) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.metrics = metrics if metrics is not None else Metrics(settings.limits)
        self.table = StateTable(settings.worker_dir / "state")
        self.roles = RoleState(self.metrics)
        self.recovery: RecoveryReport | None = None
        self.next_offset: int | None = None
        self.feed: CommandFeed | None = None
        self._exit = exit_process
        self._threads = WorkerThreads()
        self._writer: JournalWriter | None = None
        self._kept_writer: JournalWriter | None = None
        self._generation = -1
        self._lag = CommandsLag(settings, self._threads)
        self._admin = kafka_admin.LazyAdmin(settings)
        reply_topics = ReplyTopics(
            lambda: self._admin.topic_names_under(self.topics.replies),
            settings.reply_topic_wait_ms / 1e3,
        )
        self.committer = BatchCommitter(
            settings,
            self.table,
            reply_topics,
            write=self._write,
            write_replies=self._write_replies,
            exit_process=exit_process,
        )
        self.snapshots = Snapshotter(
            settings, self.table, self.metrics, self._threads, admin=self._admin, spawn=self._spawn
        )
        self.standby = StandbyFollower(
            settings,
            self.table,
            self.metrics,
            self._threads,
            spawn=self._spawn,
            following=lambda: self.roles.role is Role.STANDBY,
        )
        self._pipeline = CommitPipeline(
            self.committer,
            self.table,
            committed=self._applied,
            step_down=self._step_down,
            exit_process=exit_process,
            spawn=self._spawn,
        )
        self._recovered = asyncio.Event()
        self._takeover_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._client_id = f"{self.topics.prefix}-{settings.worker_name}-{os.getpid()}"
        self._last_progress = time.monotonic()

    # -- plumbing ---------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _write(
        self, writer: JournalWriter, records: Sequence[OutRecord], next_offset: int | None
    ) -> int | None:
        return await self._threads.on_writer(writer.write, records, next_offset)

    async def _write_replies(self, writer: JournalWriter, records: Sequence[OutRecord]) -> None:
        await self._threads.on_writer(writer.write_replies, records)

    def _serving_writer(self) -> JournalWriter | None:
        """The journal writer, while this worker serves (snapshot chunks need one)."""
        return self._writer if self.roles.active else None

    @property
    def role(self) -> Role:
        return self.roles.role

    @property
    def ready(self) -> bool:
        """Serving, or a standby whose recovery is complete."""
        return self.roles.ready

    @property
    def owns_partition(self) -> bool:
        return self.feed is not None and self.feed.owns_partition

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover the table, then follow the journal until this worker takes over."""
        self.roles.enter(Role.RECOVERING)
        log.info("msg=Recovering worker=%s dataDir=%s", self.settings.worker_name, self.table.path)
        collect_less_often()
        report, catalog = await self._threads.on_reader(recover, self.settings, self.table)
        release_memory()
        tune_collector()
        self.recovery = report
        if catalog is not None:
            self.snapshots.adopt(catalog)
        else:
            # A local recovery did not read the snapshots; do it now, without holding anything up.
            self.snapshots.last_snapshot_seq = self.table.summary.seq
            self._spawn(self.snapshots.scan(), "scan-snapshots")
        announce(report, self.table, self.metrics)
        self.roles.enter(Role.STANDBY)
        self._recovered.set()
        self._spawn(
            self.snapshots.pump(self._pipeline.exclusive, self._serving_writer, self._step_down),
            "snapshot-pump",
        )
        if self.settings.stall_restart_seconds > 0:
            self._spawn(self._watchdog(), "watchdog")
        ticker = Ticker(self.settings, lambda: self.table.summary, lambda: self.roles.active)
        self._spawn(ticker.run(), "ticker")
        if self.owns_partition:
            self._schedule_takeover()
        else:
            self.standby.start()

    async def stop(self) -> None:
        self.roles.enter(Role.STOPPED)
        self._pipeline.stopped = True
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        async with self._pipeline.exclusive():
            await self._close_writer(also_kept=True)
        self.table.flush()
        self.table.close()
        self._lag.close()
        self._threads.shutdown()
        log.info("msg=Stopped worker=%s", self.settings.worker_name)

    # -- ownership (called by the command feed, on the event loop) ---------------------------

    def partition_assigned(self) -> None:
        if self._recovered.is_set():
            self._schedule_takeover()

    def partition_revoked(self, lost: bool) -> None:
        # At once, without the lock (a commit in flight may wait for a broker that is away):
        # no batch read so far is applied any more.
        self._generation = -1
        self._spawn(self._release(lost), "release")

    async def _release(self, lost: bool) -> None:
        async with self._pipeline.exclusive():
            if self.roles.role in (Role.ACTIVE, Role.TAKING_OVER):
                # A lost session (a long broker outage, a long pause) usually comes back to this
                # worker: keep the writer, so that taking over again needs one transaction only.
                reason = "partition revoked (session lost)" if lost else "partition revoked"
                await self._step_down(reason, keep_writer=lost)

    def _schedule_takeover(self, delay: float = 0.0) -> None:
        if self._takeover_task is None or self._takeover_task.done():
            self._takeover_task = self._spawn(self._take_over(delay), "take-over")

    async def _take_over(self, delay: float) -> None:
        await self._recovered.wait()
        await asyncio.sleep(delay)
        backoff = 0.5
        while self.owns_partition and self.roles.role is not Role.ACTIVE:
            started = time.monotonic()
            try:
                async with self._pipeline.exclusive():
                    if not self.owns_partition or self.roles.role is Role.STOPPED:
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
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _become_active(self) -> None:
        assert self.feed is not None
        self.roles.enter(Role.TAKING_OVER)
        await self.standby.stop()
        if await self._resume_kept_writer():
            return
        try:
            opened = await open_journal(self.settings, self.table, self._threads, self._client_id)
        except BaseException:
            self.roles.enter(Role.STANDBY)
            self.standby.start()
            raise
        self._serve(opened.writer, opened.next_offset)
        self.metrics.observe_summary(self.table.summary)
        if opened.replayed:
            log.info("msg=Caught up on take-over eventsReplayed=%d", opened.replayed)
        self.snapshots.maybe_start()

    async def _resume_kept_writer(self) -> bool:
        """Serve again with the writer kept from a lost session, if no one took over since."""
        kept, self._kept_writer = self._kept_writer, None
        if kept is None:
            return False
        if self.next_offset is None:
            await self._threads.on_writer(kept.close)
            return False
        if not await resume_journal(kept, self._threads, self.next_offset):
            return False
        self._serve(kept, self.next_offset)
        log.info(
            "msg=Ownership resumed with the kept journal writer seq=%d", self.table.summary.seq
        )
        return True

    def _serve(self, writer: JournalWriter, next_offset: int) -> None:
        """Enter the active role: commands from ``next_offset`` on are applied with ``writer``."""
        assert self.feed is not None
        self._writer = writer
        self.next_offset = next_offset
        self._last_progress = time.monotonic()
        self._generation = self.feed.read_from(next_offset)
        self.roles.enter(Role.ACTIVE)

    async def _step_down(self, reason: str, keep_writer: bool = False) -> None:
        """Stop writing (the lock is held by the caller) and follow the journal again.

        A worker that still owns the commands partition takes over again: it must never sit as
        a standby that owns the partition, since no other worker could then serve it.
        """
        log.warning("msg=Stepping down reason=%s seq=%d", reason, self.table.summary.seq)
        if self.feed is not None:
            self.feed.stop_reading()
        self._generation = -1
        self.snapshots.abandon()
        self.committer.forget_answered()
        if keep_writer and self._writer is not None:
            self._kept_writer, self._writer = self._writer, None
        await self._close_writer()
        if self.roles.role is Role.STOPPED:
            return
        self.roles.enter(Role.STANDBY)
        self.standby.start()
        if self.owns_partition:
            log.info("msg=Commands partition still assigned; taking over again")
            self._schedule_takeover(RETAKE_DELAY_SECONDS)

    async def _close_writer(self, also_kept: bool = False) -> None:
        writers = [self._writer, self._kept_writer if also_kept else None]
        self._writer = None
        if also_kept:
            self._kept_writer = None
        for writer in writers:
            if writer is not None:
                await self._threads.on_writer(writer.close)

    # -- applying commands ------------------------------------------------------------------

    async def handle(self, batch: CommandBatch) -> None:
        """Decide one batch from the command feed and start its commit; return once started.

        Its transaction starts once the batch before it has committed (``InFlight``); the feed
        delivers the next batch meanwhile, which is decided on the state this one leaves. A
        batch of an earlier generation (read before a step-down) is dropped: the take-over that
        followed reads those commands again from the progress topic's offset. Nothing else may
        escape from here; an error that is not handled below ends the process, and its restart
        resumes after the last committed command.
        """
        try:
            async with self._pipeline.lock:
                await self._decide_and_start(batch)
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.critical("msg=Batch failed unexpectedly; exiting", exc_info=True)
            self._exit(EXIT_JOURNAL_FAILURE)
        finally:
            if self.feed is not None:
                self.feed.batch_done()

    def _may_apply(self, batch: CommandBatch) -> bool:
        return (
            batch.generation == self._generation
            and self._writer is not None
            and self.roles.role is Role.ACTIVE
        )

    async def _decide_and_start(self, batch: CommandBatch) -> None:
        writer = self._writer
        if not self._may_apply(batch) or writer is None or self.next_offset is None:
            return
        start = self._pipeline.next_offset(self.next_offset)
        fresh = [item for item in batch.items if item.offset >= start]
        if not fresh:
            return
        if fresh[0].offset > start:
            # Compaction and transaction markers leave gaps in the offsets; worth a note only.
            log.debug("msg=Commands offsets skip expected=%d got=%d", start, fresh[0].offset)
        await self._pipeline.run(fresh, writer, lambda: self._may_apply(batch))

    def _applied(self, result: BatchResult, items: Sequence[FeedItem]) -> None:
        assert result.next_offset is not None
        self.next_offset = result.next_offset
        self._last_progress = time.monotonic()
        log_and_count_commit(result, items, self.metrics, self.table.summary)
        self.snapshots.maybe_start()

    # -- liveness ----------------------------------------------------------------------------

    async def _watchdog(self) -> None:
        await watch(self, self.settings.stall_restart_seconds, self._exit)

    @property
    def busy(self) -> bool:
        """A batch, a snapshot chunk or a role change is under way."""
        return self._pipeline.busy

    @property
    def seconds_since_progress(self) -> float:
        return time.monotonic() - self._last_progress

    def mark_progress(self) -> None:
        self._last_progress = time.monotonic()

    # -- reads for the HTTP views and metrics -----------------------------------------------

    async def commands_lag(self) -> int | None:
        """Commands on the topic not yet applied (only the active worker knows)."""
        if self.roles.role is not Role.ACTIVE or self.next_offset is None:
            return None
        return await self._lag.measure(self.next_offset)
