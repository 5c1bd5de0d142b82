"""Snapshot compatibility: the journals and snapshots that workers of older commits wrote still
recover with today's code, from the newest snapshot plus the events after it and from the journal
alone, to the state the old worker answered; a snapshot whose header names another format is
skipped with its reason. Every test runs against each recording (``RECORDINGS``): commit 19c062e
(``tests/data/compat-19c062e``) and commit 45ea746 (``tests/data/compat-45ea746``), each with a
README saying how it was recorded.

The recorded records are produced into fresh topics. The events keep their offsets: each run of
consecutive offsets in the recording is produced as one transaction, so its commit marker takes
the next offset just as the old worker's did, and the snapshot headers' ``eventsOffset`` (which a
recovery checks against the event it finds there) stay true without being rewritten. The test
reads the topic back and checks every offset, key, value and header. Snapshot records are
produced in order; their offsets may differ, since a recovery takes them from its own scan.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from coordinator.config import Settings
from coordinator.domain.codec import DecodeError, decode_command
from coordinator.domain.decider import AlreadyApplied, Answered, decide
from coordinator.domain.wire import WireModel
from coordinator.kafka.records import COMMAND_OFFSET_HEADER
from coordinator.kafka.records import header as header_value
from coordinator.store.table import StateTable
from coordinator.worker import recovery
from coordinator.worker.processing import context_for
from tests.fixtures.broker import Broker
from tests.fixtures.workers import make_deployment
from tests.integration.support import read_topic

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class Recorded:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, str | bytes | None]]


def recorded(folder: Path, name: str) -> list[Recorded]:
    rows = []
    for line in (folder / name).read_text("utf-8").splitlines():
        row = json.loads(line)
        rows.append(
            Recorded(
                offset=row["offset"],
                timestamp=row["timestamp"],
                key=None if row["key"] is None else row["key"].encode(),
                value=None if row["value"] is None else row["value"].encode(),
                headers=[(name, value.encode()) for name, value in row["headers"]],
            )
        )
    return rows


@dataclass(frozen=True)
class Recording:
    """One recording (``tests/data/compat-<commit>``) and what its README says it holds."""

    commit: str
    kept: tuple[int, int]
    """The seqs of the two live snapshots, older first (the newer is the newest one)."""
    tail: int
    """Events after the newest snapshot."""
    pipelines: int
    """Pipelines registered at the end."""

    @property
    def folder(self) -> Path:
        return DATA / f"compat-{self.commit}"

    @functools.cached_property
    def expected(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.folder / "expected.json").read_text("utf-8"))
        return loaded

    @functools.cached_property
    def events(self) -> list[Recorded]:
        return recorded(self.folder, "events.jsonl")

    @functools.cached_property
    def snapshots(self) -> list[Recorded]:
        return recorded(self.folder, "snapshots.jsonl")


RECORDINGS = [
    Recording("19c062e", kept=(203, 263), tail=25, pipelines=49),
    Recording("45ea746", kept=(192, 252), tail=25, pipelines=49),
]
FIRST = RECORDINGS[0]
"""The recording that ``load_recording`` and ``assert_recovers_what_the_old_worker_answered``
use unless told another (``test_replay_in_a_child`` uses them so, with ``EXPECTED``)."""
EXPECTED = FIRST.expected


@pytest.fixture(params=RECORDINGS, ids=[recording.commit for recording in RECORDINGS])
def recording(request: pytest.FixtureRequest) -> Recording:
    chosen: Recording = request.param
    return chosen


def transactions(records: list[Recorded]) -> list[list[Recorded]]:
    """The recording's transactions: runs of consecutive offsets, each followed by the one offset
    of its commit marker (the recording has no other gaps; anything else is refused)."""
    runs: list[list[Recorded]] = []
    for record in records:
        if runs and record.offset == runs[-1][-1].offset + 1:
            runs[-1].append(record)
            continue
        expected = runs[-1][-1].offset + 2 if runs else 0
        assert record.offset == expected, (
            f"offset {record.offset} after {expected - 2}: not a commit marker's gap"
        )
        runs.append([record])
    return runs


def produce_events(settings: Settings, events: list[Recorded]) -> int:
    """The recorded events at their recorded offsets, one transaction per recorded one."""
    producer = Producer(
        {**settings.kafka_base(), "transactional.id": f"{settings.topic_prefix}.compat-loader"}
    )
    producer.init_transactions(30)
    runs = transactions(events)
    for run in runs:
        producer.begin_transaction()
        for record in run:
            producer.produce(
                settings.topics.events,
                value=record.value,
                key=record.key,
                headers=record.headers,
                timestamp=record.timestamp,
                partition=0,
            )
        producer.commit_transaction(30)
    return len(runs)


def produce_snapshots(
    settings: Settings,
    snapshots: list[Recorded],
    change: dict[int, dict[str, Any]] | None = None,
) -> None:
    """The recorded snapshot records in order; ``change`` replaces fields of the header of the
    snapshot at each seq it names."""
    producer = Producer({**settings.kafka_base(), "enable.idempotence": True})
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for record in snapshots:
        value = record.value
        key = (record.key or b"").decode()
        if change and value is not None and key.endswith("/0-header"):
            header = json.loads(value)
            header.update(change.get(header["seq"], {}))
            value = json.dumps(header).encode()
        producer.produce(
            settings.topics.snapshots,
            value=value,
            key=record.key,
            headers=record.headers,
            timestamp=record.timestamp,
            partition=0,
            on_delivery=delivered,
        )
    assert producer.flush(30) == 0, "snapshot records not delivered"
    assert failures == [], failures


def load_recording(
    broker: Broker,
    tmp_path: Path,
    *,
    snapshots: bool,
    change: dict[int, dict[str, Any]] | None,
    recording: Recording = FIRST,
) -> Settings:
    started = time.monotonic()
    settings = make_deployment(broker, tmp_path).settings
    created = time.monotonic()
    transactions_produced = produce_events(settings, recording.events)
    produced = time.monotonic()
    journal = read_topic(settings, settings.topics.events)
    assert [(m.offset, m.key, m.value) for m in journal] == [
        (r.offset, r.key, r.value) for r in recording.events
    ], "the events did not land at their recorded offsets"
    assert [sorted(m.headers.items()) for m in journal] == [
        sorted(r.headers) for r in recording.events
    ]
    if snapshots:
        produce_snapshots(settings, recording.snapshots, change)
        assert len(read_topic(settings, settings.topics.snapshots)) == len(recording.snapshots)
    print(
        f"\n[compat] {recording.commit}: topics {created - started:.2f} s, "
        f"{len(journal)} events in {transactions_produced} transactions "
        f"{produced - created:.2f} s, loaded in {time.monotonic() - started:.2f} s"
    )
    return settings


def like(actual: Any, expected: Any) -> Any:
    """``actual`` cut down to the fields ``expected`` has (recursively): what the old worker
    answered must be answered the same; fields added since are not compared."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {key: like(actual[key], value) for key, value in expected.items() if key in actual}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [like(item, wanted) for item, wanted in zip(actual, expected, strict=True)]
    return actual


