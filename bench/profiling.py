"""Sampling a worker with py-spy while a benchmark runs, and reading the samples back.

py-spy attaches to the worker's PID from outside (no change to how the worker starts), samples
every thread that is on the CPU (idle threads are left out, so samples are CPU time), and writes
collapsed stacks: ``thread (tid): name;frame (file:line);... count``.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.env import ROOT, say

PY_SPY = Path(sys.executable).parent / "py-spy"
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


class Profiler:
    """``py-spy record`` on one process, until ``stop`` (or the process ends)."""

    def __init__(self, pid: int, output: Path, rate: int = 100) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Profiler:
        if not PY_SPY.exists():
            say("py-spy not installed (./ops/setup.sh python); profiling skipped")
            return self
        self.process = subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--threads",
                "--output",
                str(self.output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # attaching takes a moment; what runs before is not seen
        return self

    def stop(self) -> Path | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.output if self.output.exists() else None


def _frames(stack: str) -> tuple[str, list[str]]:
    """The thread name and the frames (``function (file)``, line numbers dropped)."""
    head, _, rest = stack.partition(": ")
    parts = rest.split(";")
    thread = parts[0] if parts else head
    frames = []
    for part in parts[1:]:
        found = _FRAME.match(part)
        if found:
            path = found.group("file")
            for marker in ("site-packages/", "/lib/python3", str(ROOT) + "/"):
                if marker in path:
                    path = path.split(marker, 1)[1].split(
                        "/", 1 if marker == "/lib/python3" else 0
                    )[-1]
            frames.append(f"{found.group('function')} ({path})")
        else:
            frames.append(part)
    return thread, frames


def _package(frame: str) -> str:
    path = frame.rsplit("(", 1)[-1].rstrip(")")
    if path.startswith("coordinator/"):
        return "/".join(path.split("/")[:2])
    return path.split("/", 1)[0].removesuffix(".py")


def summarize(raw: Path, top: int = 25) -> str:
    """Where the samples are: per thread, self time per package and function, inclusive time."""
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        thread, frames = _frames(stack)
        total += count
        threads[thread] += count
        if frames:
            own[frames[-1]] += count
            packages[_package(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    if total == 0:
        return "no samples"

    def table(title: str, counter: Counter[str], limit: int) -> list[str]:
        lines = [f"{title}:"]
        for name, count in counter.most_common(limit):
            lines.append(f"  {100 * count / total:5.1f}%  {count:7d}  {name}")
        return lines

    out = [f"{total} samples ({raw.name})"]
    out += table("by thread", threads, 8)
    out += table("self time by package (leaf frame)", packages, 15)
    out += table("self time by function", own, top)
    out += table("inclusive time by function", inclusive, top)
    return "\n".join(out)
