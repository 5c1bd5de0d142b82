"""The commands lag: commands on the topic that the active worker has not applied yet."""

from __future__ import annotations

from confluent_kafka import Consumer

from coordinator.config import Settings
from coordinator.kafka.reader import committed_consumer, watermarks
from coordinator.worker.threads import WorkerThreads


class CommandsLag:
    def __init__(self, settings: Settings, threads: WorkerThreads) -> None:
        self._settings = settings
        self._threads = threads
        self._consumer: Consumer | None = None

    async def measure(self, next_offset: int) -> int | None:
        """The end of the commands topic less ``next_offset``; None if the broker is away."""
        if self._consumer is None:
            self._consumer = committed_consumer(self._settings, "lag")
        try:
            _low, high = await self._threads.on_housekeeping(
                watermarks, self._consumer, self._settings.topics.commands, 2.0
            )
        except Exception:  # noqa: BLE001 - a metric is not worth an error page
            return None
        return max(0, high - next_offset)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
