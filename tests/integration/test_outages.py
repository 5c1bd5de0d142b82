"""Availability: a broker outage or stall of any length ends with the same worker
process serving again within 5 s of the broker's return; standbys joining, leaving or dying never
interrupt the active worker. Nothing accepted is lost or repeated meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.client import ClientError, CoordinatorClient
from tests.fixtures.broker import Broker, LocalBroker
from tests.fixtures.workers import Deployment, Worker, make_deployment
from tests.integration.load import Stream, assert_exactly_once, mixed_commands

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVE_WITHIN = 5.0
OUTAGES = [("stop", 1.0), ("stop", 5.0), ("stop", 20.0), ("sigstop", 8.0)]
STEP_DOWN = "msg=Stepping down"


def first_answer(probe: CoordinatorClient, deadline: float) -> float:
    """When a fresh GetSystemStatus is first answered (each try waits at most 0.5 s)."""
    while time.monotonic() < deadline:
        try:
            if probe.request({"type": "GetSystemStatus"}).ok:
                return time.monotonic()
        except ClientError:  # no reply yet, or the probe's own command not delivered yet
            continue
    raise AssertionError("the worker did not answer again before the deadline")


def broker_pid(broker: LocalBroker) -> int:
    return int((broker.home / "broker.pid").read_text().strip())


@pytest.fixture
def private_deployment(tmp_path: Path) -> Iterator[tuple[LocalBroker, Deployment]]:
    private = LocalBroker("outage").start()
    try:
        deployment = make_deployment(
            Broker(private.bootstrap, "local", 0.0, private.port), tmp_path
        )
        try:
            yield private, deployment
        finally:
            for started in deployment.workers:
                started.stop()
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(broker_pid(private), signal.SIGCONT)  # never leave it stopped
        private.remove(keep_log_in=tmp_path)


def outage(broker: LocalBroker, kind: str, seconds: float) -> float:
    """Take the broker away for ``seconds``; returns when it was back (monotonic)."""
    if kind == "sigstop":
        pid = broker_pid(broker)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(seconds)  # the fault's length, not a wait for anything
        os.kill(pid, signal.SIGCONT)
    else:
        broker.stop()
        time.sleep(seconds)  # the fault's length, not a wait for anything
        broker.start()
    return time.monotonic()


def assert_same_process(worker: Worker, pid: int, what: str) -> None:
    assert worker.running, (
        f"the worker exited ({worker.process and worker.process.returncode}) {what}"
    )
    assert worker.pid == pid and worker.starts == 1, f"the worker was restarted {what}"


def test_broker_outages_end_with_the_same_worker_serving(
    private_deployment: tuple[LocalBroker, Deployment],
) -> None:
    broker, deployment = private_deployment
    settings = deployment.settings
    # No watchdog: a stalled worker must show as a failure here, not be hidden by a restart.
    worker = deployment.worker(stall_restart_seconds=0).start().wait_serving()
    pid = worker.pid
    seed = random.randrange(2**32)
    print(f"\n[seed] {seed}")
    figures: list[str] = []
    with (
        deployment.client(timeout=60, retries=0) as client,
        deployment.client(timeout=0.5, retries=0) as probe,
    ):
        commands = mixed_commands(len(OUTAGES) * 1000, client.reply_topic, seed=seed, tag="o")
        slices = iter(range(0, len(commands), 1000))
        for streaming in (True, False):
            for kind, seconds in OUTAGES:
                what = (
                    f"after a {seconds:g} s broker {kind} ({'streaming' if streaming else 'idle'})"
                )
                stream = None
                if streaming:
                    start = next(slices)
                    stream = Stream(settings, commands[start : start + 1000], chunk=10, pause=0.1)
                    stream.start()
                    time.sleep(1.0)  # the outage strikes a running stream
                back = outage(broker, kind, seconds)
                served = first_answer(probe, back + 120)
                figures.append(
                    f"{kind} {seconds:g}s {'stream' if streaming else 'idle'}: {served - back:.2f}s"
                )
                assert_same_process(worker, pid, what)
                assert served - back <= SERVE_WITHIN, (
                    f"served {served - back:.1f} s {what} [seed {seed}]\n{worker.log()[-4000:]}"
                )
                if stream is not None:
                    stream.wait(300)
        verdict = assert_exactly_once(settings, client, client.reply_topic, commands, seed=seed)
    assert_same_process(worker, pid, "by the end")
    print(
        f"[outages] broker back to first answer: {'; '.join(figures)}; "
        f"commands={verdict.commands} events={verdict.events}"
    )


class Prober:
    """Asks GetSystemStatus back to back on a thread; records the gaps between answers.

    Gaps count from the first answer on: the first request also creates the probe client's reply
    topic and waits for its consumer's assignment (0.5-1 s), which is the client's start-up, not
    a gap in the worker's service.
    """

    def __init__(self, probe: CoordinatorClient) -> None:
        self.probe = probe
        self.phase = "start"
        self.gaps: list[tuple[float, str]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prober", daemon=True)

    def __enter__(self) -> Prober:
        self.probe.connect()
        assert self.probe.request({"type": "GetSystemStatus"}).ok  # the first answer: warmed up
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                ok = self.probe.request({"type": "GetSystemStatus"}).ok
            except ClientError as exc:
                self.failures.append(f"{self.phase}: {exc}")
                continue
            now = time.monotonic()
            if ok:
                self.gaps.append((now - last, f"{self.phase} at {time.strftime('%X')}"))
                last = now


def test_standby_churn_never_interrupts_the_active_worker(deployment: Deployment) -> None:
    settings = deployment.settings
    active = deployment.worker("active").start().wait_serving()
    seed = random.randrange(2**32)
    print(f"\n[seed] {seed}")
    with (
        deployment.client(timeout=60, retries=0) as client,
        deployment.client(timeout=5, retries=0) as probe,
    ):
        commands = mixed_commands(6000, client.reply_topic, seed=seed, tag="c")
        stream = Stream(settings, commands, chunk=20, pause=0.1).start()
        with Prober(probe) as prober:
            prober.phase = "a standby joined"
            first = deployment.worker("standby-1").start()
            first.wait_recovered()
            prober.phase = "the standby was stopped"
            first.stop()  # SIGTERM
            prober.phase = "the standby was restarted"
            first.start()
            first.wait_recovered()
            prober.phase = "a standby was killed and another joined"
            first.kill()  # SIGKILL: its session ends after the session timeout
            third = deployment.worker("standby-2").start()
            third.wait_recovered()
            prober.phase = "the other was stopped"
            third.stop()
            # The group notices the killed and the stopped members once their sessions end.
            prober.phase = "their sessions ended"
            # Not a wait for anything: how long the answers are watched while that happens.
            time.sleep(settings.session_timeout_ms / 1000 + 4.0)
        stream.wait(300)
        verdict = assert_exactly_once(settings, client, client.reply_topic, commands, seed=seed)

    assert not re.search(STEP_DOWN, active.log()), active.log()[-4000:]
    assert active.starts == 1 and active.running
    assert not prober.failures, prober.failures[:3]
    longest, when = max(prober.gaps)
    print(
        f"\n[standby-churn] longest gap between answers {longest:.3f} s ({when}) over "
        f"{len(prober.gaps)} answers; commands={verdict.commands} events={verdict.events}"
    )
    assert longest <= 1.0, f"a gap of {longest:.2f} s when {when} [seed {seed}]"
