"""The operator's commands of ``coordinator``: register, unregister, status, list, info, check,
watch and send, each one call (or a few) of ``CoordinatorClient``.

Tables for people by default; ``--json`` prints the JSON of the reply (camelCase, as on
the wire). Exit codes: 0 done; 1 refused by the coordinator (and: ``info`` of a pipeline that is
not registered, ``check`` when the resources are not available); 2 usage, configuration or
connection errors (no broker, no topics, no worker answering), with a message saying what to do.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Annotated

import typer
from rich.console import RenderableType
from rich.live import Live
from rich.markup import escape

from coordinator.client import CoordinatorClient, DeliveryError, ReplyTimeoutError
from coordinator.client.requests import expects_reply
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import SystemStatus
from coordinator.operator import render
from coordinator.operator.groups import groups_app, move, quota_app
from coordinator.operator.labels import labels_app
from coordinator.operator.limits import limits_app
from coordinator.operator.reservations import add_reservation_commands
from coordinator.operator.session import (
    EXIT_REFUSED,
    CommandIdOption,
    Connection,
    connected,
    emit,
    err,
    fail,
    now,
    out,
    session,
    show,
)

# -- the commands -----------------------------------------------------------------------------


def register(
    connection: Connection,
    *,
    pipeline_id: Annotated[
        str, typer.Argument(metavar="ID", help="Pipeline id, e.g. pipeline-123.")
    ],
    name: Annotated[str, typer.Argument(metavar="NAME", help="Human-readable name.")],
    group: Annotated[
        str | None, typer.Option("--group", help="Its group (default: default).")
    ] = None,
    cpu: Annotated[
        float | None, typer.Option("--cpu", min=0, max=100, help="CPU % it requests.")
    ] = None,
    memory_mb: Annotated[
        int | None, typer.Option("--memory-mb", min=0, help="Memory (MB) it requests.")
    ] = None,
    priority: Annotated[
        int | None, typer.Option("--priority", help="Higher is more important (default 0).")
    ] = None,
    preemptible: Annotated[
        bool | None,
        typer.Option(
            "--preemptible/--not-preemptible",
            help="Whether a higher-priority admission may name it for preemption (default yes).",
        ),
    ] = None,
    reservation: Annotated[
        str | None,
        typer.Option("--reservation", help="Consume this reservation (coordinator reserve)."),
    ] = None,
    command_id: CommandIdOption = None,
) -> None:
    """Register a pipeline (refused if the id is registered, or if it does not fit)."""
    with session(connection) as client:
        summary = client.register(
            pipeline_id,
            name,
            command_id,
            group=group,
            requested_cpu_percent=cpu,
            requested_memory_mb=memory_mb,
            priority=priority,
            preemptible=preemptible,
            reservation_id=reservation,
        )
    show(connection, summary, lambda: escape(render.registered(summary)))


def unregister(
    connection: Connection,
    *,
    pipeline_id: Annotated[str, typer.Argument(metavar="ID", help="Pipeline id.")],
    command_id: CommandIdOption = None,
) -> None:
    """Unregister a pipeline (refused if it is not registered)."""
    with session(connection) as client:
        summary = client.unregister(pipeline_id, command_id)
    show(connection, summary, lambda: escape(render.unregistered(summary)))


def status(connection: Connection) -> None:
    """System health, pipelines by status, CPU and memory totals against the limits."""
    with session(connection) as client:
        system = client.system_status()
    show(connection, system, lambda: render.status_view(system, now()))


def list_pipelines(
    connection: Connection,
    *,
    status: Annotated[
        PipelineStatus | None,
        typer.Option("--status", case_sensitive=False, help="Only pipelines in this status."),
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Only pipelines in this group.")
    ] = None,
    selector: Annotated[
        str | None,
        typer.Option(
            "--selector", "-l", help="Only pipelines whose labels match, e.g. 'team=a,tier!=b'."
        ),
    ] = None,
    name_prefix: Annotated[
        str | None, typer.Option("--name-prefix", help="Only names that start with this.")
    ] = None,
) -> None:
    """Every registered pipeline (all pages) that matches, by id; --json prints a JSON array."""
    with session(connection) as client:
        items = client.list_pipelines(
            status, page_size=1000, group=group, selector=selector, name_prefix=name_prefix
        )
        if connection.json:
            for chunk in render.json_array(items):
                sys.stdout.write(chunk)
            emit("")
            return
        rows = list(items)
    if not rows:
        which = f"{status.value} " if status is not None else ""
        out.print(f"No {which}pipelines registered.")
        return
    out.print(render.pipelines_table(rows, now()))


def info(
    connection: Connection,
    *,
    pipeline_id: Annotated[str, typer.Argument(metavar="ID", help="Pipeline id.")],
) -> None:
    """One pipeline's status, records, resources and heartbeat (exit 1 if not registered)."""
    with session(connection) as client:
        found = client.pipeline_info(pipeline_id)
    if found is None:
        if connection.json:
            emit("null")
        err.print(f"pipeline {escape(repr(pipeline_id))} is not registered (see: coordinator list)")
        raise typer.Exit(EXIT_REFUSED)
    show(connection, found, lambda: render.pipeline_view(found, now()))


