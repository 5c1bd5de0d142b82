"""``python -m bench``: run the benchmarks and print each figure beside its same-run baseline.

Usually started by ``./ops/bench.sh`` (which installs what is missing first). Starts a private
Kafka broker, runs the chosen measurements in order, prints the table, writes ``results.json``
and ``table.md`` (and, with ``--profile``, py-spy samples and their summaries) to
``.data/bench/results-<run>/``, and stops and deletes the broker and every worker's data, also
after a failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import heartbeat, latency, memory, recovery, stall, throughput
from bench.env import ROOT, Run, say
from bench.plan import FULL, QUICK, Context
from bench.profiling import summarize
from bench.report import Results, Row, render_markdown, render_text

MEASUREMENTS: dict[str, Callable[[Context], None]] = {
    "throughput": throughput.run,
    "latency": latency.run,
    "recovery": recovery.run,
    "memory": memory.run,
    "heartbeat": heartbeat.run,
    "stall": stall.run,
}
DESCRIPTIONS = {
    "throughput": throughput.__doc__,
    "latency": latency.__doc__,
    "recovery": recovery.__doc__,
    "memory": memory.__doc__,
    "heartbeat": heartbeat.__doc__,
    "stall": stall.__doc__,
}


def parser() -> argparse.ArgumentParser:
    listing = "\n".join(
        f"  {name:11} {(DESCRIPTIONS[name] or '').strip().splitlines()[0]}" for name in MEASUREMENTS
    )
    created = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmarks of the coordinator on a private local Kafka broker. Every figure is "
            "printed beside a baseline measured in the same run; nothing is asserted."
        ),
        epilog=f"measurements (default: all, in this order):\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    created.add_argument(
        "measurements",
        nargs="*",
        metavar="MEASUREMENT",
        help="which to run: " + ", ".join(MEASUREMENTS),
    )
    created.add_argument(
        "--quick", action="store_true", help="small sizes (the whole set in a few minutes)"
    )
    created.add_argument(
        "--profile",
        action="store_true",
        help="sample the worker with py-spy during throughput's drain and recovery's full "
        "replay (figures of such a run are perturbed by the sampling)",
    )
    source = created.add_mutually_exclusive_group()
    source.add_argument(
        "--ref",
        help="run the workers from this git commit (exported with git archive into "
        ".data/bench/code-<sha>), e.g. for a before/after row; default: the working tree",
    )
    source.add_argument(
        "--code",
        type=Path,
        default=ROOT,
        help="source tree the workers run from (default: this repository's working tree)",
    )
    created.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a COORDINATOR_NAME setting for every worker (repeatable), for what-if runs such as "
        "--worker-env BATCH_MAX=200; a measurement's own settings (snapshots off) win",
    )
    created.add_argument(
        "--keep", action="store_true", help="keep worker logs and data of the run under .data/bench"
    )
    created.add_argument("--markdown", action="store_true", help="also print the table in Markdown")
    return created


def _command(*args: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
        return (result.stdout + result.stderr).strip()
    return "?"


def export(ref: str) -> tuple[Path, str]:
    """The tree of commit ``ref``, exported once into .data/bench/code-<sha>/."""
    sha = _command("git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}")
    if not sha or " " in sha or len(sha) != 40:
        raise SystemExit(f"--ref {ref}: not a commit ({sha})")
    target = ROOT / ".data" / "bench" / f"code-{sha[:12]}"
    if not (target / "coordinator").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        git, tar = shutil.which("git") or "git", shutil.which("tar") or "tar"
        archive = subprocess.run(
            [git, "-C", str(ROOT), "archive", sha, "coordinator", "topics"],
            capture_output=True,
            check=True,
        )
        subprocess.run([tar, "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target, sha


def machine(code: Path, commit: str | None) -> dict[str, Any]:
    import confluent_kafka
    import psutil

    java = _command("java", "-version").splitlines()
    if commit is None:
        found = _command("git", "-C", str(code), "rev-parse", "HEAD")
        commit = found if found and " " not in found else "not a git checkout"
        dirty = _command(
            "git", "-C", str(code), "status", "--porcelain", "--", "coordinator", "topics"
        )
        changed = bool(dirty) and "fatal" not in dirty
    else:
        changed = False
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "memoryGiB": round(psutil.virtual_memory().total / 2**30, 1),
        "loadAverage": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "java": java[0] if java else "?",
        "kernel": platform.release(),
        "confluentKafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
        "code": str(code),
        "commit": commit,
        "uncommittedChangesInCoordinator": changed,
    }


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _worker_env(command_line: argparse.ArgumentParser, items: list[str]) -> dict[str, str]:
    found = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator or not name:
            command_line.error(f"--worker-env wants NAME=VALUE, got {item!r}")
        found[name.upper().removeprefix("COORDINATOR_")] = value
    return found


def measure(context: Context, chosen: list[str]) -> list[str]:
    """Run the chosen measurements in order; a failure is reported and the others still run.
    Returns the names of those that failed."""
    run, results = context.run, context.results
    failed = []
    try:
        run.start()
        say(f"{context.sizes.name} run of {', '.join(chosen)}; workers from {run.code}")
        for name in chosen:
            began = time.monotonic()
            try:
                MEASUREMENTS[name](context)
            except Exception as exc:  # noqa: BLE001 - report it and go on with the others
                failed.append(name)
                traceback.print_exc()
                results.add(Row(name, f"FAILED: {exc!s:.120}", None, ""))
            results.info.setdefault("seconds", {})[name] = round(time.monotonic() - began, 1)
            say(f"{name} done in {time.monotonic() - began:,.0f} s")
    except KeyboardInterrupt:
        say("interrupted; stopping the workers and the broker")
        failed.append("interrupted")
    finally:
        run.close()
    return failed


def report(context: Context, markdown: bool) -> None:
    """Print the table (and profile summaries); leave results.json and table.md behind."""
    run, results = context.run, context.results
    run.output.mkdir(parents=True, exist_ok=True)
    (run.output / "results.json").write_text(results.to_json())
    (run.output / "table.md").write_text(render_markdown(results.rows) + "\n")
    info = results.info
    print()
    print(
        f"{context.sizes.name} run, {info['totalSeconds']:,.0f} s, code {run.code} "
        f"({info['machine']['commit'][:12]}"
        f"{', uncommitted changes' if info['machine']['uncommittedChangesInCoordinator'] else ''}"
        f"), {info['machine']['cpus']} CPUs, load average {info['machine']['loadAverage']}"
    )
    print(render_text(results.rows))
    if markdown:
        print()
        print(render_markdown(results.rows))
    for raw in context.profiles:
        summary = summarize(raw)
        raw.with_suffix(".summary.txt").write_text(summary + "\n")
        print(f"\nprofile {raw}:\n{summary}")
    print(f"\nresults: {run.output}")


def main(argv: list[str] | None = None) -> int:
    command_line = parser()
    args = command_line.parse_args(argv)
    unknown = [name for name in args.measurements if name not in MEASUREMENTS]
    if unknown:
        command_line.error(
            f"unknown measurement {', '.join(unknown)}; one of {', '.join(MEASUREMENTS)}"
        )
    chosen = list(dict.fromkeys(args.measurements)) or list(MEASUREMENTS)
    sizes = QUICK if args.quick else FULL
    worker_env = _worker_env(command_line, args.worker_env)
    signal.signal(signal.SIGTERM, _interrupted)
    results = Results()
    code, commit = export(args.ref) if args.ref else (args.code, None)
    results.info.update(
        machine=machine(code, commit), sizes=sizes.name, measurements=chosen, workerEnv=worker_env
    )
    run = Run(code, keep=args.keep, worker_env=worker_env)
    context = Context(run, sizes, results, profile=args.profile)
    started = time.monotonic()
    failed = measure(context, chosen)
    results.info["totalSeconds"] = round(time.monotonic() - started, 1)
    report(context, args.markdown)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
