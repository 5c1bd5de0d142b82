"""What the reservation, ``Tick`` and preemption commands decide.

A reservation is an admission made ahead of the registration: it is checked like one (the group's
state and quota, the limits in force), then holds its amounts and one pipeline slot until a
``RegisterPipeline`` names it, a ``ReleaseReservation`` gives it back, or a ``Tick`` at or after its
``expiresAt`` expires it. Two reservations racing for the last capacity are decided one after the
other against the state the first one left, so exactly one of them wins. Time only moves through
the journal: a ``Tick`` is decided at its own journal time, and its events record what expired, so
a replay never asks a clock.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from coordinator.domain.commands import (
    ListReservations,
    RegisterPipeline,
    ReleaseReservation,
    RequestPreemption,
    ReserveResources,
    Tick,
)
from coordinator.domain.decide_groups import admit, group_not_found, priority_problem
from coordinator.domain.decision import Accepted, Answered, Context, Decision, Refused, invalid
from coordinator.domain.decision import not_found as pipeline_not_found
from coordinator.domain.events import (
    PreemptionRequested,
    ReservationExpired,
    ReservationReleased,
    ResourcesReserved,
)
from coordinator.domain.groups import Demand
from coordinator.domain.model import DEFAULT_GROUP, Reservation
from coordinator.domain.replies import ErrorCode, ErrorInfo, ReservationList
from coordinator.domain.validation import (
    MAX_ID_LENGTH,
    MAX_REASON_LENGTH,
    count_problem,
    percent_problem,
    text_problem,
)
from coordinator.domain.view import StateView
from coordinator.domain.wire import truncate_to_millis

MAX_RESERVATIONS = 1000
"""Reservations are short-lived and kept in the state's summary, which every batch writes."""
MAX_TTL_SECONDS = 86_400.0
MAX_PREEMPTION_PIPELINES = 100


def _refused(code: ErrorCode, message: str) -> Refused:
    return Refused(ErrorInfo(code=code, message=message), dead_letter=False)


def reservation_id_for(seq: int) -> str:
    """A reservation's id: made from the journal position of its event, so unique and the same
    in every replay."""
    return f"res-{seq}"


def _reserve_problem(command: ReserveResources) -> str | None:
    problem = percent_problem("cpuPercent", command.cpu_percent) or count_problem(
        "memoryMB", command.memory_mb
    )
    ttl = command.ttl_seconds
    if problem is None and (not math.isfinite(ttl) or not 0 < ttl <= MAX_TTL_SECONDS):
        problem = f"ttlSeconds must be more than 0 and at most {MAX_TTL_SECONDS:g}, got {ttl!r}"
    if problem is None and command.group is not None:
        problem = text_problem("group", command.group, MAX_ID_LENGTH)
    if problem is None and command.priority is not None:
        problem = priority_problem(command.priority)
    return problem


def reserve(
    command: ReserveResources, state: StateView, context: Context, seq: int, at: datetime
) -> Decision:
    problem = _reserve_problem(command)
    if problem is not None:
        return invalid(problem)
    group_id = command.group if command.group is not None else DEFAULT_GROUP
    group = state.summary.groups.get(group_id)
    if group is None:
        return group_not_found(group_id)
    outstanding = len(state.summary.reservations)
    if outstanding >= MAX_RESERVATIONS:
        return _refused(
            ErrorCode.TOO_MANY_RESERVATIONS,
            f"there are {outstanding} reservations outstanding, the most there may be "
            f"({MAX_RESERVATIONS}): consume, release or let some expire first",
        )
    demand = Demand(command.cpu_percent, command.memory_mb)
    refusal = admit(state, context, group, demand, command.priority or 0)
    if refusal is not None:
        return refusal
    event = ResourcesReserved(
        seq=seq,
        command_id=command.command_id,
        reservation_id=reservation_id_for(seq),
        group_id=group_id,
        timestamp=at,
        cpu_percent=command.cpu_percent,
        memory_mb=command.memory_mb,
        expires_at=truncate_to_millis(at + timedelta(seconds=command.ttl_seconds)),
    )
    return Accepted((event,))


def _reservation(reservation_id: str, state: StateView) -> Reservation | Refused:
    problem = text_problem("reservationId", reservation_id, MAX_ID_LENGTH)
    if problem is not None:
        return invalid(problem)
    reservation = state.summary.reservations.get(reservation_id)
    if reservation is None:
        return _refused(
            ErrorCode.RESERVATION_NOT_FOUND,
            f"reservation {reservation_id!r} does not exist (never made, or already consumed, "
            "released or expired)",
        )
    return reservation


