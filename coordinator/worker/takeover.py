"""What taking over the journal does on Kafka: fence the former owner, catch up, find the offset.

``open_journal`` is the full take-over: it initialises the journal writer's transactional id
(from then on a former owner can commit nothing), folds the journal's last events into the
table and reads from the progress topic which commands are done. ``resume_journal`` is the
short one, after a lost session whose writer was kept: one transaction holding only the progress
record commits only if no other worker took the transactional id meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from coordinator.config import Settings
from coordinator.kafka.writer import JournalWriter
from coordinator.store.table import StateTable
from coordinator.worker.recovery import catch_up_to_end, read_progress
from coordinator.worker.threads import WorkerThreads

log = logging.getLogger("coordinator")


@dataclass(frozen=True, slots=True)
class OpenedJournal:
    writer: JournalWriter
    next_offset: int
    """The first command not yet applied."""
    replayed: int
    """Journal events folded in that the standby had not followed yet."""


async def open_journal(
    settings: Settings, table: StateTable, threads: WorkerThreads, client_id: str
) -> OpenedJournal:
    """Start a journal writer and bring the table to the journal's end; close it on failure."""
    writer = JournalWriter(settings, client_id)
    try:
        await threads.on_writer(writer.start)
        replayed = await threads.on_reader(catch_up_to_end, settings, table)
        committed = await threads.on_reader(read_progress, settings)
    except BaseException:
        await threads.on_writer(writer.close)
        raise
    after_last_event = table.meta.command_offset + 1
    if committed is not None and committed < after_last_event:
        log.warning(
            "msg=Progress offset behind the journal committed=%d journal=%d",
            committed,
            after_last_event,
        )
    return OpenedJournal(writer, max(committed or 0, after_last_event), replayed)


async def resume_journal(writer: JournalWriter, threads: WorkerThreads, next_offset: int) -> bool:
    """Commit a transaction holding only the progress record; on any failure close the writer."""
    try:
        await threads.on_writer(writer.write, [], next_offset)
    except Exception as exc:  # noqa: BLE001 - fenced, or anything else: take over in full
        log.info("msg=Kept journal writer unusable; taking over in full reason=%s", exc)
        await threads.on_writer(writer.close)
        return False
    return True
