"""What a pipeline process costs: CPU % and resident memory, measured with psutil."""

from __future__ import annotations

from dataclasses import dataclass

import psutil

_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ResourceSample:
    cpu_percent: float
    """Share of the whole machine's CPU capacity, 0-100."""
    memory_mb: int
    """Resident set size, in MiB."""


class ProcessResources:
    """CPU % since the previous sample, and current RSS, of one process (by default this one).

    psutil counts CPU per core (a process busy on two cores is at 200 %); the coordinator takes
    0-100, so the figure is divided by the number of cores: the share of the machine in use.
    """

    def __init__(self, process: psutil.Process | None = None) -> None:
        self._process = process if process is not None else psutil.Process()
        self._cores = psutil.cpu_count() or 1
        self._process.cpu_percent(interval=None)  # starts the first measuring window

    def sample(self) -> ResourceSample:
        busy = self._process.cpu_percent(interval=None) / self._cores
        memory = self._process.memory_info().rss // _MB
        return ResourceSample(cpu_percent=round(min(100.0, max(0.0, busy)), 2), memory_mb=memory)
