"""The service's roles, and what it does with a batch: stepping down, taking over again, dropping.

The service runs without Kafka, in the rig of ``service_rig`` (fixtures in ``conftest``).
"""

from __future__ import annotations

import asyncio
from itertools import product
from typing import Any

import pytest

from coordinator.errors import FencedError, WriterBrokenError
from coordinator.worker import service as service_module
from coordinator.worker.metrics import Metrics
from coordinator.worker.roles import READY_ROLES, Role, RoleState
from coordinator.worker.service import EXIT_JOURNAL_FAILURE
from tests.unit.worker.service_rig import WAIT, Rig


def gauges(metrics: Metrics) -> tuple[float | None, float | None]:
    registry = metrics.registry
    return registry.get_sample_value("coordinator_ready"), registry.get_sample_value(
        "coordinator_active"
    )


def expected(role: Role) -> tuple[float, float]:
    return (1.0 if role in READY_ROLES else 0.0, 1.0 if role is Role.ACTIVE else 0.0)


# -- RoleState --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"), [(b, a) for b, a in product(Role, Role) if b is not Role.STOPPED]
)
def test_entering_a_role_sets_both_gauges_with_it(before: Role, after: Role) -> None:
    metrics = Metrics()
    roles = RoleState(metrics)
    roles.enter(before)
    assert gauges(metrics) == expected(before)

    roles.enter(after)

    assert roles.role is after
    assert gauges(metrics) == expected(after)
    assert roles.ready == (after in (Role.ACTIVE, Role.STANDBY))
    assert roles.active == (after is Role.ACTIVE)


@pytest.mark.parametrize("role", list(Role))
def test_nothing_leaves_stopped(role: Role) -> None:
    metrics = Metrics()
    roles = RoleState(metrics)
    roles.enter(Role.ACTIVE)
    roles.enter(Role.STOPPED)
    assert gauges(metrics) == (0.0, 0.0)

    roles.enter(role)

    assert roles.role is Role.STOPPED
    assert gauges(metrics) == (0.0, 0.0)
    assert not roles.ready
    assert not roles.active


# -- the service ------------------------------------------------------------------------------


def test_a_batch_of_the_current_generation_is_committed(scenario: Any) -> None:
    async def body(rig: Rig) -> None:
        await rig.handle(rig.batch(0, 1, 2))

        assert [[i.offset for i in items] for items in rig.commits] == [[0, 1, 2]]
        assert rig.service.next_offset == 3
        assert rig.feed.names()[-1] == "batch_done"
        assert rig.service.role is Role.ACTIVE

    scenario(body)


@pytest.mark.parametrize(
    "error",
    [FencedError("another worker initialised the journal writer"), WriterBrokenError("fatal")],
    ids=["fenced", "broken"],
)
def test_a_step_down_while_owning_the_partition_takes_over_again(
    scenario: Any, no_retake_delay: None, error: Exception
) -> None:
    async def body(rig: Rig) -> None:
        old_writer = rig.writer
        old_generation = rig.service._generation
        rig.commit_error = error

        await rig.handle(rig.batch(0))

        # Stepped down once the commit failed...
        assert rig.feed.names()[-2:] == ["batch_done", "stop_reading"]
        assert old_writer.closed == 1
        assert rig.service._kept_writer is None  # a fenced writer is not kept
        assert rig.standby_starts == 1
        assert rig.service._takeover_task is not None
        assert not rig.service._takeover_task.done()

        # ...and took over again: never a standby that owns the partition.
        await asyncio.wait_for(rig.reactivated.wait(), WAIT)
        await asyncio.wait_for(rig.service._takeover_task, WAIT)
        assert rig.become_active_calls == 1
        assert rig.service.role is Role.ACTIVE
        assert rig.service._generation != old_generation
        assert rig.feed.calls[-1] == ("read_from", 0)
        assert rig.exits == []

        # A batch read before the step-down is dropped; one read after it is committed.
        rig.commit_error = None
        await rig.handle(rig.batch(0, generation=old_generation))
        assert len(rig.commits) == 1
        await rig.handle(rig.batch(0))
        assert len(rig.commits) == 2
        assert rig.service.next_offset == 1

    scenario(body)


