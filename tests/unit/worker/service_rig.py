"""A ``CoordinatorService`` without Kafka, for the tests of its roles and of its batches.

The command feed is a fake, the journal writer a fake, the committer's ``prepare`` and ``finish``
and the take-over's ``_become_active`` are replaced, and the standby follower is not started.
``service.handle`` returns once a batch's commit has started; ``Rig.handle`` also waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from coordinator.store.overlay import Overlay
from coordinator.worker.committer import PreparedBatch
from coordinator.worker.feed import CommandBatch, CommandRecord, FeedItem
from coordinator.worker.processing import BatchResult
from coordinator.worker.roles import Role
from coordinator.worker.service import CoordinatorService

WAIT = 5.0


class ProcessExit(Exception):  # noqa: N818 - stands in for the process ending
    pass


class FakeFeed:
    def __init__(self, owns: bool = True) -> None:
        self.owns_partition = owns
        self.calls: list[tuple[str, int | None]] = []
        self._generation = 0

    def read_from(self, offset: int) -> int:
        self._generation += 1
        self.calls.append(("read_from", offset))
        return self._generation

    def stop_reading(self) -> None:
        self._generation += 1
        self.calls.append(("stop_reading", None))

    def batch_done(self) -> None:
        self.calls.append(("batch_done", None))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class FakeWriter:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class Rig:
    """A service that is active with generation 1, a fake feed and a fake writer."""

    def __init__(self, service: CoordinatorService, exits: list[int]) -> None:
        self.service = service
        self.exits = exits
        self.feed = FakeFeed()
        self.writer = FakeWriter()
        self.commits: list[list[FeedItem]] = []
        self.commit_error: BaseException | None = None
        self.prepares: list[tuple[list[int], PreparedBatch | None]] = []
        self.hold: asyncio.Event | None = None
        """Set: a commit waits for it before it ends."""
        self.rebuild_next = False
        self.become_active_calls = 0
        self.standby_starts = 0
        self.reactivated = asyncio.Event()

        service.feed = self.feed  # type: ignore[assignment]
        service._writer = self.writer  # type: ignore[assignment]
        service.next_offset = 0
        service._recovered.set()
        service.roles.enter(Role.ACTIVE)
        service._generation = self.feed.read_from(0)
        service.committer.prepare = self.prepare  # type: ignore[method-assign]
        service.committer.finish = self.finish  # type: ignore[method-assign]
        service._become_active = self.become_active  # type: ignore[method-assign]
        service.standby.start = self.start_standby  # type: ignore[method-assign]

    async def prepare(
        self, items: Sequence[FeedItem], after: PreparedBatch | None = None
    ) -> PreparedBatch:
        self.prepares.append(([item.offset for item in items], after))
        base = after.overlay if after is not None else self.service.table
        result = BatchResult(next_offset=items[-1].offset + 1)
        return PreparedBatch(list(items), [], [], result, Overlay(base))

    async def finish(self, writer: Any, batch: PreparedBatch) -> BatchResult:
        assert writer is self.writer
        self.commits.append(list(batch.items))
        if self.hold is not None:
            await self.hold.wait()
        if self.rebuild_next:
            self.rebuild_next = False
            batch.rebuilt = True
        if self.commit_error is not None:
            raise self.commit_error
        return batch.result

    async def settled(self) -> None:
        """Wait until no commit is in flight (a commit that ends the process ends here)."""
        with contextlib.suppress(ProcessExit):
            async with self.service._pipeline.exclusive():
                pass

    async def handle(self, batch: CommandBatch) -> None:
        """Hand ``batch`` to the service and wait for its commit."""
        await self.service.handle(batch)
        await self.settled()

    async def become_active(self) -> None:
        """What a take-over ends with: a new writer, delivery from ``next_offset``, active."""
        self.become_active_calls += 1
        service = self.service
        assert service.next_offset is not None
        service.roles.enter(Role.TAKING_OVER)
        self.writer = FakeWriter()
        service._writer = self.writer  # type: ignore[assignment]
        service._generation = self.feed.read_from(service.next_offset)
        service.roles.enter(Role.ACTIVE)
        self.reactivated.set()

    def start_standby(self) -> None:
        self.standby_starts += 1

    def batch(self, *offsets: int, generation: int | None = None) -> CommandBatch:
        items = [CommandRecord(o, b"k", b"{}", timestamp=0.0) for o in offsets]
        return CommandBatch(self.service._generation if generation is None else generation, items)


def exit_recorder(exits: list[int]) -> Callable[[int], NoReturn]:
    def exit_process(code: int) -> NoReturn:
        exits.append(code)
        raise ProcessExit(code)

    return exit_process
