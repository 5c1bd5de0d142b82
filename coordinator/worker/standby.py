"""The hot standby: folding the journal into the table while another worker is active."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from coordinator.config import Settings
from coordinator.store.table import StateTable
from coordinator.worker.metrics import Metrics
from coordinator.worker.recovery import Follower
from coordinator.worker.threads import WorkerThreads

log = logging.getLogger("coordinator")

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


class StandbyFollower:
    def __init__(
        self,
        settings: Settings,
        table: StateTable,
        metrics: Metrics,
        threads: WorkerThreads,
        *,
        spawn: Spawn,
        following: Callable[[], bool],
    ) -> None:
        self._settings = settings
        self._table = table
        self._metrics = metrics
        self._threads = threads
        self._spawn = spawn
        self._following = following
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = self._spawn(self._follow(), "follow-journal")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _follow(self) -> None:
        follower = await self._threads.on_reader(Follower, self._settings, self._table)
        try:
            while self._following():
                records = await self._threads.on_reader(follower.poll, 0.5)
                if records and self._following():
                    follower.fold(records)
                    self._metrics.observe_summary(self._table.summary)
        finally:
            await self._threads.on_reader(follower.close)
