"""The ticker: the active worker appends a Tick only when a reservation is due."""

from __future__ import annotations

from datetime import timedelta

from coordinator.domain.commands import ReserveResources
from coordinator.worker.ticker import reservation_due
from tests.unit.domain.support import T0, given


def test_a_tick_is_due_only_once_a_reservation_reaches_its_expiry() -> None:
    state = given(
        ReserveResources(cpu_percent=1.0, memory_mb=1, ttl_seconds=10),
        ReserveResources(cpu_percent=1.0, memory_mb=1, ttl_seconds=30),
    )

    assert not reservation_due(state.summary, T0 + timedelta(seconds=9.999))
    assert reservation_due(state.summary, T0 + timedelta(seconds=10))
    assert not reservation_due(given().summary, T0 + timedelta(days=1))  # none outstanding