def answer(table: StateTable, settings: Settings, document: dict[str, Any]) -> Any:
    """What today's decider answers ``document`` with, against the recovered table, as JSON."""
    command = decode_command(json.dumps(document).encode())
    assert not isinstance(command, DecodeError), command
    decision = decide(command, table, context_for(settings, datetime.now(UTC)))
    if isinstance(decision, AlreadyApplied):
        value = decision.original.value
    else:
        assert isinstance(decision, Answered), decision
        value = decision.value
    return json.loads(value.to_json()) if isinstance(value, WireModel) else value


def assert_recovers_what_the_old_worker_answered(
    table: StateTable, settings: Settings, recording: Recording = FIRST
) -> None:
    expected = recording.expected
    wanted_settings = expected["settings"]
    assert (settings.max_cpu_percent, settings.max_memory_mb) == (
        wanted_settings["maxCpuPercent"],
        wanted_settings["maxMemoryMB"],
    )
    assert settings.stale_after_seconds == wanted_settings["staleAfterSeconds"]
    assert settings.max_reply_bytes == wanted_settings["maxReplyBytes"]

    last = recording.events[-1]
    assert table.summary.seq == expected["lastSeq"] == len(recording.events)
    assert table.events_offset == last.offset
    last_command_offset = header_value(last.headers, COMMAND_OFFSET_HEADER)
    assert last_command_offset is not None
    assert table.meta.command_offset == int(last_command_offset)

    status = answer(table, settings, {"type": "GetSystemStatus"})
    old_status = expected["GetSystemStatus"]
    summary_fields = [
        "seq",
        "countByStatus",
        "totalCpuPercent",
        "totalMemoryMB",
        "lastUpdated",
        "health",
        "limits",
        "stalePipelines",
    ]
    # Fields added since the recording (the limits' source and revision) are left out by like().
    assert {name: like(status[name], old_status[name]) for name in summary_fields} == {
        name: old_status[name] for name in summary_fields
    }
    assert like(status, old_status) == old_status

    listed = answer(table, settings, {"type": "ListPipelines", "limit": 1000})
    old_listed = expected["ListPipelines"]
    assert [item["pipelineId"] for item in listed["items"]] == [
        item["pipelineId"] for item in old_listed["items"]
    ]
    for pipeline, old_pipeline in zip(listed["items"], old_listed["items"], strict=True):
        assert like(pipeline, old_pipeline) == old_pipeline
    assert listed["next"] is None
    assert len(listed["items"]) == old_status["health"]["totalPipelines"] == recording.pipelines

    running = answer(table, settings, {"type": "ListPipelines", "status": "running", "limit": 1000})
    assert like(running, expected["ListPipelinesRunning"]) == expected["ListPipelinesRunning"]
    page = expected["ListPipelinesPage"]
    paged = answer(table, settings, {"type": "ListPipelines", **page["request"]})
    assert like(paged, page["reply"]) == page["reply"]

    # Every applied commandId survived: a retry is recognised (and not applied again), and a
    # registration's or unregistration's retry gets the reply the old worker gave.
    for command_id, applied in expected["applied"].items():
        record = table.applied(command_id)
        assert record is not None, command_id
        assert record.command_type == applied["commandType"]
        if "retryReply" in applied:
            retry = {
                "type": applied["commandType"],
                "pipelineId": applied["pipelineId"],
                "commandId": command_id,
            }
            if applied["commandType"] == "RegisterPipeline":
                retry["name"] = "retry"
            original = applied["retryReply"]
            assert like(answer(table, settings, retry), original) == original


