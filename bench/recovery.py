"""3. Recovery: time from a worker's start to ready, by the three routes of recovery.

Method. A synthetic journal (``bench.journal``) of ``E - T`` events is produced directly: ``P``
registrations, then status updates and resource reports of random pipelines, with the ``tag`` and
``command-offset`` headers. A first worker (default settings) replays it, takes over and writes a
snapshot of the state at that seq, and is stopped. ``T`` more events (the tail) are appended.
Then, each time measured from process start to the first 200 of ``/health/ready`` (polled every
50 ms; the worker's own figure for the recovery alone is in the note), with snapshots turned off
(``COORDINATOR_SNAPSHOT_EVERY=10^9``) so that no worker writes a newer one:

- (a) the first worker again: its local RocksDB is present, only the tail is folded;
- (b) a worker with an empty data directory: the snapshot, then the tail;
- (c) the snapshots are deleted (a tombstone for every key of the snapshots topic; the topic is
  compacted, so its records cannot be deleted otherwise) and a worker with an empty data
  directory replays the whole journal.

Baseline: the raw consume time of the whole events topic (a read_committed confluent consumer
with the recovery code's fetch settings, nothing decoded).
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Producer

from bench.env import BenchError, Deployment, WorkerProcess, say
from bench.journal import JournalShape, write_journal
from bench.plan import Context
from bench.profiling import Profiler
from bench.report import Row, Target
from bench.topics import count_records, records

NAME = "recovery"
NO_SNAPSHOTS = 10**9


def timed_start(
    worker: WorkerProcess, expected_source: str, seq: int, profile: Profiler | None = None
) -> dict[str, Any]:
    worker.start()
    if profile is not None:
        profile.pid = worker.pid
        profile.start()
    seconds, body = worker.wait_ready(timeout=3600)
    if profile is not None:
        profile.saved = profile.stop()
    recovery = body.get("recovery", {})
    if recovery.get("source") != expected_source or int(body.get("seq", -1)) != seq:
        raise BenchError(f"worker {worker.name} recovered {body}, expected {expected_source}")
    worker.stop()
    return {
        "seconds": seconds,
        "recoverySeconds": float(recovery.get("seconds", 0.0)),
        "eventsReplayed": int(recovery.get("eventsReplayed", 0)),
    }


def delete_snapshots(deployment: Deployment) -> int:
    """Tombstone every key on the snapshots topic; return how many keys there were."""
    topic = deployment.settings.topics.snapshots
    keys = {message.key() for message in records(deployment.settings, topic)}
    producer = Producer({**deployment.settings.kafka_base(), "enable.idempotence": True})
    for key in keys:
        if key is not None:
            producer.produce(topic, None, key)
    producer.flush(60)
    return len(keys)


def run(ctx: Context) -> None:
    pipelines = ctx.sizes.recovery_pipelines
    events = ctx.sizes.recovery_events
    tail = ctx.sizes.recovery_tail
    base = events - tail
    deployment = ctx.run.deployment("rec")
    try:
        say(f"recovery: journal of {base:,} events ({pipelines:,} pipelines)")
        write_journal(deployment.settings, JournalShape(pipelines, base, command_offsets=True))

        say("recovery: a worker replays it and writes a snapshot")
        first = deployment.worker("local")
        first.start()
        first_replay, _body = first.wait_ready(timeout=3600)
        first.wait_active(timeout=600)
        written = first.wait_log(
            rf"msg=Snapshot written seq={base} pipelines=\d+ chunks=(\d+) bytes=(\d+) "
            r"seconds=([0-9.]+)",
            timeout=1800,
        )
        first.stop()
        snapshot = {
            "chunks": int(written.group(1)),
            "bytes": int(written.group(2)),
            "seconds": float(written.group(3)),
        }

        say(f"recovery: a tail of {tail:,} events")
        write_journal(
            deployment.settings,
            JournalShape(
                pipelines, tail, first_seq=base + 1, first_pipeline=pipelines, command_offsets=True
            ),
        )

        say("recovery: (a) local RocksDB + tail")
        local = timed_start(
            deployment.worker("local", snapshot_every=NO_SNAPSHOTS), "local", events
        )
        say(f"recovery: (a) {local['seconds']:.1f} s; (b) empty data directory, snapshot + tail")
        from_snapshot = timed_start(
            deployment.worker("fresh-snapshot", snapshot_every=NO_SNAPSHOTS), "snapshot", events
        )
        say(f"recovery: (b) {from_snapshot['seconds']:.1f} s; (c) snapshots deleted, full replay")
        deleted = delete_snapshots(deployment)
        profiler = Profiler(0, ctx.run.output / "profile-recovery-replay") if ctx.profile else None
        replay = timed_start(
            deployment.worker("fresh-journal", snapshot_every=NO_SNAPSHOTS),
            "journal",
            events,
            profiler,
        )
        if profiler is not None:
            ctx.profiles.extend(profiler.saved)
        say(f"recovery: (c) {replay['seconds']:.1f} s; baseline: raw read of the journal")
        started = time.monotonic()
        read, raw_seconds = count_records(deployment.settings, deployment.settings.topics.events)
        if read != events:
            raise BenchError(f"read {read} events, expected {events}")
        raw_seconds = min(raw_seconds, time.monotonic() - started)
    finally:
        deployment.destroy()

    label = f"raw consume of the {events:,} events"
    shape = f"{pipelines:,} pipelines, {events:,} events"
    full_size = pipelines >= 100_000 and events >= 1_000_000

    def note(case: dict[str, Any]) -> str:
        return (
            f"recovery itself {case['recoverySeconds']:.1f} s, {case['eventsReplayed']:,} replayed"
        )

    ctx.results.add(
        Row(
            NAME,
            f"(a) local RocksDB + {tail:,}-event tail ({shape})",
            local["seconds"],
            "s",
            raw_seconds,
            label,
            note=note(local),
        )
    )
    ctx.results.add(
        Row(
            NAME,
            f"(b) empty data dir: snapshot + {tail:,}-event tail ({shape})",
            from_snapshot["seconds"],
            "s",
            raw_seconds,
            label,
            (
                Target(
                    "<= 6 s at 100k pipelines / 1M events",
                    from_snapshot["seconds"] <= 6.0 if full_size else None,
                ),
            ),
            note=note(from_snapshot),
        )
    )
    ctx.results.add(
        Row(
            NAME,
            f"(c) empty data dir, no snapshot: full replay ({shape})",
            replay["seconds"],
            "s",
            raw_seconds,
            label,
            note=note(replay),
        )
    )
    replay_rate = events / replay["recoverySeconds"] if replay["recoverySeconds"] else 0.0
    ctx.results.add(
        Row(
            NAME,
            "full replay rate (events folded per second of recovery)",
            replay_rate,
            "events/s",
            events / raw_seconds,
            "raw consume rate of the journal",
            (Target(">= 50,000 events/s", replay_rate >= 50_000 if full_size else None),),
        )
    )
    ctx.results.add(
        Row(
            NAME, "raw consume rate of the journal (the baseline)", events / raw_seconds, "events/s"
        )
    )
    ctx.results.info[NAME] = {
        "pipelines": pipelines,
        "events": events,
        "tail": tail,
        "firstReplayOfBaseSeconds": first_replay,
        "snapshot": snapshot,
        "snapshotKeysDeleted": deleted,
        "local": local,
        "snapshotPlusTail": from_snapshot,
        "fullReplay": replay,
        "rawConsumeSeconds": raw_seconds,
    }
