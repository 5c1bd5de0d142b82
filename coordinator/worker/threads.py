"""The worker's blocking calls, each kind on a thread of its own, awaited from the event loop.

confluent-kafka's and RocksDB's calls block. The journal writer has one thread (its producer has
one transaction open at a time); reads of the journal and the progress topic another; the
housekeeping (snapshot scans, the lag metric, heap trimming) a third, so that none waits for the
others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class WorkerThreads:
    def __init__(self) -> None:
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="journal-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="journal-reader")
        self._housekeeping = ThreadPoolExecutor(1, thread_name_prefix="housekeeping")

    @staticmethod
    async def _run(executor: ThreadPoolExecutor, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, call, *args)

    async def on_writer(self, call: Callable[..., T], *args: Any) -> T:
        return await self._run(self._writer, call, *args)

    async def on_reader(self, call: Callable[..., T], *args: Any) -> T:
        return await self._run(self._reader, call, *args)

    async def on_housekeeping(self, call: Callable[..., T], *args: Any) -> T:
        return await self._run(self._housekeeping, call, *args)

    def shutdown(self) -> None:
        for executor in (self._writer, self._reader, self._housekeeping):
            executor.shutdown(wait=False)
