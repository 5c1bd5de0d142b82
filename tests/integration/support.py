"""Helpers for integration tests: read a topic back, fold the journal, compare states."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from coordinator.client import CoordinatorClient
from coordinator.config import Settings
from coordinator.domain.codec import decode_event
from coordinator.domain.events import Event
from coordinator.domain.groups import group_info
from coordinator.domain.model import PipelineInfo
from coordinator.domain.state import CoordinatorState, fold


@dataclass(frozen=True)
class Message:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    timestamp_ms: int = 0


def read_topic(settings: Settings, topic: str, committed: bool = True) -> list[Message]:
    """Every record of partition 0 of ``topic``, as a consumer with that isolation level sees it."""
    consumer = Consumer(
        {
            **settings.kafka_base(),
            "group.id": "test-reader",
            "enable.auto.commit": False,
            "isolation.level": "read_committed" if committed else "read_uncommitted",
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    found: list[Message] = []
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        if high <= low:
            return found
        while True:
            message = consumer.poll(10)
            assert message is not None, f"no end of {topic} seen"
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return found
                raise AssertionError(error.str())
            headers = {
                name: value if isinstance(value, bytes) else str(value).encode()
                for name, value in (message.headers() or [])  # type: ignore[union-attr]
            }
            found.append(
                Message(
                    message.offset() or 0,
                    message.key(),
                    message.value(),
                    headers,
                    message.timestamp()[1],
                )
            )
    finally:
        consumer.close()


def journal(settings: Settings) -> list[Event]:
    return [decode_event(m.value or b"") for m in read_topic(settings, settings.topics.events)]


def folded(settings: Settings) -> CoordinatorState:
    return fold(journal(settings))


def worker_pipelines(client: CoordinatorClient) -> dict[str, PipelineInfo]:
    return {info.pipeline_id: info for info in client.list_pipelines(page_size=1000)}


def assert_worker_matches_journal(
    settings: Settings, client: CoordinatorClient, note: str = ""
) -> CoordinatorState:
    """The worker's state (through queries) equals the fold of the committed journal.

    ``note`` ends every failure message (a fault test's seed)."""
    events = journal(settings)
    seqs = [event.seq for event in events]
    assert seqs == list(range(1, len(events) + 1)), f"seq not contiguous{note}"
    expected = fold(events)
    assert worker_pipelines(client) == expected.pipelines, f"pipelines differ{note}"
    status = client.system_status()
    assert status.seq == expected.summary.seq, note
    assert status.total_cpu_percent == expected.summary.total_cpu_percent, note
    assert status.total_memory_mb == expected.summary.memory_mb_total, note
    assert status.count_by_status == expected.summary.count_by_status, note
    assert status.limits.revision == expected.summary.limits_revision, note
    assert (status.limits.source == "journal") is (expected.summary.limits is not None), note
    groups = client.list_groups(limit=1000)
    assert groups.next is None, note
    assert {info.group_id: info for info in groups.items} == {
        group_id: group_info(group, expected.summary)
        for group_id, group in expected.summary.groups.items()
    }, f"groups differ{note}"
    reservations = {r.reservation_id: r for r in client.reservations()}
    assert reservations == expected.summary.reservations, f"reservations differ{note}"
    return expected
