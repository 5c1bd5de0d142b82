"""A mixed command load for fault tests, and the checks that prove nothing was lost or repeated.

The oracle is the domain itself: replaying every record of the commands topic through ``decide``
from the empty state (one crash-free pass) must give exactly the committed events, field for
field except timestamps, each pointing at the offset of its command.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import KafkaError, Message, Producer

from coordinator.client import CoordinatorClient
from coordinator.config import Settings
from coordinator.domain.codec import DecodeError, decode_command
from coordinator.domain.decider import Accepted, decide
from coordinator.domain.model import PipelineInfo
from coordinator.domain.state import CoordinatorState, evolve
from coordinator.worker.processing import context_for
from tests.integration.support import assert_worker_matches_journal, read_topic

GROUP_COMMANDS = {"CreateGroup", "SetGroupQuota", "SetGroupState", "DeleteGroup", "MovePipeline"}
RESERVATION_COMMANDS = {"ReserveResources", "ReleaseReservation", "RequestPreemption"}
RESERVATION_TTL = 3600
"""Long enough that none expires during a test: the oracle decides every command at one moment
(after the run), so an expiry the worker's Tick made earlier would not be in its pass."""
GROUPS = ["team-0", "team-1", "team-2"]
REQUESTS = {
    "RegisterPipeline",
    "UnregisterPipeline",
    "CheckResourceAvailability",
    "GetSystemStatus",
    "GetPipelineInfo",
    "SetResourceLimits",
    "ResetResourceLimits",
    *GROUP_COMMANDS,
    *RESERVATION_COMMANDS,
}
STATE_REPLIES = {
    "RegisterPipeline",
    "UnregisterPipeline",
    "SetResourceLimits",
    "ResetResourceLimits",
    *GROUP_COMMANDS,
    *RESERVATION_COMMANDS,
}
"""Commands whose reply is remembered for retries: they always carry a ``commandId`` here."""
SEED_VARIABLE = "COORDINATOR_TEST_SEED"


def fault_seed() -> int:
    """The seed of a fault test's random choices: ``COORDINATOR_TEST_SEED`` (to replay a
    failure) or the clock. Printed, so that a failed run's output names it."""
    seed = int(os.environ.get(SEED_VARIABLE) or time.time())
    print(f"[seed] {seed} (replay: {SEED_VARIABLE}={seed})")
    return seed


def mixed_commands(count: int, reply_to: str, seed: int, tag: str = "k") -> list[dict[str, object]]:
    """Registrations (some into groups, with requests), unregistrations, updates, reports,
    queries, runtime limits, group commands, reservations and preemption requests, client
    retries, bad values."""
    rng = random.Random(seed)
    ids = [f"pipe-{n:03d}" for n in range(250)]
    made: list[dict[str, object]] = []
    sent_ids: list[str] = []
    for index in range(count):
        pid = rng.choice(ids)
        roll = rng.random()
        command: dict[str, object]
        if roll < 0.15:
            command = {"type": "RegisterPipeline", "pipelineId": pid, "name": f"Pipeline {pid}"}
            if rng.random() < 0.3:  # into a group (which may not exist), with requests
                command["group"] = rng.choice(GROUPS)
                command["requestedCpuPercent"] = round(rng.uniform(0, 3), 2)
                command["priority"] = rng.randint(-1, 2)
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
            made.append(dict(next(c for c in made if c.get("commandId") == chosen)))
            continue
        elif roll < 0.975:
            # Runtime limits; an expectedRevision, when given, is often stale (REVISION_CONFLICT).
            command = {"type": "SetResourceLimits", "maxCpuPercent": rng.choice([50.0, 400.0])}
            if rng.random() < 0.5:
                command["maxMemoryMB"] = rng.randint(10_000, 2_000_000)
            if rng.random() < 0.3:
                command["expectedRevision"] = rng.randint(0, 3)
        elif roll < 0.98:
            command = {"type": "ResetResourceLimits"}
        elif roll < 0.987:
            command = _group_command(rng, pid)
        elif roll < 0.997:
            command = _reservation_command(rng, pid)
        else:
            command = {
                "type": "ReportResourceUsage",
                "pipelineId": pid,
                "cpuPercent": 250,
                "memoryMB": 1,
            }
        if command["type"] in STATE_REPLIES or rng.random() < 0.3:
            command["commandId"] = f"{tag}-cmd-{index}"
            sent_ids.append(f"{tag}-cmd-{index}")
        if command["type"] in REQUESTS or rng.random() < 0.1:
            command["replyTo"] = reply_to
            command["correlationId"] = f"{tag}-{index}"
        made.append(command)
    return made


