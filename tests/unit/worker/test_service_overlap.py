"""A batch is decided while the one before it commits, and written only after it has committed.

The service runs without Kafka, in the rig of ``service_rig``; a commit can be held open
(``Rig.hold``) to see what happens while it is in flight.
"""

from __future__ import annotations

import asyncio
from typing import Any

from coordinator.errors import FencedError
from coordinator.worker.roles import Role
from tests.unit.worker.service_rig import WAIT, Rig


async def until(condition: Any) -> None:
    """Let the event loop run until ``condition()`` holds (at most ``WAIT`` seconds)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), WAIT)


async def second_decided_while_first_commits(rig: Rig) -> None:
    """Batch 0 commits (held open) while batch 1 is decided; then both are settled."""
    await rig.service.handle(rig.batch(0))
    second = asyncio.create_task(rig.service.handle(rig.batch(1)))
    await until(lambda: len(rig.prepares) == 2)

    rig.hold.set()
    await asyncio.wait_for(second, WAIT)
    await rig.settled()


def test_the_next_batch_is_decided_on_the_one_in_flight_and_written_after_it(
    scenario: Any,
) -> None:
    async def body(rig: Rig) -> None:
        rig.hold = asyncio.Event()
        service = rig.service

        await service.handle(rig.batch(0, 1))
        assert service.busy  # its commit is in flight, the lock is free
        assert not service._pipeline.lock.locked()
        first = service._pipeline._batch
        assert first is not None

        second = asyncio.create_task(service.handle(rig.batch(2, 3)))
        await until(lambda: len(rig.prepares) == 2)
        # Decided on the state the first batch leaves, before the first has committed...
        assert rig.prepares[1] == ([2, 3], first)
        # ...and not written yet.
        assert [[i.offset for i in items] for items in rig.commits] == [[0, 1]]
        assert not second.done()

        rig.hold.set()
        await asyncio.wait_for(second, WAIT)
        await rig.settled()

        assert [[i.offset for i in items] for items in rig.commits] == [[0, 1], [2, 3]]
        assert service.next_offset == 4
        assert not service.busy

    scenario(body)


def test_the_next_batch_takes_the_offsets_after_the_one_in_flight(scenario: Any) -> None:
    async def body(rig: Rig) -> None:
        rig.hold = asyncio.Event()
        await rig.service.handle(rig.batch(0, 1, 2))
        assert rig.service.next_offset == 0  # nothing committed yet

        # Delivered again (a feed that read the same records twice): only 3 is new.
        second = asyncio.create_task(rig.service.handle(rig.batch(1, 2, 3)))
        await until(lambda: len(rig.prepares) == 2)
        assert rig.prepares[1][0] == [3]

        rig.hold.set()
        await asyncio.wait_for(second, WAIT)
        await rig.settled()
        assert rig.service.next_offset == 4

    scenario(body)


def test_a_batch_decided_on_a_batch_written_otherwise_is_decided_again(scenario: Any) -> None:
    async def body(rig: Rig) -> None:
        rig.hold = asyncio.Event()
        rig.rebuild_next = True  # the first batch's transaction aborts and is rebuilt
        await second_decided_while_first_commits(rig)

        # Decided once on the first batch's state, then again on the table alone.
        assert [(offsets, after is None) for offsets, after in rig.prepares] == [
            ([0], True),
            ([1], False),
            ([1], True),
        ]
        assert [[i.offset for i in items] for items in rig.commits] == [[0], [1]]

    scenario(body)


def test_a_batch_decided_while_the_one_before_is_fenced_is_never_written(
    scenario: Any, no_retake_delay: None
) -> None:
    async def body(rig: Rig) -> None:
        rig.hold = asyncio.Event()
        rig.feed.owns_partition = False
        rig.commit_error = FencedError("another worker took over")
        await second_decided_while_first_commits(rig)

        assert [[i.offset for i in items] for items in rig.commits] == [[0]]
        assert rig.service.role is Role.STANDBY
        assert rig.service.next_offset == 0
        assert rig.exits == []

    scenario(body)


def test_a_commit_that_ends_with_no_batch_after_it_is_settled_on_its_own(
    scenario: Any, no_retake_delay: None
) -> None:
    async def body(rig: Rig) -> None:
        rig.feed.owns_partition = False
        rig.commit_error = FencedError("fenced")

        await rig.service.handle(rig.batch(0))
        await until(lambda: rig.service.role is Role.STANDBY)

        assert not rig.service.busy
        assert rig.service._writer is None

    scenario(body)


def test_a_revocation_waits_for_the_commit_in_flight(scenario: Any) -> None:
    async def body(rig: Rig) -> None:
        rig.hold = asyncio.Event()
        await rig.service.handle(rig.batch(0, 1))
        rig.feed.owns_partition = False
        rig.service.partition_revoked(lost=False)
        for _ in range(20):
            await asyncio.sleep(0)
        assert rig.service.role is Role.ACTIVE  # the release waits for the commit

        rig.hold.set()
        await until(lambda: rig.service.role is Role.STANDBY)
        assert rig.service.next_offset == 2  # the commit counted before stepping down

    scenario(body)
