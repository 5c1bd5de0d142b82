"""Journal time for reservations: the active worker appends a ``Tick`` command when one is due.

Expiry is decided by the ``Tick`` like any command, at its journal time, and recorded as
``ReservationExpired`` events: a replay or a standby reads what expired and never asks a clock.
The worker looks every ``COORDINATOR_TICK_INTERVAL_SECONDS`` (0: never) and appends a ``Tick`` only
when a reservation's ``expiresAt`` has passed, so an idle registry adds nothing to the commands
topic. A ``Tick`` lost in a failover is harmless: the next worker's next look appends another, and
two ``Tick``s expire each reservation once (the second finds it gone).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from coordinator.config import Settings
from coordinator.domain.model import Summary
from topics.definitions import AGGREGATE_ID

log = logging.getLogger("coordinator")

TICK = b'{"type":"Tick"}'


def reservation_due(summary: Summary, now: datetime) -> bool:
    """Whether a reservation of ``summary`` has reached its expiry at ``now``."""
    return any(r.expires_at <= now for r in summary.reservations.values())


class Ticker:
    """Appends a ``Tick`` to the commands topic while this worker is active and one is due."""

    def __init__(
        self,
        settings: Settings,
        summary: Callable[[], Summary],
        active: Callable[[], bool],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._summary = summary
        self._active = active
        self._clock = clock
        self._producer: Producer | None = None
        self.appended = 0

    async def run(self) -> None:
        interval = self.settings.tick_interval_seconds
        if interval <= 0:
            return
        try:
            while True:
                await asyncio.sleep(interval)
                if self._active() and reservation_due(self._summary(), self._clock()):
                    self.append()
        finally:
            if self._producer is not None:
                self._producer.flush(1.0)

    def append(self) -> None:
        """Hand one ``Tick`` to the producer (a failure is logged: the next look tries again)."""
        if self._producer is None:
            self._producer = Producer(
                {
                    **self.settings.kafka_base(),
                    "enable.idempotence": True,
                    "linger.ms": 0,
                    "client.id": f"{self.settings.topics.prefix}-{self.settings.worker_name}-tick",
                },
                logger=logging.getLogger("coordinator.kafka"),
            )
        try:
            self._producer.produce(
                self.settings.topics.commands, value=TICK, key=AGGREGATE_ID, on_delivery=_reported
            )
        except (BufferError, KafkaException) as exc:
            log.warning("msg=Tick not appended error=%r", str(exc))
            return
        self._producer.poll(0)
        self.appended += 1


def _reported(error: KafkaError | None, _message: Message) -> None:
    if error is not None:
        log.warning("msg=Tick not delivered error=%r", error.str())
