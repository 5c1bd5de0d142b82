"""Baselines: what plain confluent-kafka code does on the same broker, with no coordinator in it.

- ``relay``: consume commands and, for each, produce an event and a reply of the coordinator's
  shapes (JSON decoded and encoded again), in batches of up to 500 like the worker; with
  ``--transactional`` each batch is one transaction with a progress record, as the worker's
  journal writer does, else an idempotent producer flushed at the end.
- ``echo``: answer every request on the commands topic at once on its ``replyTo`` topic, with a
  reply of the size of the worker's (optionally one transaction per reply).

Each runs as its own process (``python -m bench.loops ...``) so that it competes for the CPU
like a worker does, and prints one JSON line with its result.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, KafkaError, Producer, TopicPartition

from bench.journal import produce
from coordinator.domain.wire import format_timestamp

EVENT_TYPE = {
    "RegisterPipeline": "PipelineRegistered",
    "UnregisterPipeline": "PipelineUnregistered",
    "UpdatePipelineStatus": "PipelineStatusUpdated",
    "ReportResourceUsage": "ResourceUsageReported",
}
ENVELOPE = ("type", "commandId", "correlationId", "replyTo")
Headers = list[tuple[str, str | bytes | None]]
REPLY_HEADERS: Headers = [("content-type", b"application/json")]


def producer_config(bootstrap: str, transactional_id: str | None) -> dict[str, Any]:
    """The journal writer's producer settings."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "linger.ms": 1,
        "retry.backoff.ms": 2,
        "retry.backoff.max.ms": 50,
        "compression.type": "lz4",
    }
    if transactional_id is not None:
        config["transactional.id"] = transactional_id
    return config


def consumer_config(bootstrap: str, group: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 16 * 1024 * 1024,
    }


def event_of(document: dict[str, Any], seq: int, timestamp: str) -> bytes:
    """An event with the coordinator's fields, from the command's own."""
    event: dict[str, Any] = {
        "type": EVENT_TYPE.get(str(document.get("type")), "Unknown"),
        "seq": seq,
        "commandId": document.get("commandId"),
        "pipelineId": document.get("pipelineId"),
        "timestamp": timestamp,
    }
    event.update((key, value) for key, value in document.items() if key not in ENVELOPE)
    return json.dumps(event, separators=(",", ":")).encode()


def reply_of(document: dict[str, Any], value: bytes = b"null") -> bytes:
    head = json.dumps(
        {
            "correlationId": document.get("correlationId", document.get("commandId")),
            "commandId": document.get("commandId"),
            "commandType": document.get("type"),
            "ok": True,
        },
        separators=(",", ":"),
    ).encode()
    return head[:-1] + b',"value":' + value + b"}"


