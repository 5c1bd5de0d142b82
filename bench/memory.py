"""4. Memory: the worker's resident set size with 0, 10,000 and 100,000 pipelines.

Method. One deployment grows through the sizes. At each step the worker is stopped, the journal
is extended (synthetic: registrations of the new pipelines, then two status updates or resource
reports per new pipeline, of random pipelines), and the worker is started again: it folds
the new events into its local RocksDB, takes over, and then applies a fixed live load through the
commands topic (status updates and resource reports of registered pipelines; with 0 pipelines
the same commands name unknown pipelines and are only counted). Once everything is applied and
the snapshots have come to rest (``coordinator_snapshots_total`` unchanged for 3 s), RSS is read
with psutil (the median of three readings a second apart); the peak RSS seen from the worker's
start to then (sampled every 200 ms) is in the note. Registering 100,000 pipelines through the
commands topic instead would take longer than every other measurement together at the current
throughput.

Then the worker is restarted and the same live load applied again: with nothing left to fold,
this RSS shows the state's own footprint, apart from what the allocator (and RocksDB's memtable)
kept from folding the journal.

The baseline is the worker's RSS with 0 pipelines after the same procedure; the target is about
the growth, scaled to 100,000 pipelines (extrapolated when the largest size is smaller).
"""

from __future__ import annotations

import contextlib
import random
import statistics
import threading
import time

import psutil

from bench.env import Deployment, WorkerProcess, say
from bench.journal import (
    JournalShape,
    pipeline_id,
    produce_commands,
    resource_command,
    status_command,
    write_journal,
)
from bench.plan import Context
from bench.report import Row, Target
from bench.topics import Progress, end_offset

NAME = "memory"
MB = 2**20


def settle(worker: WorkerProcess, quiet_for: float = 3.0, limit: float = 600.0) -> float:
    """Wait until no snapshot has been written for ``quiet_for`` seconds; return the RSS then."""
    deadline = time.monotonic() + limit
    last = worker.metrics().get("coordinator_snapshots_total", 0.0)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < quiet_for:
        time.sleep(1.0)
        now = worker.metrics().get("coordinator_snapshots_total", 0.0)
        if now != last:
            last, quiet_since = now, time.monotonic()
    readings = []
    for _ in range(3):
        readings.append(worker.rss())
        time.sleep(1.0)
    return float(statistics.median(readings))


class PeakRss:
    """The largest RSS of a worker, sampled every 200 ms by a thread while in the block."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.value = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss", daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(psutil.Error):
                self.value = max(self.value, self.worker.rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def live_load(registered: int, commands: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    load = []
    for step in range(commands):
        index = rng.randrange(registered) if registered else rng.randrange(10**6)
        pid = pipeline_id(index, "p" if registered else "unknown")
        if step % 2:
            load.append(status_command(pid, "running", step * 100, 0))
        else:
            load.append(resource_command(pid, round(rng.uniform(0, 0.05), 4), 512))
    return load


def grow(deployment: Deployment, journal: tuple[int, int], count: int) -> tuple[int, int]:
    """Extend the journal from ``journal`` (pipelines, events) to ``count`` pipelines: their
    registrations, then two reports per new pipeline (of random pipelines)."""
    registered, events = journal
    new = count - registered
    if new <= 0:
        return journal
    shape = JournalShape(count, new * 3, first_seq=events + 1, first_pipeline=registered)
    write_journal(deployment.settings, shape)
    return count, events + new * 3


def serve(deployment: Deployment, count: int, live: int) -> tuple[float, float]:
    """Start the worker, apply the live load, let snapshots rest: (RSS then, peak RSS)."""
    worker = deployment.worker().start()
    with PeakRss(worker) as peak:
        worker.wait_active(timeout=3600)
        produce_commands(deployment.settings, iter(live_load(count, live, count)))
        commands_end = end_offset(deployment.settings, deployment.settings.topics.commands)
        with Progress(deployment.settings) as progress:
            while progress.next_offset() < commands_end:
                time.sleep(0.2)
        settled = settle(worker)
    worker.stop()
    return settled, float(peak.value)


def run(ctx: Context) -> None:
    counts = ctx.sizes.memory_counts
    live = ctx.sizes.memory_live_commands
    deployment = ctx.run.deployment("mem")
    rss: dict[int, float] = {}
    peaks: dict[int, float] = {}
    restarted: dict[int, float] = {}
    journal = (0, 0)
    try:
        for count in counts:
            journal = grow(deployment, journal, count)
            rss[count], peaks[count] = serve(deployment, count, live)
            # The same again after a restart: nothing to fold, so what stays is the state itself
            # rather than what the allocator kept from folding the journal.
            restarted[count], _peak = serve(deployment, count, live)
            if count:
                journal = (journal[0], journal[1] + 2 * live)
            say(
                f"memory: {rss[count] / MB:,.0f} MB with {count:,} pipelines (peak "
                f"{peaks[count] / MB:,.0f}, after a restart {restarted[count] / MB:,.0f})"
            )
    finally:
        deployment.destroy()

    first, largest = counts[0], max(counts)
    for count in counts:
        baseline = rss[first] / MB
        if count == first:
            ctx.results.add(
                Row(NAME, f"worker RSS, {count:,} pipelines (the baseline)", baseline, "MB")
            )
        else:
            ctx.results.add(
                Row(
                    NAME,
                    f"worker RSS, {count:,} pipelines, after folding their journal",
                    rss[count] / MB,
                    "MB",
                    baseline,
                    f"same procedure, {first:,} pipelines",
                    note=f"peak {peaks[count] / MB:,.0f} MB",
                )
            )
        ctx.results.add(
            Row(
                NAME,
                f"worker RSS, {count:,} pipelines, after a restart (local state, nothing to fold)",
                restarted[count] / MB,
                "MB",
                restarted[first] / MB if count != first else None,
                f"after a restart, {first:,} pipelines" if count != first else "",
            )
        )
    scale = 100_000 / (largest - first)
    growth = (rss[largest] - rss[first]) / MB * scale
    growth_restarted = (restarted[largest] - restarted[first]) / MB * scale
    ctx.results.add(
        Row(
            NAME,
            f"RSS growth per 100,000 pipelines ({first:,} to {largest:,})",
            growth,
            "MB",
            targets=(Target("<= 50 MB per 100k", growth <= 50.0),),
            note=f"{growth_restarted:,.0f} MB after a restart"
            + (", extrapolated" if largest < 100_000 else ""),
        )
    )
    ctx.results.info[NAME] = {
        "liveCommands": live,
        "rssMB": {str(count): value / MB for count, value in rss.items()},
        "peakMB": {str(count): value / MB for count, value in peaks.items()},
        "afterRestartMB": {str(count): value / MB for count, value in restarted.items()},
    }
