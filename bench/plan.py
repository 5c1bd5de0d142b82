"""Sizes of the quick and the full run, and what every measurement is handed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.env import Run
from bench.report import Results


@dataclass(frozen=True, slots=True)
class Sizes:
    name: str
    throughput_pipelines: int
    throughput_commands: int
    latency_requests: int
    recovery_pipelines: int
    recovery_events: int
    recovery_tail: int
    memory_counts: tuple[int, ...]
    memory_live_commands: int
    heartbeat_start: int
    heartbeat_max: int
    heartbeat_window: float
    heartbeat_warmup: float
    heartbeat_resolution: float
    stall_pipelines: int
    stall_requests: int


FULL = Sizes(
    name="full",
    throughput_pipelines=10_000,
    throughput_commands=100_000,
    latency_requests=1_000,
    recovery_pipelines=100_000,
    recovery_events=1_000_000,
    recovery_tail=10_000,
    memory_counts=(0, 10_000, 100_000),
    memory_live_commands=5_000,
    heartbeat_start=4_000,
    heartbeat_max=400_000,
    heartbeat_window=120.0,
    heartbeat_warmup=15.0,
    heartbeat_resolution=0.10,
    stall_pipelines=100_000,
    stall_requests=1_000,
)

QUICK = Sizes(
    name="quick",
    throughput_pipelines=1_000,
    throughput_commands=5_000,
    latency_requests=100,
    recovery_pipelines=5_000,
    recovery_events=30_000,
    recovery_tail=500,
    memory_counts=(0, 5_000),
    memory_live_commands=1_000,
    heartbeat_start=2_000,
    heartbeat_max=64_000,
    heartbeat_window=8.0,
    heartbeat_warmup=2.0,
    heartbeat_resolution=0.5,
    stall_pipelines=5_000,
    stall_requests=400,
)


@dataclass
class Context:
    run: Run
    sizes: Sizes
    results: Results
    profile: bool = False
    profiles: list[Path] = field(default_factory=list)
