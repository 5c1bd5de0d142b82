"""Sampling a worker with py-spy while a benchmark runs, and reading the samples back.

py-spy attaches to the worker's PID from outside (no change to how the worker starts) and writes
collapsed stacks, ``thread (tid): name;frame (file:line);... count``, which ``summarize`` turns
into time per thread, per package and per function.
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
    """Two ``py-spy record`` runs on one process until ``stop``: samples of the thread holding the
    GIL (``<stem>.gil.txt``: the Python work, which one interpreter does one at a time) and of
    every thread, idle or not (``<stem>.wall.txt``: where each thread spends its time, waits
    included). Both sample without pausing the process (``--nonblocking``), so that the two can
    run side by side and disturb the worker little."""

    def __init__(self, pid: int, stem: Path, rate: int = 100) -> None:
        self.pid = pid
        self.stem = stem
        self.rate = rate
        self.processes: list[subprocess.Popen[bytes]] = []
        self.saved: list[Path] = []

    @property
    def outputs(self) -> list[Path]:
        return [self.stem.with_suffix(".gil.txt"), self.stem.with_suffix(".wall.txt")]

    def start(self) -> Profiler:
        if not PY_SPY.exists():
            say("py-spy not installed (./ops/setup.sh python); profiling skipped")
            return self
        for output, extra in zip(self.outputs, (["--gil"], ["--idle"]), strict=True):
            command = [
                str(PY_SPY),
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--threads",
                "--nonblocking",
                *extra,
                "--output",
                str(output),
            ]
            self.processes.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        time.sleep(0.5)  # attaching takes a moment; what runs before is not seen
        return self

    def stop(self) -> list[Path]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.processes = []
        return [output for output in self.outputs if output.exists()]


def _frames(stack: str) -> tuple[str, list[str]]:
    """The thread name and the frames (``function (file)``, line numbers dropped)."""
    parts = stack.split(";")
    head = parts[0]  # "thread (tid): name", or "thread (tid)" when the name is unknown
    thread = head.partition(": ")[2] or head.split(" ", 1)[0]
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
    per_thread: dict[str, Counter[str]] = {}
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
            per_thread.setdefault(thread, Counter())[frames[-1]] += count
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
    for thread, _count in threads.most_common(4):
        out += table(f"  self time in thread {thread}", per_thread[thread], 6)
    out += table("self time by package (leaf frame)", packages, 15)
    out += table("self time by function", own, top)
    out += table("inclusive time by function", inclusive, top)
    return "\n".join(out)