@dataclass
class Stream:
    """Sends commands in chunks from a thread, at a steady pace, until all are sent.

    The producer is idempotent (a retry after a broker restart or a lost connection does not
    write a command twice, which the oracle would count as sent twice). ``wait`` fails, naming
    how many, if any command was not delivered.

    ``codecs`` are the ``compression.type`` of the chunks in turn (``("lz4", "zstd")``: the
    first chunk lz4, the second zstd, the third lz4, ...), one idempotent producer per codec;
    each chunk is flushed before the next is sent, so the commands keep their order.
    """

    settings: Settings
    commands: list[dict[str, object]]
    chunk: int = 50
    pause: float = 0.5
    flush_timeout: float = 60.0
    codecs: tuple[str, ...] = ("none",)
    done: threading.Event = field(default_factory=threading.Event)
    delivered: int = 0
    failed: list[str] = field(default_factory=list)
    error: BaseException | None = None

    def start(self) -> Stream:
        threading.Thread(target=self._run, name="command-stream", daemon=True).start()
        return self

    def _report(self, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failed.append(error.str())

    def _flush(self, producer: Producer, sent: int) -> None:
        remaining = producer.flush(self.flush_timeout)
        if remaining:
            raise AssertionError(
                f"{remaining} of {sent} commands not delivered within {self.flush_timeout:g} s "
                f"of flush() ({self.delivered} delivered)"
            )
        if self.failed:
            raise AssertionError(
                f"{len(self.failed)} of {sent} commands not delivered: {self.failed[0]}"
            )

    def _run(self) -> None:
        try:
            producers = {
                codec: Producer(
                    {
                        **self.settings.kafka_base(),
                        "enable.idempotence": True,
                        "linger.ms": 5,
                        "compression.type": codec,
                    },
                    logger=logging.getLogger("tests.kafka"),
                )
                for codec in dict.fromkeys(self.codecs)
            }
            sent = 0
            for number, start in enumerate(range(0, len(self.commands), self.chunk)):
                producer = producers[self.codecs[number % len(self.codecs)]]
                for command in self.commands[start : start + self.chunk]:
                    producer.produce(
                        self.settings.topics.commands,
                        json.dumps(command).encode(),
                        b"global-coordinator",
                        on_delivery=self._report,
                    )
                    sent += 1
                self._flush(producer, sent)
                time.sleep(self.pause)
            for producer in producers.values():
                self._flush(producer, sent)
        except BaseException as exc:  # handed to wait(), in the test's thread
            self.error = exc
        finally:
            self.done.set()

    def wait(self, timeout: float = 300) -> None:
        assert self.done.wait(timeout), (
            f"the command stream did not finish in {timeout:g} s "
            f"({self.delivered} of {len(self.commands)} delivered)"
        )
        if self.error is not None:
            raise AssertionError(f"the command stream failed: {self.error}") from self.error


def _group_command(rng: random.Random, pid: str) -> dict[str, object]:
    """A group command: groups created, capped, closed, opened and deleted, pipelines moved."""
    group = rng.choice(GROUPS)
    kind = rng.choice(["create", "create", "quota", "state", "move", "move", "delete"])
    if kind == "create":
        return {"type": "CreateGroup", "groupId": group, "labels": {"team": group}}
    if kind == "quota":
        command: dict[str, object] = {
            "type": "SetGroupQuota",
            "groupId": group,
            "maxPipelines": rng.randint(0, 30),
            "maxCpuPercent": rng.choice([None, 5.0, 50.0]),
        }
        if rng.random() < 0.3:
            command["expectedRevision"] = rng.randint(0, 4)
        return command
    if kind == "state":
        return {"type": "SetGroupState", "groupId": group, "state": rng.choice(["open", "closed"])}
    if kind == "move":
        return {
            "type": "MovePipeline",
            "pipelineId": pid,
            "groupId": rng.choice([*GROUPS, "default"]),
        }
    return {"type": "DeleteGroup", "groupId": group}


def _reservation_command(rng: random.Random, pid: str) -> dict[str, object]:
    """Reservations made, consumed (by a guessed id: often none such), released; preemption
    requests; a Tick (which finds nothing due)."""
    kind = rng.choice(["reserve", "reserve", "register", "release", "preempt", "tick"])
    if kind == "reserve":
        command: dict[str, object] = {
            "type": "ReserveResources",
            "cpuPercent": round(rng.uniform(0, 3), 2),
            "memoryMB": rng.randint(0, 512),
            "ttlSeconds": RESERVATION_TTL,
        }
        if rng.random() < 0.5:
            command["group"] = rng.choice(GROUPS)
        return command
    guessed = f"res-{rng.randint(1, 600)}"
    if kind == "register":
        return {
            "type": "RegisterPipeline",
            "pipelineId": pid,
            "name": f"Pipeline {pid}",
            "reservationId": guessed,
        }
    if kind == "release":
        return {"type": "ReleaseReservation", "reservationId": guessed}
    if kind == "preempt":
        return {"type": "RequestPreemption", "pipelineIds": [pid], "reason": "load"}
    return {"type": "Tick"}


UNTIMED_EVENT_FIELDS = {"timestamp", "expiresAt"}
"""Fields of an event made from the time it was applied (the oracle's pass is later)."""


def _comparable(event_json: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in event_json.items() if key not in UNTIMED_EVENT_FIELDS}


def _untimed(info: PipelineInfo, untimed: set[str]) -> dict[str, object]:
    """``info`` without the fields made from the time (a preemption request: whether there is
    one, for whom and why)."""
    dumped = info.model_dump(exclude=untimed)
    request = info.preemption_requested
    dumped["preemption_requested"] = (
        None if request is None else (request.for_pipeline_id, request.reason)
    )
    return dumped


@dataclass(frozen=True)
class Verdict:
    commands: int
    events: int
    requests: int
    replies: int


def assert_exactly_once(
    settings: Settings,
    client: CoordinatorClient,
    reply_topic: str,
    commands: list[dict[str, object]],
    committed_only: bool = True,
    seed: int | None = None,
) -> Verdict:
    """The journal is one crash-free pass over the commands; the worker's state is its fold;
    every request has a reply, and a command sent once has one reply content.

    With ``committed_only=False`` the topics are read ``read_uncommitted``: then not even an
    aborted write may appear (a fenced writer's produce requests are refused by the broker).
    ``seed`` (of ``mixed_commands``) is named in every failure.
    """
    note = f" [seed {seed}]" if seed is not None else ""
    # Commands are applied in order: once this is answered, everything before it is done.
    assert client.request({"type": "GetSystemStatus"}).ok, f"no answer to GetSystemStatus{note}"

    command_records = read_topic(settings, settings.topics.commands)
    event_records = read_topic(settings, settings.topics.events, committed=committed_only)
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
    assert len(actual) == len(expected), f"{len(actual)} events, {len(expected)} expected{note}"
    assert actual == expected, f"the journal is not one pass over the commands{note}"
    assert all(record.headers["tag"] == b"coordinator" for record in event_records), note

    folded = assert_worker_matches_journal(settings, client, note)
    untimed = {"registered_at", "last_heartbeat", "status_since", "preemption_requested"}
    assert {k: _untimed(v, untimed) for k, v in folded.pipelines.items()} == {
        k: _untimed(v, untimed) for k, v in state.pipelines.items()
    }, f"the fold of the journal is not the oracle's state{note}"
    assert set(folded.summary.reservations) == set(state.summary.reservations), note

    replies: dict[str, set[bytes]] = defaultdict(set)
    reply_records = read_topic(settings, reply_topic, committed=committed_only)
    for record in reply_records:
        reply = json.loads(record.value or b"")
        replies[reply["correlationId"]].add(record.value or b"")
    wanted = {
        str(c["correlationId"]) for c in commands if c["type"] in REQUESTS and "correlationId" in c
    }
    missing = wanted - set(replies)
    assert not missing, f"{len(missing)} requests without a reply, e.g. {sorted(missing)[:5]}{note}"
    # A command sent once is answered once, or (after a crash) again with the same content.
    # (A client's retry of a query or a refusal with the same ids is decided afresh.)
    sent = Counter(str(c["correlationId"]) for c in commands if "correlationId" in c)
    repeated = [key for key in wanted if sent[key] == 1 and len(replies[key]) > 1]
    assert not repeated, f"different replies to one command: {repeated[:5]}{note}"
    return Verdict(len(command_records), len(event_records), len(wanted), len(reply_records))
