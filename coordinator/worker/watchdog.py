"""The last resort: restart a worker that owns the commands partition but cannot serve it.

Two cases: commands wait on the topic and none have been applied for ``stall_restart_seconds``;
or the partition has been this worker's for that long while it is not active (every take-over
failed). A restart is cheap (the state is local and in Kafka), so the worker exits with code 75
for its supervisor (``ops/run.sh``, the compose restart policy, systemd, Kubernetes) to start it
again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import NoReturn, Protocol

from coordinator.worker.roles import Role

log = logging.getLogger("coordinator")

EXIT_RESTART = 75
"""Asks a supervisor for a restart (EX_TEMPFAIL): the worker cannot serve what it owns."""
WATCHDOG_SECONDS = 5.0


class Watched(Protocol):
    @property
    def owns_partition(self) -> bool: ...
    @property
    def role(self) -> Role: ...
    @property
    def busy(self) -> bool: ...
    @property
    def seconds_since_progress(self) -> float: ...
    def mark_progress(self) -> None: ...
    async def commands_lag(self) -> int | None: ...


async def watch(worker: Watched, limit: float, exit_process: Callable[[int], NoReturn]) -> None:
    not_serving_since: float | None = None
    while True:
        await asyncio.sleep(WATCHDOG_SECONDS)
        now = time.monotonic()
        if worker.owns_partition and worker.role is Role.STANDBY:
            not_serving_since = not_serving_since or now
            if now - not_serving_since >= limit:
                log.critical(
                    "msg=Commands partition owned but not served; restarting seconds=%.0f",
                    now - not_serving_since,
                )
                exit_process(EXIT_RESTART)
            continue
        not_serving_since = None
        if worker.role is not Role.ACTIVE or worker.busy:
            continue
        stalled = worker.seconds_since_progress
        if stalled < limit:
            continue
        lag = await worker.commands_lag()
        if lag:
            log.critical(
                "msg=Commands wait but none arrive; restarting lag=%d stalledSeconds=%.0f",
                lag,
                stalled,
            )
            exit_process(EXIT_RESTART)
        worker.mark_progress()
