"""Group commit: commands that arrive while a batch is being committed form the next batch.

faust's ``take_events`` freezes its buffer while the agent processes a batch and then waits out
its whole window, so under load its batches stay as small as what arrives in the window (a few
commands) and every one costs a transaction. Here the agent only receives (with faust's automatic
acknowledgement off), a separate loop applies whatever has accumulated, up to ``batch_max``, and
acknowledges those messages only once their transaction has committed. At low load a command is
applied at once, alone; under load batches grow by themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger("coordinator")

Apply = Callable[[Sequence[Any]], Awaitable[None]]


class GroupCommit:
    def __init__(self, apply: Apply, batch_max: int, pending_max: int, linger: float = 0.0) -> None:
        self._apply = apply
        self._batch_max = batch_max
        self._pending_max = max(pending_max, batch_max)
        self._linger = linger
        self._pending: deque[Any] = deque()
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._stream: Any = None

    def attach(self, stream: Any) -> None:
        """The faust stream whose events are put here (acknowledged through it)."""
        stream.enable_acks = False
        self._stream = stream

    async def put(self, event: Any) -> None:
        """Queue one event; waits while the backlog is full (so faust stops fetching)."""
        while len(self._pending) >= self._pending_max:
            self._room.clear()
            await self._room.wait()
        self._pending.append(event)
        self._arrived.set()

    async def run(self) -> None:
        """Apply the backlog, batch after batch, forever."""
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            if self._linger and len(self._pending) < self._batch_max:
                await asyncio.sleep(self._linger)
            while self._pending:
                count = min(len(self._pending), self._batch_max)
                batch = [self._pending.popleft() for _ in range(count)]
                self._room.set()
                await self._apply([event.message for event in batch])
                stream = self._stream
                for event in batch:
                    if stream is not None:
                        await stream.ack(event)
                    else:  # pragma: no cover - an event is only put after attach
                        event.ack()
