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
from datetime import UTC, datetime
from typing import NoReturn

from coordinator.config import Settings
from coordinator.domain.codec import DecodeError
from coordinator.domain.commands import Command
from coordinator.domain.replies import ErrorCode, ErrorInfo
from coordinator.errors import JournalError
from coordinator.kafka.writer import JournalWriter, OutRecord, RetryBatch
from coordinator.store.table import StateTable
from coordinator.worker.feed import FeedItem, Unreadable
from coordinator.worker.processing import (
    BatchBuilder,
    BatchResult,
    Incoming,
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

Write = Callable[[JournalWriter, Sequence[OutRecord], int | None], Awaitable[int | None]]


def exit_now(code: int) -> NoReturn:
    """End the process at once (no clean-up: a restart resumes after the last commit)."""
    os._exit(code)


def incoming_of(item: FeedItem) -> tuple[Incoming, Command | DecodeError | None]:
    """The record as the batch builder takes it; an unreadable one comes already decoded."""
    if isinstance(item, Unreadable):
        error = ErrorInfo(
            code=ErrorCode.UNREADABLE_RECORD,
            message=f"the record at offset {item.offset} could not be read: {item.code}: "
            f"{item.reason}"[:1024],
        )
        return Incoming(item.offset, None, None), DecodeError(error)
    return Incoming(item.offset, item.key, item.value, item.headers), None


class BatchCommitter:
    def __init__(
        self,
        settings: Settings,
        table: StateTable,
        reply_topics: ReplyTopics,
        *,
        write: Write,
        exit_process: Callable[[int], NoReturn] = exit_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._table = table
        self._reply_prefix = settings.topics.replies
        self._reply_topics = reply_topics
        self._write = write
        self._exit = exit_process
        self._sleep = sleep

    def decode(
        self, items: Sequence[FeedItem]
    ) -> tuple[list[Incoming], list[Command | DecodeError]]:
        incoming: list[Incoming] = []
        decoded: list[Command | DecodeError] = []
        for item in items:
            record, known = incoming_of(item)
            incoming.append(record)
            decoded.append(
                known if known is not None else decode(record, self._settings.max_command_bytes)
            )
        return incoming, decoded

    async def commit(self, writer: JournalWriter, items: Sequence[FeedItem]) -> BatchResult:
        """Commit ``items``; raises ``FencedError`` or ``WriterBrokenError`` for the caller."""
        incoming, decoded = self.decode(items)
        try:
            return await self._commit(writer, incoming, decoded)
        except JournalError:
            log.critical(
                "msg=Journal write failed and cannot be retried; exiting so that a restart "
                "resumes from the last committed command",
                exc_info=True,
            )
            self._exit(EXIT_JOURNAL_FAILURE)

    async def _commit(
        self,
        writer: JournalWriter,
        incoming: list[Incoming],
        decoded: list[Command | DecodeError],
    ) -> BatchResult:
        attempt = 0
        refused: dict[str, str] = {}
        wanted = reply_topics_wanted(decoded, self._reply_prefix)
        while True:
            try:
                existing = await self._reply_topics.resolve(wanted)
            except Exception as exc:  # noqa: BLE001 - the broker is unreachable: wait for it
                attempt += 1
                log.warning("msg=Cannot list reply topics, retrying error=%s", exc)
                await self._sleep(min(5.0, 0.1 * 2**attempt))
                continue
            builder = BatchBuilder(
                self._settings,
                self._table,
                context_for(self._settings, datetime.now(UTC)),
                existing.__contains__,
                refused.get,
            )
            for item, command in zip(incoming, decoded, strict=True):
                builder.add(item, command)
            result = builder.result
            try:
                last_event = await self._write(writer, result.records, result.next_offset)
            except RetryBatch as retry:
                attempt += 1
                self._reply_topics.forget()
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
                    continue
                if retry.rejected and attempt >= MAX_REJECTED_ATTEMPTS:
                    raise JournalError(f"records refused for good: {retry.rejected}") from retry
                await self._sleep(min(2.0, 0.05 * 2**attempt))
                continue
            if result.changes:
                if last_event is None:
                    raise JournalError("events were committed but no offset was reported")
                self._table.apply(result.changes, last_event, result.last_event_command_offset)
            return result
