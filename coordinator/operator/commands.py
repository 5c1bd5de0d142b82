"""The operator's commands of ``coordinator``: register, unregister, status, list, info, check,
watch and send, each one call (or a few) of ``CoordinatorClient``.

Tables for people by default; ``--json`` prints the SPEC JSON of the reply (camelCase, as on
the wire). Exit codes: 0 done; 1 refused by the coordinator (and: ``info`` of a pipeline that is
not registered, ``check`` when the resources are not available); 2 usage, configuration or
connection errors (no broker, no topics, no worker answering), with a message saying what to do.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console, RenderableType
from rich.live import Live
from rich.markup import escape

from coordinator.client import (
    CommandRefusedError,
    CoordinatorClient,
    DeliveryError,
    ReplyTimeoutError,
)
from coordinator.client.calls import expects_reply
from coordinator.config import Settings
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import SystemStatus
from coordinator.errors import CoordinatorError
from coordinator.operator import render

EXIT_REFUSED = 1
EXIT_ERROR = 2
CONNECT_TIMEOUT = 3.0
"""Seconds to wait for a broker to answer before saying there is none."""

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

BrokerOption = Annotated[
    str | None,
    typer.Option(
        "--broker",
        help="Kafka bootstrap servers (default: COORDINATOR_BROKER, else 127.0.0.1:9092).",
        show_default=False,
    ),
]
PrefixOption = Annotated[
    str | None,
    typer.Option(
        "--prefix",
        help="Topic prefix (default: COORDINATOR_TOPIC_PREFIX, else coordinator).",
        show_default=False,
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.1,
        help="Seconds to wait for a reply; then the command is sent once more (same commandId).",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the reply's JSON (SPEC wire format), not a table.")
]
CommandIdOption = Annotated[
    str | None,
    typer.Option(
        "--command-id",
        help="Make the command idempotent: one with a commandId already applied is not applied "
        "again, and its original reply comes back.",
        show_default=False,
    ),
]
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the coordinator is, and how the caller wants the answer."""

    broker: str | None
    prefix: str | None
    timeout: float
    json: bool


def settings_for(broker: str | None, prefix: str | None) -> Settings:
    """``COORDINATOR_*`` settings, with ``--broker`` and ``--prefix`` taking precedence."""
    overrides: dict[str, Any] = {}
    if broker:
        overrides["broker"] = broker
    if prefix:
        overrides["topic_prefix"] = prefix
    return Settings().model_copy(update=overrides)


def _now() -> datetime:
    return datetime.now(UTC)


def _emit(text: str | bytes) -> None:
    """Machine-readable output: as is, no wrapping or highlighting."""
    sys.stdout.write(text.decode() if isinstance(text, bytes) else text)
    sys.stdout.write("\n")
    sys.stdout.flush()


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(code)


@contextmanager
def session(connection: Connection) -> Iterator[CoordinatorClient]:
    """A client for one command; refusals and errors become messages and exit codes."""
    # librdkafka's own connection-failure lines would repeat what the error message says.
    logging.getLogger("coordinator.kafka").setLevel(logging.CRITICAL)
    try:
        settings = settings_for(connection.broker, connection.prefix)
    except (CoordinatorError, ValidationError) as exc:
        raise fail(f"configuration: {exc}") from exc
    try:
        # The shared reply topic: nothing to create and delete per command (fast, and no topic
        # churn on the cluster when scripts call the CLI in a loop).
        with CoordinatorClient(
            settings,
            timeout=connection.timeout,
            retries=1,
            connect_timeout=CONNECT_TIMEOUT,
            reply_topic=settings.topics.replies,
            label="cli",
        ) as client:
            yield client
    except CommandRefusedError as refused:
        if connection.json:
            _emit(refused.reply.to_json())
        err.print(f"[red]refused:[/] {escape(str(refused))}")
        raise typer.Exit(EXIT_REFUSED) from refused
    except CoordinatorError as exc:
        raise fail(str(exc)) from exc


# -- the commands -----------------------------------------------------------------------------


def register(
    *,
    pipeline_id: Annotated[
        str, typer.Argument(metavar="ID", help="Pipeline id, e.g. pipeline-123.")
    ],
    name: Annotated[str, typer.Argument(metavar="NAME", help="Human-readable name.")],
    command_id: CommandIdOption = None,
    broker: BrokerOption = None,
    prefix: PrefixOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    as_json: JsonOption = False,
) -> None:
    """Register a pipeline (refused if the id is registered already)."""
    with session(Connection(broker, prefix, timeout, as_json)) as client:
        summary = client.register(pipeline_id, name, command_id)
    if as_json:
        _emit(summary.to_json())
    else:
        out.print(escape(render.registered(summary)))


def unregister(
    *,
    pipeline_id: Annotated[str, typer.Argument(metavar="ID", help="Pipeline id.")],
    command_id: CommandIdOption = None,
    broker: BrokerOption = None,
    prefix: PrefixOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    as_json: JsonOption = False,
) -> None:
    """Unregister a pipeline (refused if it is not registered)."""
    with session(Connection(broker, prefix, timeout, as_json)) as client:
        summary = client.unregister(pipeline_id, command_id)
    if as_json:
        _emit(summary.to_json())
    else:
        out.print(escape(render.unregistered(summary)))


def status(
    *,
    broker: BrokerOption = None,
    prefix: PrefixOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    as_json: JsonOption = False,
) -> None:
    """System health, pipelines by status, CPU and memory totals against the limits."""
    with session(Connection(broker, prefix, timeout, as_json)) as client:
        system = client.system_status()
    if as_json:
        _emit(system.to_json())
    else:
        out.print(render.status_view(system, _now()))


