"""The commit pipeline: a batch is decided while the one before it commits.

A batch's transaction takes milliseconds of waiting for the broker. Meanwhile the worker decides
the next batch on an overlay over this one's changes (``PreparedBatch.overlay``), and starts its
transaction only once this one has committed. So the order of effects is the commands' order,
and nothing decided on uncommitted state is visible before that state has committed: replies
travel in their own batch's transaction, or (answers alone) are sent after it.

One lock serialises deciding a batch, snapshot chunks and role changes; ``exclusive()`` is that
lock with no commit in flight, for anything that writes or changes roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, NoReturn

from coordinator.errors import FencedError, WriterBrokenError
from coordinator.kafka.writer import JournalWriter
from coordinator.store.table import StateTable
from coordinator.worker.committer import EXIT_JOURNAL_FAILURE, BatchCommitter, PreparedBatch
from coordinator.worker.feed import FeedItem
from coordinator.worker.processing import BatchResult

log = logging.getLogger("coordinator")


class CommitPipeline:
    def __init__(
        self,
        committer: BatchCommitter,
        table: StateTable,
        *,
        committed: Callable[[BatchResult, Sequence[FeedItem]], None],
        step_down: Callable[[str], Awaitable[None]],
        exit_process: Callable[[int], NoReturn],
        spawn: Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]],
    ) -> None:
        self.lock = asyncio.Lock()
        self._committer = committer
        self._table = table
        self._committed = committed
        self._step_down = step_down
        self._exit = exit_process
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None
        self._batch: PreparedBatch | None = None
        self.stopped = False
        """Set on shutdown: a commit that ends is settled by whoever stops the worker."""

    @property
    def busy(self) -> bool:
        """Deciding a batch, committing one, or something else holding the lock."""
        return self.lock.locked() or self._task is not None

    def next_offset(self, committed: int) -> int:
        """Where the next batch starts: after the one in flight, else at ``committed``."""
        if self._batch is not None and self._batch.result.next_offset is not None:
            return self._batch.result.next_offset
        return committed

    async def run(
        self,
        items: Sequence[FeedItem],
        writer: JournalWriter,
        still_serving: Callable[[], bool],
    ) -> None:
        """Decide ``items`` and start their commit (the lock is held; returns once started)."""
        before = self._batch
        prepared = await self._committer.prepare(items, after=before)
        if not await self.settle() or not still_serving():
            return
        if before is not None and before.rebuilt:
            # The batch underneath was written otherwise than decided: decide again on the table.
            prepared = await self._committer.prepare(items)
        else:
            prepared.overlay.base = self._table  # what it was decided on has committed
        self._batch = prepared
        self._task = asyncio.get_running_loop().create_task(
            self._commit(writer, prepared), name="commit-batch"
        )
        self._task.add_done_callback(self._settle_soon)

    async def _commit(self, writer: JournalWriter, prepared: PreparedBatch) -> None:
        result = await self._committer.finish(writer, prepared)
        self._committed(result, prepared.items)

    def _settle_soon(self, task: asyncio.Task[None]) -> None:
        """A commit ended: settle it now unless the next batch or a role change does."""

        async def settle() -> None:
            async with self.lock:
                if self._task is task:
                    await self.settle()

        if not self.stopped:
            self._spawn(settle(), "settle-commit")

    async def settle(self) -> bool:
        """Wait for the commit in flight (the lock is held); False if the worker stepped down.

        Fencing and a broken writer step down; anything else ends the process. A caller
        cancelled while it waits leaves the commit running, and still in flight.
        """
        task = self._task
        if task is None:
            return True
        await asyncio.wait([task])
        if self._task is task:
            self._task = None
            self._batch = None
        try:
            task.result()
        except (FencedError, WriterBrokenError) as exc:
            await self._step_down(f"fenced: {exc}")
            return False
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.critical("msg=Batch commit failed unexpectedly; exiting", exc_info=True)
            self._exit(EXIT_JOURNAL_FAILURE)
        return True

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """The lock, with no commit in flight: for snapshot chunks and role changes."""
        async with self.lock:
            await self.settle()
            yield
