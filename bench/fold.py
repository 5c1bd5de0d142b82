"""``python -m bench.fold``: the journal fold of recovery, in-process, without Kafka.

What a worker does with each event it replays (decode, ``change_for``, the table's writes), timed
over a synthetic journal (``bench.journal.synthetic_events``: registrations of ``P`` pipelines,
then status updates and resource reports of random ones) folded by ``recovery.JournalFold`` into a
fresh RocksDB table, the records built one by one as the reader builds them. The baseline, timed
in the same process on the same bytes, is the least any Python fold does: ``json.loads`` of each
event. ``--ref`` measures another commit's code (exported like ``python -m bench --ref``).

    python -m bench.fold                              the working tree
    python -m bench.fold --ref 575454e                an older commit
    python -m bench.fold --pipelines 20000 --events 120000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.inprocess import add_source_options, code_for, run_inner
from bench.journal import JournalShape, synthetic_events


def fold_rate(values: list[tuple[bytes, bytes]], data_dir: Path) -> float:
    """Events/s through the worker's own fold (imported from ``sys.path``)."""
    from coordinator.kafka import reader
    from coordinator.store.table import StateTable
    from coordinator.worker import recovery

    # Older code under test (--ref) has Record in kafka.reader and the fold named Folder.
    record_type: Any = getattr(reader, "Record")  # noqa: B009 - not every version exports it
    fold_type: Any = getattr(recovery, "JournalFold", None) or recovery.__dict__["Folder"]

    table = StateTable(data_dir / "state")
    records = (
        record_type(offset=offset, key=key, value=value, headers=[("tag", b"coordinator")])
        for offset, (key, value) in enumerate(values)
    )
    started = time.perf_counter()
    folded: int = fold_type(table, 10_000).fold(records)
    elapsed = time.perf_counter() - started
    table.close()
    if folded != len(values):
        raise RuntimeError(f"folded {folded} of {len(values)} events")
    return folded / elapsed


def baseline_rate(values: list[tuple[bytes, bytes]]) -> float:
    started = time.perf_counter()
    for _key, value in values:
        json.loads(value)
    return len(values) / (time.perf_counter() - started)


def measure(pipelines: int, events: int, rounds: int) -> dict[str, float]:
    shape = JournalShape(pipelines=pipelines, events=events)
    values = [(key, value) for key, value, _seq in synthetic_events(shape)]
    worker: list[float] = []
    baseline: list[float] = []
    for _ in range(rounds):
        baseline.append(baseline_rate(values))
        with tempfile.TemporaryDirectory(prefix="fold-") as scratch:
            worker.append(fold_rate(values, Path(scratch)))
    return {"worker": max(worker), "baseline": max(baseline)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fold", description=__doc__)
    parser.add_argument("--pipelines", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("-r", "--rounds", type=int, default=1, help="best of this many rounds")
    add_source_options(parser)
    args = parser.parse_args(argv)
    if args.inner:
        print(json.dumps(measure(args.pipelines, args.events, args.rounds)))
        return 0
    tree = code_for(args.ref, args.code)
    # This file is run by path: an older tree's ``bench`` package, found first, has no ``fold``
    # module (and as a plain script, its own folder would come first on ``sys.path``).
    options = ["--inner", "--rounds", str(args.rounds)]
    options += ["--pipelines", str(args.pipelines), "--events", str(args.events)]
    shim = (
        "import runpy, sys; "
        f"sys.argv = [{__file__!r}, *{options!r}]; "
        f"runpy.run_path({__file__!r}, run_name='__main__')"
    )
    inner = ["-c", shim]
    print(
        f"[fold] {args.events:,} events of {args.pipelines:,} pipelines, best of {args.rounds}; "
        f"code from {tree}",
        flush=True,
    )
    figures = run_inner(tree, inner)
    if figures is None:
        return 1
    print(
        f"worker fold {figures['worker']:,.0f} events/s ({1e6 / figures['worker']:.1f} us each); "
        f"baseline json.loads {figures['baseline']:,.0f}/s; "
        f"ratio {figures['worker'] / figures['baseline']:.3f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