def check(
    connection: Connection,
    *,
    cpu: Annotated[float, typer.Option("--cpu", help="Estimated CPU % of the new pipeline.")],
    memory_mb: Annotated[
        int, typer.Option("--memory-mb", help="Estimated memory (MB) of the new pipeline.")
    ],
    group: Annotated[
        str | None,
        typer.Option("--group", help="Also check this group's quota; say what binds."),
    ] = None,
    priority: Annotated[
        int | None,
        typer.Option("--priority", help="With --group: find preemption candidates below this."),
    ] = None,
) -> None:
    """Would a pipeline of this size fit? Exit 0 if so, 1 if not (usable in `&&` chains)."""
    if group is not None:
        _check_in_group(connection, cpu, memory_mb, group, priority)
        return
    with session(connection) as client:
        available = client.check_resources(cpu, memory_mb)
    if connection.json:
        emit(json.dumps(available))
    else:
        style = "green" if available else "yellow"
        out.print(f"[{style}]{escape(render.resource_check(cpu, memory_mb, available))}[/]")
    if not available:
        raise typer.Exit(EXIT_REFUSED)


def _check_in_group(
    connection: Connection, cpu: float, memory_mb: int, group: str, priority: int | None
) -> None:
    with session(connection) as client:
        answer = client.availability(cpu, memory_mb, group=group, priority=priority)
    style = "green" if answer.available else "yellow"
    show(
        connection,
        answer,
        lambda: f"[{style}]{escape(render.availability(cpu, memory_mb, answer))}[/]",
    )
    if not answer.available:
        raise typer.Exit(EXIT_REFUSED)


def _snapshot(client: CoordinatorClient, rows: int) -> tuple[SystemStatus, list[PipelineInfo]]:
    system = client.system_status()
    if system.pipelines is not None:
        return system, render.watch_rows(system.pipelines.values(), rows)
    # Too many for one message: the failed ones, then the first page by id.
    failed = client.list_page(PipelineStatus.FAILED, limit=rows).items
    first = client.list_page(limit=rows).items
    merged = {info.pipeline_id: info for info in [*failed, *first]}
    return system, render.watch_rows(merged.values(), rows)


def watch(
    connection: Connection,
    *,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, help="Seconds between refreshes.")
    ] = 2.0,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Most pipelines shown.")] = 20,
) -> None:
    """A live table of health and pipelines, refreshed until Ctrl-C.

    With --json, one line of system status JSON per refresh. When the output is not a terminal,
    each refresh is printed below the previous one. While no worker answers (a failover, or none
    started yet), it says so on stderr and keeps trying.
    """
    # Ctrl-C sets a flag that the waits between refreshes see, instead of raising
    # KeyboardInterrupt wherever the main thread is: raised inside the client (a lock taken, a
    # future's condition waited on), it could leave a lock held, and the process hung on exit.
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda _signal, _frame: stop.set())
    try:
        with session(connection) as client:
            first = _first_snapshot(client, rows, interval, stop)
            if first is None:
                return
            system, pipelines = first
            if connection.json:
                _watch_json(client, system, interval, stop)
            else:
                _watch_tables(client, system, pipelines, interval, rows, stop=stop)
    finally:
        signal.signal(signal.SIGINT, previous)


