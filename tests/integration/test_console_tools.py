"""A command typed as one line into the real kafka-console-producer is applied and answered."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.workers import Deployment
from tests.integration.support import journal, read_topic

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_hand_typed_command_through_the_console_producer(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    topics = deployment.settings.topics
    line = (
        '{"type":"RegisterPipeline","pipelineId":"pipeline-123","name":"User Events Pipeline",'
        f'"replyTo":"{topics.replies}","correlationId":"c-1"}}'
    )
    subprocess.run(
        [
            str(ROOT / "ops" / "kafka-console-producer.sh"),
            "--bootstrap-server",
            deployment.broker.bootstrap,
            "--topic",
            topics.commands,
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=|",
        ],
        input=f"global-coordinator|{line}\n",
        text=True,
        check=True,
        timeout=120,
    )
    deadline = time.monotonic() + 30
    replies = []
    while time.monotonic() < deadline and not replies:
        replies = read_topic(deployment.settings, topics.replies)
        time.sleep(0.2)

    assert len(replies) == 1
    reply = json.loads(replies[0].value or b"")
    assert reply["correlationId"] == "c-1" and reply["ok"] is True
    assert reply["commandType"] == "RegisterPipeline"
    assert reply["value"]["pipeline"]["name"] == "User Events Pipeline"
    assert replies[0].key == b"c-1"

    consumer = subprocess.run(
        [
            str(ROOT / "ops" / "kafka-console-consumer.sh"),
            "--bootstrap-server",
            deployment.broker.bootstrap,
            "--topic",
            topics.events,
            "--from-beginning",
            "--isolation-level",
            "read_committed",
            "--max-messages",
            "1",
            "--property",
            "print.headers=true",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "tag:coordinator" in consumer.stdout
    event = json.loads(consumer.stdout.strip().split("\t", 1)[1])
    assert event["type"] == "PipelineRegistered" and event["seq"] == 1
    assert event["timestamp"].endswith("Z")
    assert [e.pipeline_id for e in journal(deployment.settings)] == ["pipeline-123"]
