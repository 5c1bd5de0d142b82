"""5. Heartbeat capacity: the most pipelines one worker keeps up with at the design's rates.

"Keeps up": the commands-topic lag stays under 1 s for the whole window.

Method. For a count ``C`` (a trial): a fresh deployment whose journal registers ``C`` pipelines
(synthetic, replayed by the worker at start), then this process plays the pipelines: each sends
a status update every 30 s and a resource report every 60 s (``C / 20`` commands/s in all, spread
evenly, on a fixed schedule so that a slow moment is caught up rather than skipped). After a
warm-up, for the window (2 minutes; shorter in quick mode), every 250 ms the lag is sampled as
the age of the oldest command not yet applied: the worker's progress record (written in each
batch's transaction: "commands done up to offset N"), followed by a read_committed consumer,
names the next command, and this process knows when it produced it. A trial passes if the
largest sampled age stays under 1 s and the producer kept to at least 97 % of the schedule. The
search doubles ``C`` until a trial fails, then bisects to within the resolution.

Baseline: the transactional relay loop (``bench.loops``) on a backlog of the same commands; its
rate divided by 0.05 commands/s per pipeline is the count a plain loop could serve (a saturation
figure, where the worker's is at a lag under 1 s).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench.baselines import run_relay
from bench.env import Deployment, say
from bench.journal import (
    JournalShape,
    command_producer,
    pipeline_id,
    produce_commands,
    resource_command,
    status_command,
    write_journal,
)
from bench.plan import Context
from bench.report import Row, Target
from bench.stats import percentile
from topics.definitions import AGGREGATE_ID

NAME = "heartbeat"
PER_PIPELINE = 1 / 30 + 1 / 60
"""Commands per second of one pipeline: a status update every 30 s, a report every 60 s."""
SAMPLE_EVERY = 0.25
LAG_LIMIT = 1.0
SCHEDULE_KEPT = 0.97


def heartbeat(index: int, count: int) -> bytes:
    """The ``index``-th command of the schedule: status, status, report, status, status, ..."""
    turn, phase = divmod(index, 3)
    if phase < 2:
        status_index = turn * 2 + phase
        pid = pipeline_id(status_index % count)
        return status_command(pid, "running", status_index * 1000, status_index % 3)
    pid = pipeline_id(turn % count)
    return resource_command(pid, 0.01 + (turn % 7) / 1000, 512 + turn % 1024)


class ProgressFollower:
    """Follows the progress topic: the next command the worker will apply, as it commits."""

    def __init__(self, deployment: Deployment) -> None:
        self.next_offset = 0
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                **deployment.settings.kafka_base(),
                "group.id": f"{deployment.prefix}.bench-progress-{uuid.uuid4().hex[:6]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 10,
            }
        )
        self._consumer.assign([TopicPartition(deployment.settings.topics.progress, 0, 0)])
        self._thread = threading.Thread(target=self._follow, name="progress", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            message = self._consumer.poll(0.05)
            if message is None or message.error() is not None or message.value() is None:
                continue
            self.next_offset = int(json.loads(message.value() or b"{}")["nextCommandOffset"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


def play(deployment: Deployment, count: int, warmup: float, window: float) -> dict[str, Any]:
    """Send the heartbeats of ``count`` pipelines on schedule; sample the lag in the window."""
    rate = count * PER_PIPELINE
    producer = command_producer(deployment.settings)
    topic, key = deployment.settings.topics.commands, AGGREGATE_ID.encode()
    progress = ProgressFollower(deployment)
    sent_at: list[float] = []
    ages: list[float] = []
    try:
        started = time.monotonic()
        window_start, end = started + warmup, started + warmup + window
        next_sample = window_start
        sent_in_window = 0
        while (now := time.monotonic()) < end:
            due = int((now - started) * rate)
            while len(sent_at) < due:
                try:
                    producer.produce(topic, heartbeat(len(sent_at), count), key)
                except BufferError:
                    producer.poll(0.01)
                    continue
                sent_at.append(now)
                if now >= window_start:
                    sent_in_window += 1
            producer.poll(0)
            if now >= next_sample:
                pending = progress.next_offset  # the commands topic of this trial starts at 0
                ages.append(now - sent_at[pending] if pending < len(sent_at) else 0.0)
                next_sample += SAMPLE_EVERY
            time.sleep(0.002)
        producer.flush(30)
    finally:
        progress.close()
    achieved = sent_in_window / window
    worst = max(ages) if ages else float("inf")
    return {
        "count": count,
        "rate": rate,
        "achievedRate": achieved,
        "maxLagSeconds": worst,
        "p99LagSeconds": percentile(ages, 0.99),
        "samples": len(ages),
        "passed": worst < LAG_LIMIT and achieved >= SCHEDULE_KEPT * rate,
        "scheduleKept": achieved >= SCHEDULE_KEPT * rate,
    }


def trial(ctx: Context, count: int) -> dict[str, Any]:
    deployment = ctx.run.deployment(f"hb{count}")
    try:
        write_journal(deployment.settings, JournalShape(count, count))
        worker = deployment.worker().start()
        worker.wait_active(timeout=1800)
        result = play(deployment, count, ctx.sizes.heartbeat_warmup, ctx.sizes.heartbeat_window)
        result["workerRssMB"] = worker.rss() / 2**20
    finally:
        deployment.destroy()
    verdict = "kept up" if result["passed"] else "fell behind"
    if not result["scheduleKept"]:
        verdict += f" (producer reached only {result['achievedRate']:,.0f}/s)"
    say(
        f"heartbeat: {count:,} pipelines ({result['rate']:,.0f} cmd/s): {verdict}, "
        f"max lag {result['maxLagSeconds']:.2f} s"
    )
    return result


def search(ctx: Context) -> tuple[int | None, list[dict[str, Any]]]:
    """Double from the start count while trials pass, then bisect; the largest passing count."""
    sizes = ctx.sizes
    trials: list[dict[str, Any]] = []
    passed: int | None = None
    failed: int | None = None
    count = sizes.heartbeat_start
    while count <= sizes.heartbeat_max:
        result = trial(ctx, count)
        trials.append(result)
        if result["passed"]:
            passed = count
            if failed is not None:
                break
            count *= 2
        else:
            failed = count
            if passed is not None:
                break
            if count < 1000:
                break
            count //= 2
    if passed is None or failed is None:
        return passed, trials
    low, high = passed, failed
    while (high - low) / low > sizes.heartbeat_resolution:
        middle = round((low + high) / 2 / 500) * 500
        if middle in (low, high):
            break
        result = trial(ctx, middle)
        trials.append(result)
        if result["passed"]:
            low = middle
        else:
            high = middle
    return low, trials


def baseline_rate(ctx: Context, commands: int) -> float:
    deployment = ctx.run.deployment("hbbase")
    try:
        produce_commands(deployment.settings, (heartbeat(i, 100_000) for i in range(commands)))
        return float(run_relay(deployment, 0, commands, "relay-tx", transactional=True)["rate"])
    finally:
        deployment.destroy()


def run(ctx: Context) -> None:
    capacity, trials = search(ctx)
    say("heartbeat: baseline loop on a backlog of heartbeats")
    relay = baseline_rate(ctx, max(20_000, ctx.sizes.throughput_commands))
    relay_capacity = relay / PER_PIPELINE
    window = ctx.sizes.heartbeat_window
    ceiling = all(result["passed"] for result in trials)
    ctx.results.add(
        Row(
            NAME,
            f"pipelines served with lag < 1 s for {window:.0f} s (30 s status, 60 s resources)",
            capacity,
            "pipelines",
            relay_capacity,
            "transactional loop's saturation rate / 0.05",
            (Target(">= 100,000 pipelines", None if capacity is None else capacity >= 100_000),),
            note="search ceiling reached" if ceiling else f"{len(trials)} trials",
        )
    )
    ctx.results.add(
        Row(
            NAME,
            "the same as a command rate",
            None if capacity is None else capacity * PER_PIPELINE,
            "cmd/s",
            relay,
            "transactional loop, backlog",
        )
    )
    ctx.results.info[NAME] = {"capacity": capacity, "trials": trials, "relayRate": relay}
