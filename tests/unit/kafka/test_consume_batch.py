"""``consume_batch``: wait for the first message only, then take what is queued.

confluent-kafka's ``consume(n, t)`` with ``t`` of 0.2 s or more waits until it has ``n`` messages
or ``t`` has passed, so it may only be called with ``n = 1`` when it waits.
"""

from __future__ import annotations

from typing import Any

from coordinator.kafka.reader import consume_batch


class Consumer:
    def __init__(self, queued: int) -> None:
        self.queued = queued
        self.calls: list[tuple[int, float]] = []

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        self.calls.append((num_messages, timeout))
        taken = min(num_messages, self.queued)
        self.queued -= taken
        return [object() for _ in range(taken)]


def test_it_waits_for_one_message_then_takes_the_rest_without_waiting() -> None:
    consumer = Consumer(queued=7)

    messages = consume_batch(consumer, 100, 1.0)  # type: ignore[arg-type]

    assert len(messages) == 7
    assert consumer.calls == [(1, 1.0), (99, 0)]


def test_nothing_queued_is_one_wait() -> None:
    consumer = Consumer(queued=0)

    assert consume_batch(consumer, 100, 0.5) == []  # type: ignore[arg-type]
    assert consumer.calls == [(1, 0.5)]


def test_a_batch_of_one_never_asks_again() -> None:
    consumer = Consumer(queued=5)

    assert len(consume_batch(consumer, 1, 0.5)) == 1  # type: ignore[arg-type]
    assert consumer.calls == [(1, 0.5)]