def test_the_take_over_again_waits_the_retake_delay(scenario: Any) -> None:
    delays: list[float] = []

    async def body(rig: Rig) -> None:
        called = asyncio.Event()

        async def take_over(delay: float) -> None:
            delays.append(delay)
            called.set()

        rig.service._take_over = take_over  # type: ignore[method-assign]
        rig.commit_error = FencedError("fenced")

        await rig.handle(rig.batch(0))

        await asyncio.wait_for(called.wait(), WAIT)
        assert rig.service.role is Role.STANDBY

    scenario(body)
    assert delays == [service_module.RETAKE_DELAY_SECONDS]


@pytest.mark.parametrize("error", [FencedError("fenced"), WriterBrokenError("broken")])
def test_a_step_down_without_the_partition_schedules_no_take_over(
    scenario: Any, no_retake_delay: None, error: Exception
) -> None:
    async def body(rig: Rig) -> None:
        rig.feed.owns_partition = False  # revoked while the commit was in flight
        rig.commit_error = error

        await rig.handle(rig.batch(0))
        for _ in range(10):
            await asyncio.sleep(0)

        assert rig.service._takeover_task is None
        assert rig.become_active_calls == 0
        assert rig.service.role is Role.STANDBY
        assert rig.standby_starts == 1
        assert rig.feed.names()[-2:] == ["batch_done", "stop_reading"]

    scenario(body)


def test_a_batch_of_an_older_generation_is_dropped(scenario: Any) -> None:
    async def body(rig: Rig) -> None:
        current = rig.service._generation

        await rig.handle(rig.batch(0, 1, generation=current - 1))
        await rig.handle(rig.batch(0, 1, generation=current + 1))

        assert rig.commits == []
        assert rig.feed.names().count("batch_done") == 2
        assert rig.service.next_offset == 0
        assert rig.service.role is Role.ACTIVE

    scenario(body)


def test_a_batch_is_dropped_without_a_writer_or_when_not_active(scenario: Any) -> None:
    async def body(rig: Rig) -> None:
        service = rig.service
        service.roles.enter(Role.TAKING_OVER)
        await rig.handle(rig.batch(0))
        service.roles.enter(Role.ACTIVE)
        service._writer = None
        await rig.handle(rig.batch(0))

        assert rig.commits == []
        assert rig.feed.names().count("batch_done") == 2

    scenario(body)


def test_a_batch_after_a_revocation_is_dropped(scenario: Any) -> None:
    async def body(rig: Rig) -> None:
        batch = rig.batch(0)
        rig.feed.owns_partition = False
        rig.service.partition_revoked(lost=False)

        await rig.handle(batch)

        assert rig.commits == []
        assert rig.feed.names()[-1] == "batch_done"

    scenario(body)


def test_a_lost_session_keeps_the_writer_and_takes_no_partition_it_does_not_own(
    scenario: Any,
) -> None:
    async def body(rig: Rig) -> None:
        writer = rig.writer
        rig.feed.owns_partition = False
        rig.service.partition_revoked(lost=True)
        await asyncio.wait_for(
            asyncio.gather(*[t for t in rig.service._background if t.get_name() == "release"]),
            WAIT,
        )

        assert rig.service.role is Role.STANDBY
        kept: object = rig.service._kept_writer
        assert kept is writer
        assert rig.service._writer is None
        assert writer.closed == 0
        assert rig.service._takeover_task is None

    scenario(body)


def test_an_unexpected_error_ends_the_process_and_still_releases_the_batch(
    scenario: Any,
) -> None:
    async def body(rig: Rig) -> None:
        rig.commit_error = RuntimeError("a bug")

        await rig.handle(rig.batch(0))

        assert rig.exits == [EXIT_JOURNAL_FAILURE]
        assert rig.feed.names()[-1] == "batch_done"

    scenario(body)
