"""Bad input never stops the stream: each kind is dead-lettered with its reason (SPEC §5-§6)."""

from __future__ import annotations

import time

import pytest

from coordinator.domain import ErrorCode
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
        for raw, _code in bad:
            client.send_raw(raw)
        started = time.monotonic()
        summary = client.register("ok-1", "still served")
        served_in = time.monotonic() - started

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
