"""Recovery: a worker on a fresh machine rebuilds from the newest snapshot plus the
events after it, not from the whole journal, and the snapshots topic keeps only the newest 2."""

from __future__ import annotations

import re
import shutil
import time

import pytest

from tests.fixtures.workers import Deployment, Worker
from tests.integration.support import journal, read_topic, worker_pipelines

pytestmark = pytest.mark.integration


def live_snapshots(deployment: Deployment) -> dict[int, set[str]]:
    """Snapshot keys still alive on the compacted topic (tombstones applied), by seq."""
    alive: dict[str, bool] = {}
    for record in read_topic(deployment.settings, deployment.settings.topics.snapshots):
        alive[(record.key or b"").decode()] = record.value is not None
    by_seq: dict[int, set[str]] = {}
    for key, present in alive.items():
        if present:
            seq = int(key.split("/")[1])
            by_seq.setdefault(seq, set()).add(key.split("/", 2)[2])
    return by_seq


def wait_snapshots_caught_up(worker: Worker, seq: int, every: int, timeout: float = 60) -> int:
    """Wait until the newest snapshot written is fewer than ``every`` events behind ``seq``:
    then none is in progress and none is due. Returns that snapshot's seq."""
    written: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        log = worker.log()
        written = [int(found) for found in re.findall(r"msg=Snapshot written seq=(\d+)", log)]
        if written and seq - max(written) < every:
            return max(written)
        assert worker.running, f"worker exited ({worker.process and worker.process.returncode})"
        assert time.monotonic() < deadline, (
            f"no snapshot within {every} events of seq {seq} after {timeout:g} s; "
            f"written: {written}"
        )
        time.sleep(0.05)


def test_fresh_machine_recovers_from_snapshot_plus_tail(deployment: Deployment) -> None:
    worker = deployment.worker(snapshot_every=50).start().wait_serving()
    with deployment.client(timeout=30) as client:
        for index in range(400):
            client.send_raw(
                f'{{"type":"RegisterPipeline","pipelineId":"p-{index:04d}","name":"n{index}"}}'
            )
        for index in range(0, 400, 2):
            client.update_status(f"p-{index:04d}", "running", index, 0)
            client.report_resources(f"p-{index:04d}", 0.1, 10)
        applied = client.system_status().seq
        newest = wait_snapshots_caught_up(worker, applied, every=50)
        print(f"\n[recovery] newest snapshot seq={newest} of {applied} events")
    assert worker.stop() == 0
    # The tail is written by a worker that takes no snapshot: with snapshots every 50 events,
    # ten more could reach the next one (when the newest is more than 40 behind), and then
    # nothing would be left to replay.
    worker = deployment.worker(snapshot_every=1_000_000).start().wait_serving()
    with deployment.client(timeout=30) as client:
        for index in range(10):
            client.update_status("p-0001", "paused", index, 0)
        before_status = client.system_status()
        before_pipelines = worker_pipelines(client)
    total_events = len(journal(deployment.settings))
    assert total_events == 400 + 200 + 200 + 10
    assert worker.stop() == 0

    shutil.rmtree(deployment.data_dir("worker"))
    worker.start()
    recovered = worker.wait_recovered()
    worker.wait_serving()
    source, seq, replayed = recovered.group(1), int(recovered.group(2)), int(recovered.group(3))

    assert source == "snapshot"
    assert seq == total_events
    assert 10 <= replayed < total_events, f"replayed {replayed} of {total_events} events"
    with deployment.client(timeout=30) as client:
        assert worker_pipelines(client) == before_pipelines
        after_status = client.system_status()
    assert after_status.model_dump(exclude={"pipelines"}) == before_status.model_dump(
        exclude={"pipelines"}
    )

    snapshots = live_snapshots(deployment)
    assert len(snapshots) == 2, sorted(snapshots)
    for seq_of, parts in snapshots.items():
        assert "0-header" in parts and "2-footer" in parts, (seq_of, parts)
    assert max(snapshots) + replayed == total_events


def test_local_state_is_used_when_present(deployment: Deployment) -> None:
    worker = deployment.worker(snapshot_every=1000).start().wait_serving()
    with deployment.client() as client:
        for index in range(30):
            client.register(f"p-{index}", "x")
    assert worker.stop() == 0
    worker.start()
    recovered = worker.wait_recovered()
    assert recovered.group(1) == "local" and int(recovered.group(3)) == 0
    worker.wait_serving()
    with deployment.client() as client:
        assert client.system_status().health.total_pipelines == 30


def test_full_journal_replay_without_snapshot(deployment: Deployment) -> None:
    worker = deployment.worker(snapshot_every=100_000).start().wait_serving()
    with deployment.client() as client:
        for index in range(40):
            client.register(f"p-{index}", "x")
    assert worker.stop() == 0
    shutil.rmtree(deployment.data_dir("worker"))
    worker.start()
    recovered = worker.wait_recovered()
    assert recovered.group(1) == "journal" and int(recovered.group(3)) == 40
    worker.wait_serving()
    with deployment.client() as client:
        assert len(worker_pipelines(client)) == 40


def test_events_older_than_the_kept_snapshots_can_be_deleted(deployment: Deployment) -> None:
    """The design document's withDeleteEventsOnSnapshot (off by default)."""
    from confluent_kafka import Consumer, TopicPartition

    worker = deployment.worker(snapshot_every=20, delete_events_on_snapshot="true").start()
    worker.wait_serving()
    with deployment.client() as client:
        for index in range(120):
            client.register(f"p-{index:03d}", "x")
    worker.wait_for(r"msg=Events deleted beforeOffset=(\d+)", 60)
    consumer = Consumer({**deployment.settings.kafka_base(), "group.id": "test-watermarks"})
    low, _high = consumer.get_watermark_offsets(
        TopicPartition(deployment.settings.topics.events, 0), timeout=10
    )
    consumer.close()
    assert low > 0, "no event was deleted"
    assert worker.stop() == 0

    # A fresh machine still recovers: from a kept snapshot and the events after it.
    shutil.rmtree(deployment.data_dir("worker"))
    worker.start()
    recovered = worker.wait_recovered()
    assert recovered.group(1) == "snapshot" and int(recovered.group(2)) == 120
    worker.wait_serving()
    with deployment.client() as client:
        assert client.system_status().health.total_pipelines == 120
