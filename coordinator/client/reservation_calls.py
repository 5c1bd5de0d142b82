"""The calls about reservations and preemption requests: their builders, for ``CommandCalls``
(see ``calls``)."""

from __future__ import annotations

from collections.abc import Sequence

from coordinator.client.requests import Call, instance_of
from coordinator.domain.commands import (
    ListReservations,
    ReleaseReservation,
    RequestPreemption,
    ReserveResources,
)
from coordinator.domain.model import Reservation
from coordinator.domain.replies import ReservationList


def reserve(
    cpu_percent: float,
    memory_mb: int,
    ttl_seconds: float,
    *,
    group: str | None = None,
    priority: int | None = None,
    command_id: str | None = None,
) -> Call[Reservation]:
    """Hold capacity (and one pipeline slot) in ``group`` for ``ttl_seconds``; the reply is the
    reservation: pass its ``reservation_id`` to ``register``. One that does not fit raises
    ``CommandRefusedError`` with ``QUOTA_EXCEEDED``, naming the rule that binds."""
    command = ReserveResources(
        group=group,
        cpu_percent=cpu_percent,
        memory_mb=memory_mb,
        ttl_seconds=ttl_seconds,
        priority=priority,
        command_id=command_id,
    )
    return Call(command, instance_of(Reservation))


def release_reservation(reservation_id: str, command_id: str | None = None) -> Call[None]:
    """Give a reservation back before it expires."""
    command = ReleaseReservation(reservation_id=reservation_id, command_id=command_id)
    return Call(command, lambda _value: None)


def reservations(group: str | None = None) -> Call[list[Reservation]]:
    """The outstanding reservations (of ``group``, when given), in the order they were made."""
    read = instance_of(ReservationList)
    return Call(ListReservations(group=group), lambda value: read(value).reservations)


def request_preemption(
    pipeline_ids: Sequence[str],
    reason: str,
    *,
    for_pipeline_id: str | None = None,
    command_id: str | None = None,
) -> Call[None]:
    """Ask pipelines to give way (all of them or, when one is unknown or not preemptible, none).
    Nothing is stopped: each one's reporter calls its ``on_preemption``."""
    command = RequestPreemption(
        pipeline_ids=list(pipeline_ids),
        for_pipeline_id=for_pipeline_id,
        reason=reason,
        command_id=command_id,
    )
    return Call(command, lambda _value: None)
