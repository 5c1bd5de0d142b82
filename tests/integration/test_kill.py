"""Kill test: SIGKILL the worker at random moments under a stream of mixed commands.

Afterwards the journal must hold each accepted change exactly once. The oracle is the domain
itself: replaying every record of the commands topic through ``decide`` from the empty state
(which is what one crash-free pass would do) must give exactly the committed events, field for
field except timestamps, each pointing at the offset of its command. The worker's state must equal
the fold of the journal, and every request must have been answered.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer

from coordinator.domain import Accepted, CoordinatorState, decide, decode_command, evolve
from coordinator.domain.codec import DecodeError
from coordinator.worker.processing import context_for
from tests.fixtures.workers import Deployment
from tests.integration.support import assert_worker_matches_journal, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMMANDS = 5000
KILLS = 6


def mixed_commands(count: int, reply_to: str, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    ids = [f"pipe-{n:03d}" for n in range(250)]
    made: list[dict[str, object]] = []
    sent_ids: list[str] = []
    for index in range(count):
        pid = rng.choice(ids)
        roll = rng.random()
        correlation = f"k-{index}"
        if roll < 0.15:
            command: dict[str, object] = {
                "type": "RegisterPipeline",
                "pipelineId": pid,
                "name": f"Pipeline {pid}",
            }
        elif roll < 0.20:
            command = {"type": "UnregisterPipeline", "pipelineId": pid}
        elif roll < 0.50:
            command = {
                "type": "UpdatePipelineStatus",
                "pipelineId": pid,
                "status": rng.choice(["running", "RUNNING", "paused", "failed", "stopped"]),
                "totalRecords": index * 10,
                "failedRecords": rng.randint(0, index),
            }
        elif roll < 0.80:
            command = {
                "type": "ReportResourceUsage",
                "pipelineId": pid,
                "cpuPercent": round(rng.uniform(0, 2), 3),
                "memoryMB": rng.randint(0, 4096),
            }
        elif roll < 0.85:
            command = {
                "type": "CheckResourceAvailability",
                "estimatedCpuPercent": 5.5,
                "estimatedMemoryMB": 1000,
            }
        elif roll < 0.88:
            command = {"type": "GetSystemStatus"}
        elif roll < 0.93:
            command = {"type": "GetPipelineInfo", "pipelineId": pid}
        elif roll < 0.96 and sent_ids:
            # A client retry: the same commandId again (it must not apply twice).
            chosen = rng.choice(sent_ids)
            original = next(c for c in made if c.get("commandId") == chosen)
            made.append(dict(original))
            continue
        else:
            command = {
                "type": "ReportResourceUsage",
                "pipelineId": pid,
                "cpuPercent": 250,
                "memoryMB": 1,
            }
        if command["type"] in ("RegisterPipeline", "UnregisterPipeline") or rng.random() < 0.3:
            command["commandId"] = f"cmd-{index}"
            sent_ids.append(f"cmd-{index}")
        if (
            command["type"]
            in (
                "RegisterPipeline",
                "UnregisterPipeline",
                "CheckResourceAvailability",
                "GetSystemStatus",
                "GetPipelineInfo",
            )
            or rng.random() < 0.1
        ):
            command["replyTo"] = reply_to
            command["correlationId"] = correlation
        made.append(command)
    return made


def _comparable(event_json: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in event_json.items() if key != "timestamp"}


def test_sigkill_at_random_moments_loses_and_repeats_nothing(deployment: Deployment) -> None:
    settings = deployment.settings
    worker = deployment.worker(snapshot_every=50).start()
    worker.wait_serving()
    with deployment.client(timeout=30, retries=0) as client:
        reply_topic = client.reply_topic
        commands = mixed_commands(COMMANDS, reply_topic, seed=int(time.time()))
        producer = Producer({**settings.kafka_base(), "linger.ms": 5, "enable.idempotence": True})
        done_sending = threading.Event()

        def send_all() -> None:
            for start in range(0, len(commands), 50):
                for command in commands[start : start + 50]:
                    producer.produce(
                        settings.topics.commands,
                        json.dumps(command).encode(),
                        b"global-coordinator",
                    )
                producer.flush(30)
                time.sleep(0.6)
            done_sending.set()

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        rng = random.Random()
        kills_while_serving = 0
        for round_ in range(KILLS):
            if round_ > 0:
                # Most kills land while the worker applies commands, one during its recovery.
                if round_ == KILLS - 1:
                    worker.wait_for("msg=Recovering", 60)
                else:
                    worker.wait_serving(90)
                    kills_while_serving += 1
            time.sleep(rng.uniform(0.05, 2.5))
            worker.kill()
            worker.start()
        sender.join(180)
        assert done_sending.is_set(), "the command stream did not finish"
        producer.flush(30)
        worker.wait_serving(120)
        # Commands are applied in order: once this is answered, everything before it is done.
        final = client.request({"type": "GetSystemStatus"})
        assert final.ok

        # 1. The journal is what one crash-free pass over the commands topic produces.
        command_records = read_topic(settings, settings.topics.commands)
        event_records = read_topic(settings, settings.topics.events)
        state = CoordinatorState.empty()
        context = context_for(settings, datetime.now(UTC))
        expected: list[tuple[int, dict[str, object]]] = []
        for record in command_records:
            command = decode_command(record.value)
            if isinstance(command, DecodeError):
                continue
            decision = decide(command, state, context)
            if isinstance(decision, Accepted):
                for event in decision.events:
                    state = evolve(state, event)
                    expected.append((record.offset, _comparable(json.loads(event.to_json()))))
        actual = [
            (int(record.headers["command-offset"]), _comparable(json.loads(record.value or b"")))
            for record in event_records
        ]
        assert len(actual) == len(expected), (len(actual), len(expected))
        assert actual == expected
        assert all(record.headers["tag"] == b"coordinator" for record in event_records)

        # 2. The worker's state is the fold of the journal.
        folded = assert_worker_matches_journal(settings, client)
        untimed = {"registered_at", "last_heartbeat"}
        assert {k: v.model_dump(exclude=untimed) for k, v in folded.pipelines.items()} == {
            k: v.model_dump(exclude=untimed) for k, v in state.pipelines.items()
        }

        # 3. Every request was answered, and a repeated answer says the same thing.
        replies: dict[str, set[bytes]] = defaultdict(set)
        for record in read_topic(settings, reply_topic):
            reply = json.loads(record.value or b"")
            replies[reply["correlationId"]].add(record.value or b"")
        # Fire-and-forget commands are answered only when refused; every request is answered.
        requests = {
            "RegisterPipeline",
            "UnregisterPipeline",
            "CheckResourceAvailability",
            "GetSystemStatus",
            "GetPipelineInfo",
        }
        wanted = {
            str(c["correlationId"])
            for c in commands
            if c["type"] in requests and "correlationId" in c
        }
        missing = wanted - set(replies)
        assert not missing, f"{len(missing)} requests without a reply, e.g. {sorted(missing)[:5]}"
        # A command sent once is answered once, or (after a crash) again with the same content.
        # (A client's retry of a query or a refusal with the same ids is decided afresh.)
        sent = Counter(str(c["correlationId"]) for c in commands if "correlationId" in c)
        repeated = [key for key in wanted if sent[key] == 1 and len(replies[key]) > 1]
        assert not repeated, f"different replies to one command: {repeated[:5]}"
    print(
        f"\n[kill] commands={len(command_records)} events={len(event_records)} "
        f"kills={KILLS} whileServing={kills_while_serving} starts={worker.starts} "
        f"requests={len(wanted)} replies={len(replies)}"
    )