def list_pipelines(
    *,
    status: Annotated[
        PipelineStatus | None,
        typer.Option("--status", case_sensitive=False, help="Only pipelines in this status."),
    ] = None,
    broker: BrokerOption = None,
    prefix: PrefixOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    as_json: JsonOption = False,
) -> None:
    """Every registered pipeline (all pages), by id; --json prints a JSON array."""
    with session(Connection(broker, prefix, timeout, as_json)) as client:
        items = client.list_pipelines(status, page_size=1000)
        if as_json:
            for chunk in render.json_array(items):
                sys.stdout.write(chunk)
            _emit("")
            return
        rows = list(items)
    if not rows:
        which = f"{status.value} " if status is not None else ""
        out.print(f"No {which}pipelines registered.")
        return
    out.print(render.pipelines_table(rows, _now()))


def info(
    *,
    pipeline_id: Annotated[str, typer.Argument(metavar="ID", help="Pipeline id.")],
    broker: BrokerOption = None,
    prefix: PrefixOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    as_json: JsonOption = False,
) -> None:
    """One pipeline's status, records, resources and heartbeat (exit 1 if not registered)."""
    with session(Connection(broker, prefix, timeout, as_json)) as client:
        found = client.pipeline_info(pipeline_id)
    if found is None:
        if as_json:
            _emit("null")
        err.print(f"pipeline {escape(repr(pipeline_id))} is not registered (see: coordinator list)")
        raise typer.Exit(EXIT_REFUSED)
    if as_json:
        _emit(found.to_json())
    else:
        out.print(render.pipeline_view(found, _now()))


def check(
    *,
    cpu: Annotated[float, typer.Option("--cpu", help="Estimated CPU % of the new pipeline.")],
    memory_mb: Annotated[
        int, typer.Option("--memory-mb", help="Estimated memory (MB) of the new pipeline.")
    ],
    broker: BrokerOption = None,
    prefix: PrefixOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    as_json: JsonOption = False,
) -> None:
    """Would a pipeline of this size fit? Exit 0 if so, 1 if not (usable in `&&` chains)."""
    with session(Connection(broker, prefix, timeout, as_json)) as client:
        available = client.check_resources(cpu, memory_mb)
    if as_json:
        _emit(json.dumps(available))
    else:
        style = "green" if available else "yellow"
        out.print(f"[{style}]{escape(render.resource_check(cpu, memory_mb, available))}[/]")
    if not available:
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
    *,
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, help="Seconds between refreshes.")
    ] = 2.0,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Most pipelines shown.")] = 20,
    broker: BrokerOption = None,
    prefix: PrefixOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    as_json: JsonOption = False,
) -> None:
    """A live table of health and pipelines, refreshed until Ctrl-C.

    With --json, one line of system status JSON per refresh. When the output is not a terminal,
    each refresh is printed below the previous one.
    """
    with session(Connection(broker, prefix, timeout, as_json)) as client:
        try:
            system, pipelines = _snapshot(client, rows)
            if as_json:
                _watch_json(client, system, interval)
            _watch_tables(client, system, pipelines, interval, rows)
        except KeyboardInterrupt:
            return


def _watch_json(client: CoordinatorClient, system: SystemStatus, interval: float) -> None:
    fresh = True
    while True:
        if fresh:
            _emit(system.to_json())
        time.sleep(interval)
        try:
            system = client.system_status()
            fresh = True
        except (ReplyTimeoutError, DeliveryError) as exc:
            err.print(f"[yellow]no refresh:[/] {escape(str(exc))}")  # a failover: keep watching
            fresh = False


def _watch_tables(
    client: CoordinatorClient,
    system: SystemStatus,
    pipelines: list[PipelineInfo],
    interval: float,
    rows: int,
) -> None:
    problem: str | None = None

    def frame() -> RenderableType:
        return render.watch_frame(system, pipelines, _now(), problem)

    def refresh() -> None:
        nonlocal system, pipelines, problem
        try:
            system, pipelines = _snapshot(client, rows)
            problem = None
        except (ReplyTimeoutError, DeliveryError) as exc:
            problem = str(exc)  # a failover or a broker restart: keep watching

    if out.is_terminal:
        with Live(frame(), console=out, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                refresh()
                live.update(frame(), refresh=True)
    while True:
        out.print(frame())
        out.rule()
        time.sleep(interval)
        refresh()


def send(
    *,
    command: Annotated[
        str,
        typer.Argument(
            metavar="JSON",
            help='One command as a JSON object, e.g. \'{"type":"GetSystemStatus"}\'. replyTo is '
            "set to this CLI's reply topic; commandId (and correlationId) are added if missing.",
        ),
    ],
    broker: BrokerOption = None,
    prefix: PrefixOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
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
    with session(Connection(broker, prefix, timeout, json=True)) as client:
        if not expects_reply(document):
            client.confirm(document)
            err.print(f"accepted: {escape(str(document.get('type')))} (no reply when it succeeds)")
            return
        reply = client.request(document)
    _emit(reply.to_json())
    if not reply.ok:
        raise typer.Exit(EXIT_REFUSED)


def add_operator_commands(app: typer.Typer) -> None:
    """Put the operator's commands on the ``coordinator`` app.

    Every parameter is keyword-only: click passes them by name, in the order declared.
    """
    app.command("register")(register)
    app.command("unregister")(unregister)
    app.command("status")(status)
    app.command("list")(list_pipelines)
    app.command("info")(info)
    app.command("check")(check)
    app.command("watch")(watch)
    app.command("send")(send)