def relay(
    bootstrap: str,
    *,
    source: str,
    start: int,
    count: int,
    out_prefix: str,
    transactional: bool,
    batch_max: int = 500,
    linger: float = 0.002,
) -> dict[str, Any]:
    consumer = Consumer(consumer_config(bootstrap, f"{out_prefix}.relay"))
    consumer.assign([TopicPartition(source, 0, start)])
    producer = Producer(
        producer_config(bootstrap, f"{out_prefix}.relay" if transactional else None)
    )
    if transactional:
        producer.init_transactions(30)
    events, replies, progress = (
        f"{out_prefix}.events",
        f"{out_prefix}.replies",
        f"{out_prefix}.progress",
    )
    done = 0
    seq = 0
    event_bytes = 0
    reply_bytes = 0
    first: float | None = None
    while done < count:
        messages = consumer.consume(min(batch_max, count - done), linger)
        messages = [m for m in messages if m.error() is None]
        if not messages:
            continue
        if first is None:
            first = time.monotonic()
        timestamp = format_timestamp(datetime.now(UTC))
        if transactional:
            producer.begin_transaction()
        for message in messages:
            document = json.loads(message.value() or b"{}")
            seq += 1
            event = event_of(document, seq, timestamp)
            reply = reply_of(document)
            event_bytes += len(event)
            reply_bytes += len(reply)
            headers: Headers = [
                ("tag", b"coordinator"),
                ("command-offset", str(message.offset()).encode()),
            ]
            key = str(document.get("pipelineId")).encode()
            for topic, record_key, value, record_headers in (
                (events, key, event, headers),
                (replies, None, reply, REPLY_HEADERS),
            ):
                produce(producer, topic, value, record_key, record_headers)
        done += len(messages)
        if transactional:
            next_offset = (messages[-1].offset() or 0) + 1
            producer.produce(
                progress, json.dumps({"nextCommandOffset": next_offset}).encode(), b"progress"
            )
            producer.commit_transaction(30)
        else:
            producer.poll(0)
    if not transactional and producer.flush(60) != 0:
        raise RuntimeError("relay records not delivered")
    end = time.monotonic()
    consumer.close()
    seconds = end - (first or end)
    return {
        "commands": done,
        "seconds": seconds,
        "rate": done / seconds if seconds > 0 else None,
        "eventBytes": event_bytes / max(1, done),
        "replyBytes": reply_bytes / max(1, done),
        "transactional": transactional,
    }


def echo(bootstrap: str, topic: str, transactional: bool, value: bytes, label: str) -> None:
    """Answer each request at once, until SIGTERM. Prints ``ready`` once it reads the topic."""
    consumer = Consumer(consumer_config(bootstrap, f"{label}.echo"))
    _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.assign([TopicPartition(topic, 0, high if high >= 0 else OFFSET_END)])
    config = producer_config(bootstrap, f"{label}.echo" if transactional else None)
    config["linger.ms"] = 0
    producer = Producer(config)
    if transactional:
        producer.init_transactions(30)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while not stopping:
        message = consumer.poll(0.2)
        if message is None:
            continue
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                print(f"error {error.str()}", file=sys.stderr, flush=True)
            continue
        document = json.loads(message.value() or b"{}")
        reply_to = document.get("replyTo")
        if not isinstance(reply_to, str):
            continue
        key = str(document.get("correlationId", document.get("commandId"))).encode()
        if transactional:
            producer.begin_transaction()
            producer.produce(reply_to, reply_of(document, value), key)
            producer.commit_transaction(30)
        else:
            producer.produce(reply_to, reply_of(document, value), key)
            producer.poll(0)
    producer.flush(5)
    consumer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loops", description=__doc__)
    commands = parser.add_subparsers(dest="loop", required=True)
    relay_parser = commands.add_parser("relay", help="consume commands, produce event + reply")
    relay_parser.add_argument("--bootstrap", required=True)
    relay_parser.add_argument("--source", required=True)
    relay_parser.add_argument("--start", type=int, required=True)
    relay_parser.add_argument("--count", type=int, required=True)
    relay_parser.add_argument("--out-prefix", required=True)
    relay_parser.add_argument("--transactional", action="store_true")
    echo_parser = commands.add_parser("echo", help="answer requests at once")
    echo_parser.add_argument("--bootstrap", required=True)
    echo_parser.add_argument("--topic", required=True)
    echo_parser.add_argument("--label", required=True)
    echo_parser.add_argument("--value-file", required=True, help="JSON of the reply value")
    echo_parser.add_argument("--transactional", action="store_true")
    args = parser.parse_args(argv)
    if args.loop == "relay":
        result = relay(
            args.bootstrap,
            source=args.source,
            start=args.start,
            count=args.count,
            out_prefix=args.out_prefix,
            transactional=args.transactional,
        )
        print(json.dumps(result), flush=True)
    else:
        with open(args.value_file, "rb") as handle:  # noqa: PTH123 - one small file
            value = handle.read().strip()
        echo(args.bootstrap, args.topic, args.transactional, value, args.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
