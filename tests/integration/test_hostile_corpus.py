"""The hostile-command corpus against a real worker: every entry has its documented outcome.

All of ``tests/corpus/hostile_commands.jsonl`` is produced to one worker, each entry followed by
a valid command. Then: the dead-letter topic holds exactly the expected records with the expected
``error-code``; every command with a usable ``replyTo`` got exactly the expected reply and no
other command got one; the journal holds exactly the expected events, caused by the expected
commands; the worker's state is the fold of that journal (so no refused command touched it); the
broker refused what it must refuse; and a valid command sent after everything is served at once.
"""

from __future__ import annotations

import base64
import os
import time

import pytest
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from coordinator.domain.codec import DecodeError, decode_command, decode_event
from coordinator.kafka.records import COMMAND_OFFSET_HEADER
from tests.corpus.hostile import (
    MAX_ERROR_REPLY_BYTES,
    STEADY,
    Entry,
    Observed,
    Topics,
    check_run,
    check_steady,
    expected_pipelines,
    load,
    script,
)
from tests.fixtures.workers import Deployment
from tests.integration.support import assert_worker_matches_journal, read_topic, worker_pipelines
from topics.definitions import AGGREGATE_ID

pytestmark = pytest.mark.integration

SERVED_WITHIN_SECONDS = 10.0


def produce_each(producer: Producer, topic: str, sent: list[Entry]) -> dict[str, int]:
    """Produce the entries one at a time, in order; the offsets of those the broker took.

    The broker must refuse exactly the ``broker-refused`` entries, with the documented error.
    """
    offsets: dict[str, int] = {}
    reports: list[tuple[KafkaError | None, Message]] = []
    for entry in sent:
        reports.clear()
        producer.produce(
            topic,
            value=entry.value,
            key=entry.key,
            on_delivery=lambda error, message: reports.append((error, message)),
        )
        assert producer.flush(60) == 0, f"{entry.name}: not delivered within 60 s"
        ((error, message),) = reports
        if entry.expect == "broker-refused":
            assert error is not None, f"{entry.name}: the broker took it"
            assert error.name() == entry.code, (entry.name, error.str())
        else:
            assert error is None, (entry.name, error.str() if error else None)
            offset = message.offset()
            assert offset is not None
            offsets[entry.name] = offset
    return offsets


def test_every_hostile_command_has_its_documented_outcome(deployment: Deployment) -> None:
    settings = deployment.settings
    topics = Topics.for_prefix(settings.topic_prefix)
    entries = load(topics)
    sent = script(entries, topics)
    admin = AdminClient(settings.kafka_base())
    admin.create_topics([NewTopic(topics.reply, 1)], request_timeout=30)[topics.reply].result()
    worker = deployment.worker().start().wait_serving()
    producer = Producer(
        {
            **settings.kafka_base(),
            # Not idempotent: a broker refusal must stay an error on one record, not a fatal
            # producer state. Larger than the commands topic's limit, so that the broker judges.
            "enable.idempotence": False,
            "acks": "all",
            "message.max.bytes": 8 * 1024 * 1024,
            "linger.ms": 0,
        }
    )
    with deployment.client() as client:
        # The client's reply topic first: its creation is not part of the figure below.
        client_topic = client.reply_topic
        offsets = produce_each(producer, settings.topics.commands, sent)
        started = time.monotonic()
        summary = client.register("after-everything", "still served")
        served_in = time.monotonic() - started
        print(f"\n[hostile] served {served_in:.2f} s after the corpus was delivered")
        assert served_in < SERVED_WITHIN_SECONDS, f"served after {served_in:.1f} s"
        folded = assert_worker_matches_journal(settings, client)
        pipelines = worker_pipelines(client)
    assert worker.running

    events = read_topic(settings, settings.topics.events)
    last = decode_event(events[-1].value or b"")
    assert (last.type, last.key) == ("PipelineRegistered", "after-everything")
    assert summary.seq == last.seq == len(events)
    observed = Observed(
        dead_letters=[
            (int(m.headers["source-offset"]), m.key, m.value, m.headers)
            for m in read_topic(settings, settings.topics.deadletter)
        ],
        replies=[(m.key, m.value or b"") for m in read_topic(settings, topics.reply)],
        events=[
            (event.type, event.key, int(m.headers[COMMAND_OFFSET_HEADER]))
            for m in events[:-1]
            for event in [decode_event(m.value or b"")]
        ],
    )
    check_run(sent, offsets, observed)

    assert set(pipelines) == expected_pipelines(sent) | {"after-everything"}
    assert set(folded.pipelines) == set(pipelines)
    check_steady(pipelines.get(STEADY), len(entries))
    # The commands topic holds what was sent and the client's commands: no reply went there.
    sent_at = {offsets[entry.name]: entry for entry in sent if entry.name in offsets}
    for record in read_topic(settings, settings.topics.commands):
        if record.offset in sent_at:
            assert record.value == sent_at[record.offset].value
        else:
            command = decode_command(record.value)
            assert not isinstance(command, DecodeError), record
            assert command.reply_to is not None and command.reply_to.startswith(client_topic)


def test_refusals_of_large_commands_never_stop_the_stream(deployment: Deployment) -> None:
    """With commands of up to 4 MiB allowed, refusals that would echo megabytes stay small.

    Regressions: an error reply named every unknown field (90,000 of them: a 3.5 MB reply), and
    a refusal echoed a 1.6 MB correlationId or commandId; a reply over the broker's message size
    failed the batch's transaction at every retry, and the stream stopped.
    """
    settings = deployment.settings
    deployment.worker(max_command_bytes=4 * 1024 * 1024).start().wait_serving()
    producer = Producer({**settings.kafka_base(), "message.max.bytes": 8 * 1024 * 1024})
    with deployment.client() as client:
        reply_to = client.reply_topic
        random_id = base64.b64encode(os.urandom(1_200_000)).decode()
        fields = "".join(f',"f{n}":0' for n in range(90_000))
        large = [
            f'{{"type":"GetSystemStatus","replyTo":"{reply_to}","correlationId":"c-fields"{fields}}}',
            f'{{"type":"GetSystemStatus","replyTo":"{reply_to}","correlationId":"{random_id}"}}',
            f'{{"type":"LaunchRocket","replyTo":"{reply_to}","commandId":"{random_id}"}}',
        ]
        for command in large:
            producer.produce(settings.topics.commands, value=command, key=AGGREGATE_ID)
        assert producer.flush(60) == 0
        started = time.monotonic()
        summary = client.register("after-large", "still served")
        served_in = time.monotonic() - started
        replies = read_topic(settings, reply_to)

    assert served_in < SERVED_WITHIN_SECONDS, f"served after {served_in:.1f} s"
    assert summary.total_pipelines == 1
    (refusal,) = [m for m in replies if m.key == b"c-fields"]
    assert refusal.value is not None and len(refusal.value) < MAX_ERROR_REPLY_BYTES
    assert all(len(m.value or b"") < MAX_ERROR_REPLY_BYTES for m in replies)
    letters = read_topic(settings, settings.topics.deadletter)
    assert [m.headers["error-code"] for m in letters] == [
        b"INVALID_COMMAND",
        b"INVALID_ARGUMENT",
        b"UNKNOWN_COMMAND_TYPE",
    ]
    assert [m.value for m in letters] == [command.encode() for command in large]