def release(command: ReleaseReservation, state: StateView, seq: int, at: datetime) -> Decision:
    reservation = _reservation(command.reservation_id, state)
    if isinstance(reservation, Refused):
        return reservation
    event = ReservationReleased(
        seq=seq,
        command_id=command.command_id,
        reservation_id=reservation.reservation_id,
        group_id=reservation.group_id,
        timestamp=at,
    )
    return Accepted((event,))


def consumed(command: RegisterPipeline, state: StateView, at: datetime) -> Reservation | Refused:
    """The reservation a registration names, or why it may not consume it: none such, expired,
    for another group, or for other amounts than the ones the registration asks for."""
    assert command.reservation_id is not None
    reservation = _reservation(command.reservation_id, state)
    if isinstance(reservation, Refused):
        return reservation
    name = f"reservation {reservation.reservation_id!r}"
    if reservation.expires_at <= at:
        return _refused(
            ErrorCode.RESERVATION_EXPIRED,
            f"{name} expired at {reservation.expires_at.isoformat()}",
        )
    if command.group is not None and command.group != reservation.group_id:
        return invalid(f"{name} is for group {reservation.group_id!r}, not {command.group!r}")
    for field, asked, held in (
        ("requestedCpuPercent", command.requested_cpu_percent, reservation.cpu_percent),
        ("requestedMemoryMB", command.requested_memory_mb, reservation.memory_mb),
    ):
        if asked is not None and asked != held:
            return invalid(f"{field} {asked!r} is not the {held!r} {name} holds: leave it out")
    return reservation


def tick(command: Tick, state: StateView, seq: int, at: datetime) -> Decision:
    """Expire every reservation whose ``expiresAt`` has come, earliest first; nothing otherwise."""
    due = sorted(
        (r for r in state.summary.reservations.values() if r.expires_at <= at),
        key=lambda r: (r.expires_at, r.reservation_id),
    )
    events = tuple(
        ReservationExpired(
            seq=seq + index,
            command_id=command.command_id,
            reservation_id=reservation.reservation_id,
            group_id=reservation.group_id,
            timestamp=at,
        )
        for index, reservation in enumerate(due)
    )
    return Accepted(events)


def list_reservations(command: ListReservations, state: StateView) -> Decision:
    if command.group is not None:
        problem = text_problem("group", command.group, MAX_ID_LENGTH)
        if problem is not None:
            return invalid(problem)
    reservations = state.summary.reservations
    chosen = [
        reservations[reservation_id]
        for reservation_id in sorted(reservations, key=_id_order)
        if command.group is None or reservations[reservation_id].group_id == command.group
    ]
    return Answered(ReservationList(reservations=chosen))


def _id_order(reservation_id: str) -> tuple[int, str]:
    """``res-9`` before ``res-10``: by the journal position in the id."""
    _, _, number = reservation_id.partition("-")
    return (int(number), reservation_id) if number.isdigit() else (0, reservation_id)


def _preemption_problem(command: RequestPreemption) -> str | None:
    ids = command.pipeline_ids
    if not ids:
        return "pipelineIds must name at least one pipeline"
    if len(ids) > MAX_PREEMPTION_PIPELINES:
        return f"pipelineIds may name at most {MAX_PREEMPTION_PIPELINES} pipelines, got {len(ids)}"
    for pipeline_id in ids:
        problem = text_problem("pipelineIds[]", pipeline_id, MAX_ID_LENGTH)
        if problem is not None:
            return problem
    if len(set(ids)) != len(ids):
        return "pipelineIds must not name a pipeline twice"
    if command.for_pipeline_id is not None:
        problem = text_problem("forPipelineId", command.for_pipeline_id, MAX_ID_LENGTH)
        if problem is not None:
            return problem
    return text_problem("reason", command.reason, MAX_REASON_LENGTH)


def request_preemption(
    command: RequestPreemption, state: StateView, seq: int, at: datetime
) -> Decision:
    """One ``PreemptionRequested`` per pipeline, in the order given; all or none."""
    problem = _preemption_problem(command)
    if problem is not None:
        return invalid(problem)
    for pipeline_id in command.pipeline_ids:
        info = state.pipeline(pipeline_id)
        if info is None:
            return pipeline_not_found(pipeline_id)
        if not info.preemptible:
            return _refused(
                ErrorCode.PIPELINE_NOT_PREEMPTIBLE,
                f"pipeline {pipeline_id!r} was registered with preemptible false",
            )
    events = tuple(
        PreemptionRequested(
            seq=seq + index,
            command_id=command.command_id,
            pipeline_id=pipeline_id,
            timestamp=at,
            for_pipeline_id=command.for_pipeline_id,
            reason=command.reason,
        )
        for index, pipeline_id in enumerate(command.pipeline_ids)
    )
    return Accepted(events)
