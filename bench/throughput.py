"""1. Throughput of fire-and-forget updates, from a backlog on the commands topic to the journal.

Method. ``P`` pipelines are registered through the worker (RegisterPipeline commands, as the
client sends them). The worker is stopped and ``N`` updates (status updates and resource reports,
half and half, random registered pipelines) are produced while it is down, so that when it starts
again it works through a full backlog in batches of 500 at its maximum rate, and nothing is
limited by how fast this process produces. The rate is taken from the journal itself:
``(N - 1) / (t_last - t_first)`` over the CreateTime stamps of the first and the last of the
``N`` events (the journal writer stamps each event when it produces it), so the worker's start,
recovery and take-over are not counted.

Baselines, on the same broker, reading the very same ``N`` commands: a plain confluent-kafka
loop (``bench.loops relay``) that decodes each command and produces an event of the
coordinator's shape and a reply; with transactions (a batch of up to 500 per transaction plus a
progress record, like the journal writer: the fair comparison, run before and after the worker to
show drift) and without (an idempotent producer flushed at the end). Both are timed from their
first produce to their last commit or flush.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from bench.baselines import run_relay
from bench.env import Deployment, WorkerProcess, say
from bench.journal import (
    check_command_templates,
    mixed_update,
    pipeline_id,
    produce_commands,
    register_command,
)
from bench.plan import Context
from bench.profiling import Profiler
from bench.report import Row, Target
from bench.topics import records

NAME = "throughput"


def event_span(
    deployment: Deployment, first_index: int, count: int
) -> tuple[float, dict[str, int]]:
    """Seconds between the CreateTime of journal records ``first_index`` and
    ``first_index + count - 1``, and the seqs found there (a check that they are the right ones)."""
    wanted = {first_index: "first", first_index + count - 1: "last"}
    stamps: dict[str, int] = {}
    seqs: dict[str, int] = {}
    for index, message in enumerate(
        records(deployment.settings, deployment.settings.topics.events)
    ):
        if index in wanted:
            stamps[wanted[index]] = message.timestamp()[1]
            seqs[wanted[index]] = int(json.loads(message.value() or b"{}")["seq"])
        if index >= first_index + count - 1:
            break
    return (stamps["last"] - stamps["first"]) / 1e3, seqs


def drain(
    ctx: Context,
    deployment: Deployment,
    worker: WorkerProcess,
    counts: tuple[int, int],
    profile_to: Path | None,
) -> dict[str, float]:
    """Start the worker on the backlog; measure until the last update is in the journal."""
    pipelines, commands = counts
    worker.start()
    profiler = Profiler(worker.pid, profile_to).start() if profile_to is not None else None
    worker.wait_active()
    cpu_before, started = worker.cpu_seconds(), time.monotonic()
    worker.wait_seq(pipelines + commands, timeout=3600, interval=0.5)
    cpu_used, wall = worker.cpu_seconds() - cpu_before, time.monotonic() - started
    if profiler is not None:
        ctx.profiles.extend(profiler.stop())
    rss = worker.rss()
    metrics = worker.metrics()
    worker.stop()
    seconds, seqs = event_span(deployment, pipelines, commands)
    if seqs != {"first": pipelines + 1, "last": pipelines + commands}:
        raise AssertionError(f"unexpected journal layout: {seqs}")
    batches = metrics.get("coordinator_batches_total", 0.0)
    snapshots = metrics.get("coordinator_snapshots_total", 0.0)
    return {
        "rate": (commands - 1) / seconds,
        "seconds": seconds,
        "cpuUtilisation": cpu_used / wall if wall > 0 else 0.0,
        "rssMB": rss / 2**20,
        "batches": batches,
        "commandsPerBatch": commands / batches if batches else 0.0,
        "snapshots": snapshots,
        "snapshotSecondsTotal": metrics.get("coordinator_snapshot_duration_seconds_sum", 0.0),
    }


def run(ctx: Context) -> None:
    pipelines, commands = ctx.sizes.throughput_pipelines, ctx.sizes.throughput_commands
    check_command_templates()
    deployment = ctx.run.deployment("thr")
    try:
        say(f"throughput: registering {pipelines:,} pipelines through the worker")
        produce_commands(
            deployment.settings,
            (register_command(pipeline_id(i), f"{i:032x}") for i in range(pipelines)),
        )
        worker = deployment.worker()
        worker.start().wait_active()
        worker.wait_seq(pipelines, timeout=3600)
        worker.stop()

        say(f"throughput: {commands:,} updates produced while the worker is stopped")
        rng = random.Random(11)
        produced = produce_commands(
            deployment.settings,
            (
                mixed_update(rng, pipeline_id(rng.randrange(pipelines)), step)
                for step in range(commands)
            ),
        )
        assert produced == commands

        say("throughput: baseline loop (transactional), before the worker")
        before = run_relay(deployment, pipelines, commands, "relay-tx-1", transactional=True)
        say(f"throughput: worker drains the backlog (baseline ran at {before['rate']:,.0f}/s)")
        profile_to = ctx.run.output / "profile-throughput" if ctx.profile else None
        measured = drain(ctx, deployment, worker, (pipelines, commands), profile_to)
        say(f"throughput: worker {measured['rate']:,.0f}/s; baselines after the worker")
        after = run_relay(deployment, pipelines, commands, "relay-tx-2", transactional=True)
        plain = run_relay(deployment, pipelines, commands, "relay-plain", transactional=False)
    finally:
        deployment.destroy()

    baseline_tx = (before["rate"] + after["rate"]) / 2
    rate = measured["rate"]
    shape = f"{commands:,} updates, {pipelines:,} pipelines"
    ctx.results.add(
        Row(
            NAME,
            f"fire-and-forget updates ({shape})",
            rate,
            "cmd/s",
            baseline_tx,
            "plain loop, transactional batches of 500",
            (Target(">= 0.5x baseline", rate >= 0.5 * baseline_tx),),
            note=f"baseline before/after {before['rate']:,.0f}/{after['rate']:,.0f}",
        )
    )
    ctx.results.add(
        Row(
            NAME,
            "same, against the loop without transactions",
            rate,
            "cmd/s",
            plain["rate"],
            "plain loop, idempotent, no transactions",
        )
    )
    ctx.results.add(
        Row(
            NAME,
            "worker CPU while draining (1.0 = one core)",
            measured["cpuUtilisation"],
            "",
            note="2 cores shared with broker and others",
        )
    )
    ctx.results.add(
        Row(
            NAME,
            "commands per transaction while draining",
            measured["commandsPerBatch"],
            "",
            note=f"{measured['snapshots']:,.0f} snapshots written meanwhile, "
            f"{measured['snapshotSecondsTotal']:,.0f} s in all",
        )
    )
    ctx.results.info[NAME] = {
        "pipelines": pipelines,
        "commands": commands,
        "worker": measured,
        "relayTransactionalBefore": before,
        "relayTransactionalAfter": after,
        "relayPlain": plain,
    }
