"""How events change the reservations the summary keeps (see ``state``, which applies them)."""

from __future__ import annotations

from typing import assert_never

from coordinator.domain.change import Change, summary_after
from coordinator.domain.events import (
    AnyReservationEvent,
    PipelineRegistered,
    ReservationExpired,
    ReservationReleased,
    ResourcesReserved,
)
from coordinator.domain.model import Reservation, Summary


def reservation_change(before: Summary, event: AnyReservationEvent) -> Change:
    """A reservation made (the reply is the reservation), released or expired (no reply)."""
    reservations = dict(before.reservations)
    reply: Reservation | None = None
    match event:
        case ResourcesReserved():
            reply = Reservation(
                reservation_id=event.reservation_id,
                group_id=event.group_id,
                cpu_percent=event.cpu_percent,
                memory_mb=event.memory_mb,
                created_at=event.timestamp,
                expires_at=event.expires_at,
            )
            reservations[event.reservation_id] = reply
        case ReservationReleased() | ReservationExpired():
            reservations.pop(event.reservation_id, None)
        case _:
            assert_never(event)
    summary = summary_after(before, event.seq, event.timestamp, {"reservations": reservations})
    return Change(None, None, summary, reply=reply)


def reservations_after(before: Summary, event: PipelineRegistered) -> dict[str, Reservation]:
    """The reservations once a registration consumed the one it names (the same mapping when it
    names none)."""
    if event.reservation_id is None or event.reservation_id not in before.reservations:
        return before.reservations
    reservations = dict(before.reservations)
    del reservations[event.reservation_id]
    return reservations
