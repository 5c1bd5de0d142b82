"""Load for the benchmarks: commands as clients send them, and synthetic but valid journals.

Commands are the exact bytes ``coordinator.client`` sends (checked against ``calls.prepare``).
A synthetic journal is what a worker would have appended: events with ``seq`` 1, 2, 3, ... and
the ``tag`` (and optionally ``command-offset``) headers, byte for byte the JSON of the domain's
event models (checked against them), produced directly because building a million events
through a worker would take longer than the measurements themselves.
"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Producer

from coordinator.client import calls
from coordinator.config import Settings
from coordinator.domain.codec import decode_event
from coordinator.domain.events import (
    EVENT_TAG,
    PipelineRegistered,
    PipelineStatusUpdated,
    ResourceUsageReported,
)
from coordinator.domain.wire import format_timestamp
from topics.definitions import AGGREGATE_ID

Headers = list[tuple[str, str | bytes | None]]
COMMAND_OFFSET_HEADER = "command-offset"
"""As the worker writes it (``coordinator.kafka.records``); here too for older code (--ref)."""


def prepare(command: Any, reply_topic: str | None) -> Any:
    """The client's ``prepare`` (in ``requests`` now, in ``calls`` in older code under test)."""
    try:
        module = importlib.import_module("coordinator.client.requests")
    except ImportError:
        module = calls
    return module.prepare(command, reply_topic)


def _command_of(built: Any) -> Any:
    """A client builder's command (older clients returned the command itself)."""
    return getattr(built, "command", built)


STATUSES = ("running", "running", "running", "paused", "stopped")


def pipeline_id(index: int, family: str = "p") -> str:
    return f"{family}-{index:07d}"


# -- commands ------------------------------------------------------------------------------------


def register_command(pid: str, command_id: str) -> bytes:
    return (
        f'{{"type":"RegisterPipeline","commandId":"{command_id}","pipelineId":"{pid}",'
        f'"name":"Pipeline {pid}"}}'
    ).encode()


def status_command(pid: str, status: str, total: int, failed: int) -> bytes:
    return (
        f'{{"type":"UpdatePipelineStatus","pipelineId":"{pid}","status":"{status}",'
        f'"totalRecords":{total},"failedRecords":{failed}}}'
    ).encode()


def resource_command(pid: str, cpu: float, memory: int) -> bytes:
    return (
        f'{{"type":"ReportResourceUsage","pipelineId":"{pid}","cpuPercent":{cpu!r},'
        f'"memoryMB":{memory}}}'
    ).encode()


def check_command_templates() -> None:
    """The templates must stay the bytes the client sends; fail loudly if the wire moved."""
    pid = pipeline_id(42)
    expected = {
        register_command(pid, "c1"): prepare(
            {
                "type": "RegisterPipeline",
                "commandId": "c1",
                "pipelineId": pid,
                "name": f"Pipeline {pid}",
            },
            None,
        ).payload,
        status_command(pid, "running", 10, 1): prepare(
            _command_of(calls.update_status(pid, "running", 10, 1)), None
        ).payload,
        resource_command(pid, 12.5, 300): prepare(
            _command_of(calls.report_resources(pid, 12.5, 300)), None
        ).payload,
    }
    for ours, client in expected.items():
        if ours != client:
            raise AssertionError(f"bench command template drifted:\n{ours!r}\n{client!r}")


def mixed_update(rng: random.Random, pid: str, step: int) -> bytes:
    """A status update or a resource report for ``pid``, half and half."""
    if rng.random() < 0.5:
        return status_command(pid, rng.choice(STATUSES), step * 100, step)
    return resource_command(pid, round(rng.uniform(0.0, 0.05), 4), rng.randint(64, 4096))


def command_producer(settings: Settings) -> Producer:
    return Producer(
        {
            **settings.kafka_base(),
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
        }
    )


def produce(
    producer: Producer,
    topic: str,
    value: bytes | None,
    key: bytes | None,
    headers: Headers | None = None,
) -> None:
    """Produce one record, waiting while librdkafka's queue is full."""
    while True:
        try:
            producer.produce(topic, value, key, headers=headers)
        except BufferError:
            producer.poll(0.05)
        else:
            return


def produce_all(producer: Producer, topic: str, values: Iterator[bytes], key: bytes) -> int:
    """Produce every value; flush; return the count."""
    count = 0
    for count, value in enumerate(values, start=1):
        produce(producer, topic, value, key)
        if count % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError(f"records to {topic} not delivered")
    return count


def produce_commands(settings: Settings, values: Iterator[bytes]) -> int:
    producer = command_producer(settings)
    return produce_all(producer, settings.topics.commands, values, AGGREGATE_ID.encode())


# -- events --------------------------------------------------------------------------------------


def _registered(seq: int, command_id: str | None, pid: str, ts: str) -> bytes:
    cid = "null" if command_id is None else f'"{command_id}"'
    return (
        f'{{"type":"PipelineRegistered","seq":{seq},"commandId":{cid},"pipelineId":"{pid}",'
        f'"timestamp":"{ts}","name":"Pipeline {pid}","group":"default",'
        '"requestedCpuPercent":null,"requestedMemoryMB":null,"priority":0,"preemptible":true,'
        '"reservationId":null}'
    ).encode()


