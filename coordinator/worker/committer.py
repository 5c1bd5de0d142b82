"""The batch committer: one batch of commands in, one committed transaction out.

It resolves the batch's reply topics, builds the records of the batch (``BatchBuilder``), writes
them with the progress record in one transaction, retries what can be retried, leaves out replies
that their topics refuse for good (their commands are dead-lettered instead), and writes the
table once the transaction has committed. Fencing and a broken producer are raised to the
caller, which steps down; an error that retrying cannot fix ends the process (``exit_process``,
injected so that the error paths can be tested), and its restart resumes after the last
committed command.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NoReturn

from coordinator.config import Settings
from coordinator.domain.codec import DecodeError
from coordinator.domain.commands import Command
from coordinator.domain.replies import ErrorCode, ErrorInfo
from coordinator.errors import JournalError
from coordinator.kafka.records import OutRecord, Record
from coordinator.kafka.writer import JournalWriter, RetryBatch
from coordinator.store.overlay import Overlay
from coordinator.store.table import StateTable
from coordinator.worker.feed import FeedItem, Unreadable
from coordinator.worker.processing import (
    BatchBuilder,
    BatchResult,
    context_for,
    decode,
    reply_topics_wanted,
)
from coordinator.worker.replytopics import ReplyTopics

log = logging.getLogger("coordinator")

EXIT_JOURNAL_FAILURE = 70
MAX_REJECTED_ATTEMPTS = 5
"""Batches whose journal or dead-letter records the broker refuses for good are given up on
after this many tries (the process exits)."""

UNMARKED_MAX = 1000
"""Most commands answered without a transaction before one marks their offsets done."""

Write = Callable[[JournalWriter, Sequence[OutRecord], int | None], Awaitable[int | None]]
WriteReplies = Callable[[JournalWriter, Sequence[OutRecord]], Awaitable[None]]


def exit_now(code: int) -> NoReturn:
    """End the process at once (no clean-up: a restart resumes after the last commit)."""
    os._exit(code)


def incoming_of(item: FeedItem) -> tuple[Record, Command | DecodeError | None]:
    """The record as the batch builder takes it; an unreadable one comes already decoded."""
    if isinstance(item, Unreadable):
        error = ErrorInfo(
            code=ErrorCode.UNREADABLE_RECORD,
            message=f"the record at offset {item.offset} could not be read: {item.code}: "
            f"{item.reason}"[:1024],
        )
        return Record(item.offset, None, None), DecodeError(error)
    return Record(item.offset, item.key, item.value, item.headers), None


@dataclass(slots=True)
class PreparedBatch:
    """A batch decided and built, not yet written: what its transaction will hold."""

    items: Sequence[FeedItem]
    incoming: list[Record]
    decoded: list[Command | DecodeError]
    result: BatchResult
    overlay: Overlay
    """The state after this batch: the next batch is decided on it while this one commits."""
    refused: dict[str, str] = field(default_factory=dict)
    rebuilt: bool = False
    """Its first build did not commit (the transaction aborted): a batch decided on
    ``overlay`` must be decided again."""

    @property
    def answers_only(self) -> bool:
        """Replies and nothing else: no event, no dead letter, nothing the journal must hold.

        (A batch of nothing at all, updates of unknown pipelines say, is a transaction with its
        progress record: there is no answer to hurry, and its offsets are marked at once.)"""
        records = self.result.records
        return (
            bool(records)
            and not self.result.changes
            and all(not record.is_event and record.is_reply for record in records)
        )


class BatchCommitter:
    def __init__(
        self,
        settings: Settings,
        table: StateTable,
        reply_topics: ReplyTopics,
        *,
        write: Write,
        write_replies: WriteReplies,
        exit_process: Callable[[int], NoReturn] = exit_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._table = table
        self._reply_prefix = settings.topics.replies
        self._reply_topics = reply_topics
        self._write = write
        self._write_replies = write_replies
        self._exit = exit_process
        self._sleep = sleep
        self.unmarked = 0
        """Commands answered since the last transaction, whose offsets the progress topic does
        not hold yet (a take-over answers them again)."""

    def decode(self, items: Sequence[FeedItem]) -> tuple[list[Record], list[Command | DecodeError]]:
        incoming: list[Record] = []
        decoded: list[Command | DecodeError] = []
        for item in items:
            record, known = incoming_of(item)
            incoming.append(record)
            decoded.append(
                known if known is not None else decode(record, self._settings.max_command_bytes)
            )
        return incoming, decoded

    async def commit(self, writer: JournalWriter, items: Sequence[FeedItem]) -> BatchResult:
        """Prepare and finish ``items`` in one go (nothing in flight before them)."""
        return await self.finish(writer, await self.prepare(items))

    async def prepare(
        self, items: Sequence[FeedItem], after: PreparedBatch | None = None
    ) -> PreparedBatch:
        """Decide ``items`` on the table, or on the state ``after`` a batch still committing."""
        incoming, decoded = self.decode(items)
        return await self._build(items, incoming, decoded, {}, after)

    async def _build(
        self,
        items: Sequence[FeedItem],
        incoming: list[Record],
        decoded: list[Command | DecodeError],
        refused: dict[str, str],
        after: PreparedBatch | None,
    ) -> PreparedBatch:
        wanted = reply_topics_wanted(decoded, self._reply_prefix)
        attempt = 0
        while True:
            try:
                existing = await self._reply_topics.resolve(wanted)
                break
            except Exception as exc:  # noqa: BLE001 - the broker is unreachable: wait for it
                attempt += 1
                log.warning("msg=Cannot list reply topics, retrying error=%s", exc)
                await self._sleep(min(5.0, 0.1 * 2**attempt))
        builder = BatchBuilder(
            self._settings,
            after.overlay if after is not None else self._table,
            context_for(self._settings, datetime.now(UTC)),
            existing.__contains__,
            refused.get,
        )
        for item, command in zip(incoming, decoded, strict=True):
            builder.add(item, command)
        return PreparedBatch(items, incoming, decoded, builder.result, builder.overlay, refused)

    async def finish(self, writer: JournalWriter, batch: PreparedBatch) -> BatchResult:
        """Write ``batch`` (nothing may be in flight before it) and apply it to the table.

        Raises ``FencedError`` or ``WriterBrokenError`` for the caller; ends the process on an
        error that retrying cannot fix.
        """
        try:
            return await self._finish(writer, batch)
        except JournalError:
            log.critical(
                "msg=Journal write failed and cannot be retried; exiting so that a restart "
                "resumes from the last committed command",
                exc_info=True,
            )
            self._exit(EXIT_JOURNAL_FAILURE)

    async def _finish(self, writer: JournalWriter, first: PreparedBatch) -> BatchResult:
        attempt = 0
        batch = first
        while True:
            result = batch.result
            try:
                last_event = await self._send(writer, batch)
            except RetryBatch as retry:
                attempt += 1
                first.rebuilt = True
                self._reply_topics.forget()
                refused = dict(batch.refused)
                replies = {
                    t: why for t, why in retry.rejected.items() if t.startswith(self._reply_prefix)
                }
                if replies:
                    # Leave those replies out (their commands are dead-lettered instead): the
                    # same records would be refused again and stop the stream.
                    log.warning(
                        "msg=Reply topics refuse replies topics=%s", ",".join(sorted(replies))
                    )
                    refused.update(replies)
                elif retry.rejected and attempt >= MAX_REJECTED_ATTEMPTS:
                    raise JournalError(f"records refused for good: {retry.rejected}") from retry
                else:
                    await self._sleep(min(2.0, 0.05 * 2**attempt))
                batch = await self._build(batch.items, batch.incoming, batch.decoded, refused, None)
                continue
            if result.changes:
                if last_event is None:
                    raise JournalError("events were committed but no offset was reported")
                self._table.apply(result.changes, last_event, result.last_event_command_offset)
            return result

    async def _send(self, writer: JournalWriter, batch: PreparedBatch) -> int | None:
        """One attempt: replies alone go out at once, anything else in a transaction.

        Answers change nothing, so they need no transaction: a take-over that reads their
        commands again (their offsets are marked done by the next transaction) answers them
        again, which replies allow. Their offsets are marked at least every ``UNMARKED_MAX``
        commands.
        """
        result = batch.result
        if batch.answers_only and self.unmarked + len(batch.items) <= UNMARKED_MAX:
            await self._write_replies(writer, result.records)
            self.unmarked += len(batch.items)
            return None
        last_event = await self._write(writer, result.records, result.next_offset)
        self.unmarked = 0
        return last_event

    def forget_answered(self) -> None:
        """A step-down: what this reign answered is no longer this worker's to mark."""
        self.unmarked = 0
