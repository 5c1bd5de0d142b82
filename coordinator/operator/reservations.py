"""``coordinator reserve``, ``release``, ``reservations`` and ``preempt``: capacity held ahead of
a registration, and asking pipelines to give way.

A reservation is checked like a registration and holds its amounts until a registration names
it (``coordinator register --reservation``), it is released, or it expires. A preemption request
stops nothing: the pipelines' reporters see it and their owners decide.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from coordinator.operator import render
from coordinator.operator.session import (
    CommandIdOption,
    Connection,
    connected,
    emit,
    now,
    out,
    session,
    show,
)

ReservationArgument = Annotated[
    str, typer.Argument(metavar="RESERVATION", help="Reservation id, e.g. res-42.")
]


def reserve(
    connection: Connection,
    *,
    cpu: Annotated[float, typer.Option("--cpu", min=0, max=100, help="CPU % to hold.")] = 0.0,
    memory_mb: Annotated[int, typer.Option("--memory-mb", min=0, help="Memory (MB) to hold.")] = 0,
    ttl: Annotated[
        float,
        typer.Option("--ttl", min=0.001, max=86400, help="Seconds until it expires (default 300)."),
    ] = 300.0,
    group: Annotated[
        str | None, typer.Option("--group", help="The group (default: default).")
    ] = None,
    priority: Annotated[
        int | None,
        typer.Option("--priority", help="Preemption candidates of a refusal are below this."),
    ] = None,
    command_id: CommandIdOption = None,
) -> None:
    """Hold capacity and one pipeline slot in a group; prints the reservation id to register
    with (refused, naming the rule, when it does not fit)."""
    with session(connection) as client:
        reservation = client.reserve(
            cpu, memory_mb, ttl, group=group, priority=priority, command_id=command_id
        )
    show(
        connection,
        reservation,
        lambda: (
            f"Reserved {escape(reservation.reservation_id)} in group "
            f"{escape(reservation.group_id)}: {render.percent(reservation.cpu_percent)} CPU, "
            f"{render.megabytes(reservation.memory_mb)}, until "
            f"{render.moment(reservation.expires_at)}. Register with: coordinator register "
            f"ID NAME --reservation {escape(reservation.reservation_id)}"
        ),
    )


def release(
    connection: Connection,
    *,
    reservation_id: ReservationArgument,
    command_id: CommandIdOption = None,
) -> None:
    """Give a reservation back before it expires."""
    with session(connection) as client:
        client.release_reservation(reservation_id, command_id)
    if connection.json:
        emit("null")
    else:
        out.print(f"Released {escape(reservation_id)}.")


def list_reservations(
    connection: Connection,
    *,
    group: Annotated[str | None, typer.Option("--group", help="Only this group's.")] = None,
) -> None:
    """The outstanding reservations and the time each has left."""
    with session(connection) as client:
        found = client.reservations(group)
    if connection.json:
        emit("[" + ",".join(item.to_json().decode() for item in found) + "]")
    elif not found:
        out.print("No reservations outstanding.")
    else:
        out.print(render.reservations_table(found, now()))


def preempt(
    connection: Connection,
    *,
    pipeline_ids: Annotated[
        list[str], typer.Argument(metavar="ID...", help="The pipelines to ask to give way.")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to the pipelines).")],
    for_pipeline: Annotated[
        str | None, typer.Option("--for", help="The pipeline waiting for the room.")
    ] = None,
    command_id: CommandIdOption = None,
) -> None:
    """Ask pipelines to give way: each one's reporter sees the request (nothing is stopped)."""
    with session(connection) as client:
        client.request_preemption(
            pipeline_ids, reason, for_pipeline_id=for_pipeline, command_id=command_id
        )
    if connection.json:
        emit("null")
    else:
        out.print(f"Preemption requested of {escape(', '.join(pipeline_ids))}.")


def add_reservation_commands(app: typer.Typer) -> None:
    app.command("reserve")(connected(reserve))
    app.command("release")(connected(release))
    app.command("reservations")(connected(list_reservations))
    app.command("preempt")(connected(preempt))