def _first_snapshot(
    client: CoordinatorClient, rows: int, interval: float, stop: threading.Event
) -> tuple[SystemStatus, list[PipelineInfo]] | None:
    """The first snapshot, waited for while no worker answers (None after Ctrl-C)."""
    while True:
        try:
            return _snapshot(client, rows)
        except (ReplyTimeoutError, DeliveryError) as exc:
            err.print(f"[yellow]no refresh:[/] {escape(str(exc))}")  # a failover: wait for it
        if stop.wait(interval):
            return None


def _watch_json(
    client: CoordinatorClient, system: SystemStatus, interval: float, stop: threading.Event
) -> None:
    emit(system.to_json())
    while not stop.wait(interval):
        try:
            system = client.system_status()
        except (ReplyTimeoutError, DeliveryError) as exc:
            err.print(f"[yellow]no refresh:[/] {escape(str(exc))}")  # a failover: keep watching
            continue
        emit(system.to_json())


def _watch_tables(
    client: CoordinatorClient,
    system: SystemStatus,
    pipelines: list[PipelineInfo],
    interval: float,
    rows: int,
    *,
    stop: threading.Event,
) -> None:
    problem: str | None = None

    def frame() -> RenderableType:
        return render.watch_frame(system, pipelines, now(), problem)

    def refresh() -> None:
        nonlocal system, pipelines, problem
        try:
            system, pipelines = _snapshot(client, rows)
            problem = None
        except (ReplyTimeoutError, DeliveryError) as exc:
            problem = str(exc)  # a failover or a broker restart: keep watching

    if out.is_terminal:
        with Live(frame(), console=out, auto_refresh=False) as live:
            while not stop.wait(interval):
                refresh()
                live.update(frame(), refresh=True)
        return
    while True:
        out.print(frame())
        out.rule()
        if stop.wait(interval):
            return
        refresh()


def send(
    connection: Connection,
    *,
    command: Annotated[
        str,
        typer.Argument(
            metavar="JSON",
            help='One command as a JSON object, e.g. \'{"type":"GetSystemStatus"}\'. replyTo is '
            "set to this CLI's reply topic; commandId (and correlationId) are added if missing.",
        ),
    ],
) -> None:
    """Send a raw command and print its reply's JSON (exit 1 if refused).

    UpdatePipelineStatus and ReportResourceUsage get no reply when they succeed: the CLI waits
    until the coordinator has dealt with them and says whether they were accepted.
    """
    try:
        document = json.loads(command)
    except json.JSONDecodeError as exc:
        raise fail(f"the command is not JSON ({exc}); write it in single quotes") from exc
    if not isinstance(document, dict):
        raise fail('the command must be a JSON object, like \'{"type":"GetSystemStatus"}\'')
    with session(connection) as client:
        if not expects_reply(document):
            client.confirm(document)
            err.print(f"accepted: {escape(str(document.get('type')))} (no reply when it succeeds)")
            return
        reply = client.request(document)
    emit(reply.to_json())
    if not reply.ok:
        raise typer.Exit(EXIT_REFUSED)


def add_operator_commands(app: typer.Typer) -> None:
    """Put the operator's commands on the ``coordinator`` app.

    Every parameter is keyword-only: click passes them by name, in the order declared.
    """
    app.command("register")(connected(register))
    app.command("unregister")(connected(unregister))
    app.command("status")(connected(status))
    app.command("list")(connected(list_pipelines))
    app.command("info")(connected(info))
    app.command("check")(connected(check))
    app.command("watch")(connected(watch))
    app.command("send")(connected(send, json_option=False))
    app.add_typer(limits_app(), name="limits")
    app.add_typer(groups_app(), name="groups")
    app.add_typer(quota_app(), name="quota")
    app.command("move")(connected(move))
    app.add_typer(labels_app(), name="labels")
    add_reservation_commands(app)