def recover(settings: Settings, tmp_path: Path) -> tuple[recovery.RecoveryReport, StateTable]:
    table = StateTable(tmp_path / "recovered-state")
    report, _catalog = recovery.recover(settings, table)
    print(
        f"[compat] recovered source={report.source} seq={report.seq} "
        f"snapshotSeq={report.snapshot_seq} eventsReplayed={report.events_replayed} "
        f"seconds={report.seconds:.3f}"
    )
    return report, table


def test_the_recording_holds_a_snapshot_and_a_tail(recording: Recording) -> None:
    expected = recording.expected
    seqs = [json.loads(record.value or b"")["seq"] for record in recording.events]
    assert seqs == list(range(1, expected["events"] + 1))
    live: dict[str, bytes | None] = {}
    for record in recording.snapshots:
        live[(record.key or b"").decode()] = record.value
    headers = [
        json.loads(value) for key, value in live.items() if value and key.endswith("/0-header")
    ]
    assert sorted(header["seq"] for header in headers) == [
        recording.kept[0],
        expected["newestSnapshotSeq"],
    ]
    assert expected["newestSnapshotSeq"] == recording.kept[1]
    assert {header["format"] for header in headers} == {1}
    assert expected["newestSnapshotSeq"] < expected["lastSeq"]


def test_old_snapshot_plus_tail_recovers(
    broker: Broker, tmp_path: Path, recording: Recording
) -> None:
    expected = recording.expected
    settings = load_recording(broker, tmp_path, snapshots=True, change=None, recording=recording)
    report, table = recover(settings, tmp_path)
    try:
        assert report.source == "snapshot"
        assert report.snapshot_seq == expected["newestSnapshotSeq"] == recording.kept[1]
        assert report.events_replayed == expected["lastSeq"] - report.snapshot_seq
        assert report.events_replayed == recording.tail
        assert report.seq == expected["lastSeq"]
        assert_recovers_what_the_old_worker_answered(table, settings, recording)
    finally:
        table.close()


def test_old_journal_alone_recovers(broker: Broker, tmp_path: Path, recording: Recording) -> None:
    expected = recording.expected
    settings = load_recording(broker, tmp_path, snapshots=False, change=None, recording=recording)
    assert read_topic(settings, settings.topics.snapshots) == []
    report, table = recover(settings, tmp_path)
    try:
        assert report.source == "journal"
        assert report.snapshot_seq is None
        assert report.events_replayed == report.seq == expected["lastSeq"]
        assert_recovers_what_the_old_worker_answered(table, settings, recording)
    finally:
        table.close()


@pytest.mark.parametrize(
    ("reformatted", "source"),
    [
        pytest.param("newest", "snapshot", id="newest-format-2"),
        pytest.param("both", "journal", id="all-format-2"),
    ],
)
def test_a_snapshot_of_another_format_is_skipped(
    broker: Broker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    recording: Recording,
    reformatted: str,
    source: str,
) -> None:
    """The newest kept snapshot's header says format 2 (recovery falls back to the older one), or
    both kept ones do (recovery falls back to the journal alone)."""
    expected = recording.expected
    older, newest = recording.kept
    seqs = [newest] if reformatted == "newest" else [newest, older]
    changed = {seq: {"format": 2} for seq in seqs}
    snapshot_seq = older if source == "snapshot" else None
    settings = load_recording(broker, tmp_path, snapshots=True, change=changed, recording=recording)
    with caplog.at_level(logging.WARNING, logger="coordinator.worker.recovery"):
        report, table = recover(settings, tmp_path)
    try:
        skipped = [
            record.getMessage()
            for record in caplog.records
            if record.name == "coordinator.worker.recovery"
            and "Snapshot skipped" in record.getMessage()
        ]
        assert skipped == [
            f"msg=Snapshot skipped seq={seq} "
            f"reason=snapshot {seq} has format 2; this version reads format 1"
            for seq in sorted(changed, reverse=True)
        ]
        assert report.source == source
        assert report.snapshot_seq == snapshot_seq
        assert report.events_replayed == expected["lastSeq"] - (snapshot_seq or 0)
        assert_recovers_what_the_old_worker_answered(table, settings, recording)
    finally:
        table.close()