def _status(seq: int, pid: str, ts: str, *, status: str, total: int, failed: int) -> bytes:
    return (
        f'{{"type":"PipelineStatusUpdated","seq":{seq},"commandId":null,"pipelineId":"{pid}",'
        f'"timestamp":"{ts}","status":"{status}","totalRecords":{total},"failedRecords":{failed}}}'
    ).encode()


def _resources(seq: int, pid: str, ts: str, cpu: float, memory: int) -> bytes:
    return (
        f'{{"type":"ResourceUsageReported","seq":{seq},"commandId":null,"pipelineId":"{pid}",'
        f'"timestamp":"{ts}","cpuPercent":{cpu!r},"memoryMB":{memory}}}'
    ).encode()


def check_event_templates() -> None:
    at = datetime(2026, 11, 27, 3, 52, 48, 480000, tzinfo=UTC)
    ts = format_timestamp(at)
    pid = pipeline_id(7)
    expected = {
        _registered(1, "c-1", pid, ts): PipelineRegistered(
            seq=1, command_id="c-1", pipeline_id=pid, name=f"Pipeline {pid}", timestamp=at
        ),
        _registered(2, None, pid, ts): PipelineRegistered(
            seq=2, command_id=None, pipeline_id=pid, name=f"Pipeline {pid}", timestamp=at
        ),
        _status(3, pid, ts, status="running", total=500, failed=5): PipelineStatusUpdated(
            seq=3,
            command_id=None,
            pipeline_id=pid,
            status="running",  # type: ignore[arg-type]  # validated into the enum
            total_records=500,
            failed_records=5,
            timestamp=at,
        ),
        _resources(4, pid, ts, 0.0123, 2048): ResourceUsageReported(
            seq=4,
            command_id=None,
            pipeline_id=pid,
            cpu_percent=0.0123,
            memory_mb=2048,
            timestamp=at,
        ),
    }
    for ours, model in expected.items():
        if ours != model.to_json() or decode_event(ours) != model:
            raise AssertionError(f"bench event template drifted:\n{ours!r}\n{model.to_json()!r}")


@dataclass(frozen=True, slots=True)
class JournalShape:
    """A run of journal events: registrations of pipelines ``first_pipeline`` to
    ``pipelines - 1`` first, then status updates and resource reports (half and half) of random
    pipelines below ``pipelines``; ``events`` in all, from ``first_seq`` on."""

    pipelines: int
    events: int
    first_seq: int = 1
    first_pipeline: int = 0
    registrations_with_command_ids: bool = True
    """Registrations carry a commandId as the client sends them (they fill the applied ring)."""
    command_offsets: bool = False
    """Add the ``command-offset`` header (seq - 1): only for journals without a commands topic
    behind them, since a worker skips commands below the last one the journal names."""
    seed: int = 7


def synthetic_events(
    shape: JournalShape, now: datetime | None = None
) -> Iterator[tuple[bytes, bytes, int]]:
    """``(key, value, seq)`` for every event of the run, one millisecond apart, ending now."""
    rng = random.Random(shape.seed + shape.first_seq)
    registrations = max(0, shape.pipelines - shape.first_pipeline)
    end = now if now is not None else datetime.now(UTC)
    moment = end - timedelta(milliseconds=shape.events)
    step = timedelta(milliseconds=1)
    for position in range(shape.events):
        seq = shape.first_seq + position
        moment += step
        ts = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        if position < registrations:
            pid = pipeline_id(shape.first_pipeline + position)
            command_id = f"{seq:032x}" if shape.registrations_with_command_ids else None
            yield pid.encode(), _registered(seq, command_id, pid, ts), seq
            continue
        pid = pipeline_id(rng.randrange(shape.pipelines))
        if rng.random() < 0.5:
            value = _status(
                seq, pid, ts, status=rng.choice(STATUSES), total=seq * 10, failed=seq % 7
            )
        else:
            value = _resources(
                seq, pid, ts, round(rng.uniform(0.0, 0.05), 4), rng.randint(64, 4096)
            )
        yield pid.encode(), value, seq


def write_journal(
    settings: Settings,
    shape: JournalShape,
    progress: Callable[[int], None] | None = None,
) -> float:
    """Produce the journal to the events topic; return the seconds it took."""
    check_event_templates()
    started = time.monotonic()
    producer = Producer(
        {
            **settings.kafka_base(),
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "batch.num.messages": 10_000,
            "compression.type": "lz4",  # as the journal writer does
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
        }
    )
    topic = settings.topics.events
    tag: tuple[str, str | bytes | None] = ("tag", EVENT_TAG.encode())
    for count, (key, value, seq) in enumerate(synthetic_events(shape), start=1):
        headers: Headers = [tag]
        if shape.command_offsets:
            headers.append((COMMAND_OFFSET_HEADER, str(seq - 1).encode()))
        produce(producer, topic, value, key, headers)
        if count % 10_000 == 0:
            producer.poll(0)
        if progress is not None and count % 200_000 == 0:
            progress(count)
    if producer.flush(300) != 0:
        raise RuntimeError("journal records not delivered")
    return time.monotonic() - started
