"""Bad input never stops the stream: each kind is dead-lettered with its reason."""

from __future__ import annotations

import time

import pytest

from coordinator.domain.replies import ErrorCode
from tests.fixtures.workers import Deployment
from tests.integration.support import journal, read_topic

pytestmark = pytest.mark.integration


def test_each_bad_command_is_dead_lettered_and_the_next_is_served(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    replies = deployment.settings.topics.replies
    bad: list[tuple[bytes, ErrorCode]] = [
        (b"\x00\xff\xfe garbage \x81", ErrorCode.INVALID_COMMAND),
        (b'{"type": "RegisterPipeline", "pipelineId": ', ErrorCode.INVALID_COMMAND),
        (b'{"type": "LaunchRocket", "pipelineId": "p1"}', ErrorCode.UNKNOWN_COMMAND_TYPE),
        (
            b'{"type":"RegisterPipeline","pipelineId":"p1","name":"x","replyTo":"coordinator.events"}',
            ErrorCode.FORBIDDEN_REPLY_TOPIC,
        ),
        (
            f'{{"type":"RegisterPipeline","pipelineId":"p2","name":"x","replyTo":"{replies}.gone"}}'.encode(),
            ErrorCode.REPLY_TOPIC_NOT_FOUND,
        ),
        (
            b'{"type":"ReportResourceUsage","pipelineId":"p1","cpuPercent":NaN,"memoryMB":1}',
            ErrorCode.INVALID_ARGUMENT,
        ),
        (b"x" * 70_000, ErrorCode.COMMAND_TOO_LARGE),
    ]
    with deployment.client() as client:
        assert client.reply_topic  # created now: not part of the figure below
        for raw, _code in bad:
            client.send_raw(raw)
        started = time.monotonic()
        summary = client.register("ok-1", "still served")
        served_in = time.monotonic() - started
        print(f"\n[bad-input] the valid command was served in {served_in:.2f} s")

    assert summary.total_pipelines == 1
    assert served_in < 5.0, f"the valid command waited {served_in:.1f} s behind bad input"
    letters = read_topic(deployment.settings, deployment.settings.topics.deadletter)
    assert [letter.headers["error-code"].decode() for letter in letters] == [
        code.value for _raw, code in bad
    ]
    assert [letter.value for letter in letters] == [raw for raw, _code in bad]
    for letter in letters:
        assert letter.headers["error-message"]
        assert letter.headers["source-topic"] == deployment.settings.topics.commands.encode()
        assert int(letter.headers["source-offset"]) >= 0
    # Nothing reached the forbidden topic, and only the valid command changed state.
    assert [event.pipeline_id for event in journal(deployment.settings)] == ["ok-1"]


def test_invalid_command_with_reply_topic_gets_an_error_reply(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    with deployment.client() as client:
        reply = client.request({"type": "RegisterPipeline", "pipelineId": 7, "name": "x"})

    assert reply.ok is False and reply.error is not None
    assert reply.error.code is ErrorCode.INVALID_COMMAND
    assert "pipelineId" in reply.error.message
    letters = read_topic(deployment.settings, deployment.settings.topics.deadletter)
    assert len(letters) == 1 and letters[0].headers["error-code"] == b"INVALID_COMMAND"


def test_a_reply_topic_that_refuses_replies_does_not_stop_the_stream(
    deployment: Deployment,
) -> None:
    """Anyone may create a reply topic; one whose max.message.bytes is too small for the reply
    would fail every transaction that carries it. Such commands are dead-lettered instead."""
    from confluent_kafka.admin import NewTopic

    from coordinator.kafka.admin import admin_client

    settings = deployment.settings
    tiny = f"{settings.topics.replies}.tiny"
    admin = admin_client(settings)
    admin.create_topics([NewTopic(tiny, 1, 1, config={"max.message.bytes": "200"})])[tiny].result()
    deployment.worker().start().wait_serving()
    with deployment.client() as client:
        assert client.reply_topic  # created now: not part of the figure below
        client.send_raw(
            f'{{"type":"RegisterPipeline","pipelineId":"p-tiny","name":"x","replyTo":"{tiny}",'
            '"correlationId":"c-tiny"}'
        )
        started = time.monotonic()
        summary = client.register("ok-2", "served after it")
        served_in = time.monotonic() - started
        print(f"\n[bad-input] served {served_in:.2f} s after the refused reply")

    assert summary.total_pipelines == 1, "the refused command must not be applied"
    assert served_in < 10.0
    letters = read_topic(settings, settings.topics.deadletter)
    assert [letter.headers["error-code"] for letter in letters] == [b"REPLY_TOPIC_REJECTED"]
    assert b"p-tiny" in (letters[0].value or b"")
    assert [event.pipeline_id for event in journal(settings)] == ["ok-2"]
