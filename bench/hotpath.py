"""``python -m bench.hotpath``: the worker's per-command CPU cost, in-process, without Kafka.

What the worker does to a batch between reading it and handing its records to the producer
(decode, decide, build events and replies, apply the changes to the RocksDB table), timed on
batches of 500 fire-and-forget updates against a registry of 10,000 pipelines. The baseline,
timed in the same process on the same bytes, is the least any Python worker does per command:
``json.loads`` of the command and ``json.dumps`` of two records (an event and a reply).

This is the figure the hot-path optimisations were measured with (BENCHMARKS.md). ``--ref``
measures the code of another commit (exported like ``python -m bench --ref``) for a before/after
pair on the same machine in the same minute.

    python -m bench.hotpath                       the working tree
    python -m bench.hotpath --ref f1fd861^        an older commit
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.inprocess import add_source_options, code_for, run_inner
from bench.journal import pipeline_id, register_command, resource_command, status_command

BATCH = 500
STATUSES = ("running", "running", "running", "paused", "stopped")


def commands(pipelines: int, updates: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    made: list[bytes] = []
    for index in range(updates):
        pid = pipeline_id(rng.randrange(pipelines))
        if index % 2:
            made.append(resource_command(pid, round(rng.uniform(0, 90), 2), rng.randrange(8000)))
        else:
            made.append(status_command(pid, rng.choice(STATUSES), index, index // 100))
    return made


def baseline_rate(payloads: list[bytes]) -> float:
    """Commands/s of json.loads plus two json.dumps of comparable records."""
    started = time.perf_counter()
    for offset, payload in enumerate(payloads):
        command = json.loads(payload)
        event = {"type": "x", "seq": offset, "pipelineId": command["pipelineId"], "at": "t"}
        event.update(command)
        json.dumps(event).encode()
        json.dumps({"commandId": None, "ok": True, "result": {"seq": offset}}).encode()
    return len(payloads) / (time.perf_counter() - started)


def worker_rate(pipelines: int, payloads: list[bytes], data_dir: Path) -> float:
    """Commands/s through the worker's own batch code (imported from ``sys.path``)."""
    from coordinator.config import Settings
    from coordinator.domain.codec import decode_command
    from coordinator.store.table import StateTable
    from coordinator.worker import processing

    settings = Settings(data_dir=data_dir)
    table = StateTable(data_dir / "state")
    decode = getattr(processing, "decode", None)
    incoming_record: Any = processing.__dict__.get("Incoming")  # before coordinator.kafka.records
    if incoming_record is None:
        from coordinator.kafka.records import Record

        incoming_record = Record
    extra_args = len(inspect.signature(processing.BatchBuilder.__init__).parameters) - 5

    def run(batch: list[bytes], first_offset: int) -> None:
        context = processing.context_for(settings, datetime.now(UTC))
        builder_args: list[Any] = [settings, table, context, lambda _topic: True]
        builder_args += [lambda _topic: None] * extra_args
        builder = processing.BatchBuilder(*builder_args)
        for position, payload in enumerate(batch):
            incoming = incoming_record(first_offset + position, None, payload)
            decoded = (
                decode(incoming, settings.max_command_bytes)
                if decode is not None
                else decode_command(payload)
            )
            builder.add(incoming, decoded)
        result = builder.result
        table.apply(result.changes, first_offset, first_offset + len(batch) - 1)

    registers = [register_command(pipeline_id(i), f"r{i}") for i in range(pipelines)]
    offset = 0
    for start in range(0, len(registers), BATCH):
        run(registers[start : start + BATCH], offset)
        offset += BATCH
    started = time.perf_counter()
    for start in range(0, len(payloads), BATCH):
        run(payloads[start : start + BATCH], offset + start)
    elapsed = time.perf_counter() - started
    table.close()
    return len(payloads) / elapsed


def measure(pipelines: int, updates: int, rounds: int) -> dict[str, float]:
    payloads = commands(pipelines, updates)
    worker: list[float] = []
    baseline: list[float] = []
    for _ in range(rounds):
        baseline.append(baseline_rate(payloads))
        with tempfile.TemporaryDirectory(prefix="hotpath-") as scratch:
            worker.append(worker_rate(pipelines, payloads, Path(scratch)))
    return {"worker": max(worker), "baseline": max(baseline)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    parser.add_argument("--pipelines", type=int, default=10_000)
    parser.add_argument("--updates", type=int, default=50_000)
    parser.add_argument("-r", "--rounds", type=int, default=3, help="best of this many rounds")
    add_source_options(parser)
    args = parser.parse_args(argv)
    if args.inner:
        print(json.dumps(measure(args.pipelines, args.updates, args.rounds)))
        return 0
    tree = code_for(args.ref, args.code)
    inner = ["-m", "bench.hotpath", "--inner"]
    inner += ["--pipelines", str(args.pipelines), "--updates", str(args.updates)]
    inner += ["--rounds", str(args.rounds)]
    print(
        f"[hotpath] {args.updates:,} updates in batches of {BATCH} against {args.pipelines:,} "
        f"pipelines, best of {args.rounds}; code from {tree}",
        flush=True,
    )
    figures = run_inner(tree, inner)
    if figures is None:
        return 1
    ratio = figures["worker"] / figures["baseline"]
    print(
        f"worker batch code {figures['worker']:,.0f} updates/s "
        f"({1e6 / figures['worker']:.0f} us each); baseline json.loads + 2 x json.dumps "
        f"{figures['baseline']:,.0f}/s ({1e6 / figures['baseline']:.1f} us each); "
        f"ratio {ratio:.3f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
