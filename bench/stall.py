"""6. Snapshot stall: the pause that snapshots of a large registry add to command processing.

Method. A journal registering ``P`` pipelines (100,000; synthetic) is replayed by a worker. Then
one client sends RegisterPipeline requests one after another (each appends one event, so with
the default of a snapshot every 50 events snapshots of the whole registry run back to back
under this load) and times each round trip. Four rounds on the same state, alternating the
worker's setting so that drift in the machine's load hits both alike: snapshots off
(``COORDINATOR_SNAPSHOT_EVERY=10^9``), on (every 50, the default), off, on. The stall is the
difference between the p99 of the "on" rounds and the p99 of the "off" rounds (the baseline).
"""

from __future__ import annotations

import re

from bench.env import say
from bench.journal import JournalShape, write_journal
from bench.latency import register
from bench.plan import Context
from bench.report import Row, Target
from bench.stats import summary_ms
from coordinator.client import CoordinatorClient

NAME = "stall"
SNAPSHOT_LINE = re.compile(
    r"msg=Snapshot written seq=\d+ pipelines=(\d+) chunks=(\d+) bytes=\d+ seconds=([0-9.]+)"
)
SETTINGS = {"off": 10**9, "on": 50}
WARMUP = 10


def run(ctx: Context) -> None:
    pipelines, requests = ctx.sizes.stall_pipelines, ctx.sizes.stall_requests
    deployment = ctx.run.deployment("stall")
    samples: dict[str, list[float]] = {"off": [], "on": []}
    snapshot_seconds: list[float] = []
    chunks: list[int] = []
    try:
        write_journal(deployment.settings, JournalShape(pipelines, pipelines))
        with CoordinatorClient(deployment.settings, timeout=30, retries=0) as client:
            for round_index, label in enumerate(("off", "on", "off", "on")):
                worker = deployment.worker("worker", snapshot_every=SETTINGS[label]).start()
                worker.wait_active(timeout=1800)
                for index in range(WARMUP):
                    register(client, f"warm-{round_index}-{index}")
                for index in range(requests // 2):
                    samples[label].append(register(client, f"stall-{round_index}-{index:06d}"))
                for found in SNAPSHOT_LINE.finditer(worker.log()):
                    chunks.append(int(found.group(2)))
                    snapshot_seconds.append(float(found.group(3)))
                worker.stop()
                say(f"stall: round {round_index + 1} (snapshots {label}) done")
    finally:
        deployment.destroy()

    on, off = summary_ms(samples["on"]), summary_ms(samples["off"])
    stall = on["p99"] - off["p99"]
    shape = f"{pipelines:,} pipelines, {requests:,} requests per setting"
    label = "snapshots off"
    mean_seconds = sum(snapshot_seconds) / len(snapshot_seconds) if snapshot_seconds else 0.0
    snapshot_note = (
        f"{len(snapshot_seconds)} snapshots of {max(chunks, default=0)} chunks, "
        f"{mean_seconds:.1f} s each"
    )
    ctx.results.add(
        Row(
            NAME,
            f"p50 with snapshots every 50 events ({shape})",
            on["p50"],
            "ms",
            off["p50"],
            label,
        )
    )
    ctx.results.add(
        Row(
            NAME,
            "p99 with snapshots every 50 events",
            on["p99"],
            "ms",
            off["p99"],
            label,
            note=snapshot_note,
        )
    )
    ctx.results.add(
        Row(NAME, "max with snapshots every 50 events", on["max"], "ms", off["max"], label)
    )
    ctx.results.add(
        Row(
            NAME,
            "stall: p99(on) - p99(off)",
            stall,
            "ms",
            targets=(Target("<= 20 ms", stall <= 20.0 if pipelines >= 100_000 else None),),
        )
    )
    ctx.results.info[NAME] = {
        "pipelines": pipelines,
        "requests": requests,
        "on": on,
        "off": off,
        "snapshotSeconds": snapshot_seconds,
        "snapshotChunks": chunks,
    }
