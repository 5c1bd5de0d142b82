"""The commands about reservations, time and preemption: capacity held ahead of a registration,
the ``Tick`` that moves journal time on, and the request that a pipeline give way (docs/protocol.md,
"Reservations" and "Preemption")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from coordinator.domain.command_base import CommandModel, Declaration, SuccessReply
from coordinator.domain.events import (
    PreemptionRequested,
    ReservationExpired,
    ReservationReleased,
    ResourcesReserved,
)


class ReserveResources(CommandModel):
    declared = Declaration(
        "Hold capacity (and one pipeline slot) in a group until a registration consumes it, it "
        "is released, or it expires.",
        SuccessReply.RESULT,
        emits=(ResourcesReserved,),
        answer="the reservation: its reservationId and expiresAt",
        refused_when=(
            "the group does not exist (GROUP_NOT_FOUND) or is closed (GROUP_CLOSED), its quota "
            "or the limits would be exceeded (QUOTA_EXCEEDED), or too many reservations are "
            "outstanding (TOO_MANY_RESERVATIONS)"
        ),
    )

    type: Literal["ReserveResources"] = "ReserveResources"
    group: str | None = None
    """The group to hold it in (``default`` when left out)."""
    cpu_percent: float
    memory_mb: int = Field(alias="memoryMB")
    ttl_seconds: float
    priority: int | None = None
    """The priority the preemption candidates of a refusal are chosen against (0)."""


class ReleaseReservation(CommandModel):
    declared = Declaration(
        "Give a reservation back before it expires.",
        SuccessReply.RESULT,
        emits=(ReservationReleased,),
        answer="null",
        refused_when="there is no such reservation (RESERVATION_NOT_FOUND)",
    )

    type: Literal["ReleaseReservation"] = "ReleaseReservation"
    reservation_id: str


class ListReservations(CommandModel):
    declared = Declaration(
        "Ask for the outstanding reservations.",
        SuccessReply.VALUE,
        answer="the reservations (of one group, when group is given) in id order",
    )

    type: Literal["ListReservations"] = "ListReservations"
    group: str | None = None


class Tick(CommandModel):
    declared = Declaration(
        "Move journal time on: expire the reservations whose expiresAt has come (the active "
        "worker appends one when a reservation is due).",
        SuccessReply.NOTHING,
        emits=(ReservationExpired,),
    )

    type: Literal["Tick"] = "Tick"


class RequestPreemption(CommandModel):
    declared = Declaration(
        "Ask pipelines to give way (the coordinator kills nothing: each pipeline's info shows "
        "the request, and its reporter calls on_preemption).",
        SuccessReply.ACCEPTED,
        emits=(PreemptionRequested,),
        refused_when=(
            "a pipeline is not registered (PIPELINE_NOT_FOUND) or not preemptible "
            "(PIPELINE_NOT_PREEMPTIBLE)"
        ),
    )

    type: Literal["RequestPreemption"] = "RequestPreemption"
    pipeline_ids: list[str]
    for_pipeline_id: str | None = None
    """The pipeline waiting for the room (it need not be registered yet)."""
    reason: str
