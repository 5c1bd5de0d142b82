"""Faults a control plane meets in production: failover to a hot standby, a stalled
former owner waking up (fencing), and a broker restart. Nothing accepted may be lost or repeated.
"""

from __future__ import annotations

import random
import signal
import statistics
import time
from pathlib import Path

import pytest

from tests.fixtures.broker import Broker, LocalBroker
from tests.fixtures.workers import Deployment, make_deployment
from tests.integration.load import Stream, assert_exactly_once, fault_seed, mixed_commands
from tests.integration.support import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAILOVERS = 5
SERVE_WITHIN = 15.0


def test_standby_takes_over_within_15_seconds(deployment: Deployment) -> None:
    settings = deployment.settings
    first = deployment.worker("first").start()
    first.wait_serving()
    second = deployment.worker("second").start()
    second.wait_recovered()
    seed = fault_seed()
    with (
        deployment.client(timeout=40, retries=0) as client,
        deployment.client(timeout=40, retries=0) as probe,
    ):
        commands = mixed_commands(3000, client.reply_topic, seed=seed, tag="f")
        # The probe's reply topic now, not inside the first takeover's figure.
        print(f"[failover] probe replies on {probe.reply_topic}")
        stream = Stream(settings, commands, chunk=25, pause=0.25).start()
        active, standby = first, second
        takeovers: list[float] = []
        rng = random.Random(f"timing-{seed}")
        for _ in range(FAILOVERS):
            time.sleep(rng.uniform(1.0, 3.0))  # where the kill lands, not a wait for anything
            killed_at = time.monotonic()
            active.kill()
            assert probe.request({"type": "GetSystemStatus"}).ok, f"[seed {seed}]"
            takeovers.append(time.monotonic() - killed_at)
            standby.wait_serving(5)
            active.start()
            active.wait_recovered()
            active, standby = standby, active
        stream.wait()
        verdict = assert_exactly_once(settings, client, client.reply_topic, commands, seed=seed)

    print(
        f"\n[failover] takeover-to-answer seconds: {[round(t, 2) for t in takeovers]} "
        f"min={min(takeovers):.2f} median={statistics.median(takeovers):.2f} "
        f"max={max(takeovers):.2f}; commands={verdict.commands} events={verdict.events}"
    )
    assert max(takeovers) < SERVE_WITHIN, f"takeovers {takeovers} [seed {seed}]"


def test_stalled_owner_cannot_write_after_losing_ownership(deployment: Deployment) -> None:
    settings = deployment.settings
    old = deployment.worker("old").start()
    old.wait_serving()
    new = deployment.worker("new").start()
    new.wait_recovered()
    seed = fault_seed()
    with deployment.client(timeout=40, retries=0) as client:
        commands = mixed_commands(1500, client.reply_topic, seed=seed, tag="s")
        stream = Stream(settings, commands, chunk=10, pause=0.05).start()
        time.sleep(1.5)
        old.signal(signal.SIGSTOP)
        new.wait_serving(60)
        time.sleep(2.0)
        woke_at_ms = int(time.time() * 1000)
        old.signal(signal.SIGCONT)
        stream.wait()
        old.wait_for(r"msg=Stepping down reason=(fenced|partition revoked)", 60)
        verdict = assert_exactly_once(settings, client, client.reply_topic, commands, seed=seed)
        assert old.running, f"the former owner should step down to a standby, not die [seed {seed}]"

        # Not even an aborted write of the former owner after it woke is in the logs: records
        # only a read_uncommitted reader sees were all produced before the stall.
        for topic in (settings.topics.events, client.reply_topic, settings.topics.deadletter):
            committed = {r.offset for r in read_topic(settings, topic)}
            aborted = [
                r for r in read_topic(settings, topic, committed=False) if r.offset not in committed
            ]
            late = [r for r in aborted if r.timestamp_ms >= woke_at_ms]
            assert not late, (
                f"{len(late)} records written to {topic} after the owner woke [seed {seed}]"
            )
    how = old.wait_for(r"msg=Stepping down reason=(fenced|partition revoked)").group(1)
    print(f"\n[fencing] former owner stepped down ({how}); events={verdict.events}")


def test_broker_restart_during_a_command_stream(tmp_path: Path) -> None:
    private = LocalBroker("restart").start()
    try:
        deployment = make_deployment(
            Broker(private.bootstrap, "local", 0.0, private.port), tmp_path
        )
        try:
            worker = deployment.worker().start()
            worker.wait_serving()
            with deployment.client(timeout=60, retries=0) as client:
                seed = 7
                print(f"[seed] {seed} (fixed)")
                commands = mixed_commands(1500, client.reply_topic, seed=seed, tag="b")
                stream = Stream(deployment.settings, commands, chunk=25, pause=0.1).start()
                time.sleep(2.0)
                private.stop()
                print(f"\n[broker-restart] stopped at {time.strftime('%X')}")
                time.sleep(3.0)
                private.start()
                print(f"[broker-restart] started at {time.strftime('%X')}")
                stream.wait(300)
                verdict = assert_exactly_once(
                    deployment.settings, client, client.reply_topic, commands, seed=seed
                )
                assert worker.running, "the worker did not survive the broker restart"
        finally:
            for started in deployment.workers:
                started.stop()
    finally:
        private.remove(keep_log_in=tmp_path)
    print(f"\n[broker-restart] commands={verdict.commands} events={verdict.events}")


def test_a_fenced_writer_appends_nothing(deployment: Deployment) -> None:
    """The mechanism itself: the second writer with the transactional id fences the first,
    whose open transaction is aborted and whose next write is refused by the broker."""
    from coordinator.errors import FencedError
    from coordinator.kafka.records import OutRecord
    from coordinator.kafka.writer import JournalWriter

    settings = deployment.settings
    events = settings.topics.events
    old = JournalWriter(settings, "old")
    old.start()
    assert old.write([OutRecord(events, b"k", b"committed-by-old", is_event=True)], 1) is not None
    new = JournalWriter(settings, "new")
    new.start()  # fences `old`
    with pytest.raises(FencedError):
        old.write([OutRecord(events, b"k", b"stale-write")], 2)
    assert new.write([OutRecord(events, b"k", b"committed-by-new", is_event=True)], 2) is not None
    old.close()
    new.close()

    values = [r.value for r in read_topic(settings, events, committed=False)]
    assert values == [b"committed-by-old", b"committed-by-new"]
