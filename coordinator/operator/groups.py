"""``coordinator groups …``, ``coordinator quota set`` and ``coordinator move``: pipeline groups,
their quotas and states, and moving pipelines between them.

Groups and quotas live in the journal like the pipelines, so every worker and every replay
agrees on them. Each command prints the group (or the pipeline) after the change; a refusal
names the rule that binds (``QUOTA_EXCEEDED``: the scope, dimension, requested, used, limit).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from coordinator.client.group_calls import UNCHANGED
from coordinator.domain.model import GroupState
from coordinator.domain.replies import GroupInfo
from coordinator.operator import render
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

GroupArgument = Annotated[str, typer.Argument(metavar="GROUP", help="Group id, e.g. payments.")]
RevisionOption = Annotated[
    int | None,
    typer.Option(
        "--expected-revision",
        min=0,
        help="Refused (REVISION_CONFLICT) unless the group is at this revision "
        "(`coordinator groups show` shows it).",
    ),
]


def _labels(given: list[str] | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for text in given or []:
        key, equals, value = text.partition("=")
        if not equals:
            raise fail(f"--label {text!r}: write it as key=value")
        labels[key] = value
    return labels


def list_groups(connection: Connection) -> None:
    """Every group: state, pipelines, usage against the quota, revision."""
    with session(connection) as client:
        groups: list[GroupInfo] = []
        after: str | None = None
        while True:
            page = client.list_groups(1000, after)
            groups.extend(page.items)
            if page.next is None:
                break
            after = page.next
    if connection.json:
        emit("[" + ",".join(info.to_json().decode() for info in groups) + "]")
        return
    out.print(render.groups_table(groups))


def show_group(connection: Connection, *, group_id: GroupArgument) -> None:
    """One group: its quota, usage, counts by status, state and revision (exit 1 if none)."""
    with session(connection) as client:
        found = client.group(group_id)
    if found is None:
        if connection.json:
            emit("null")
        err.print(f"group {escape(repr(group_id))} does not exist (see: coordinator groups list)")
        raise typer.Exit(EXIT_REFUSED)
    show(connection, found, lambda: render.groups_table([found]))


def create_group(
    connection: Connection,
    *,
    group_id: GroupArgument,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="key=value; repeat for more.")
    ] = None,
    command_id: CommandIdOption = None,
) -> None:
    """Create a group: open, without a quota."""
    with session(connection) as client:
        info = client.create_group(group_id, _labels(label), command_id)
    _show(connection, info, "Created")


def _set_state(
    connection: Connection,
    group_id: str,
    state: GroupState,
    revision: int | None,
    command_id: str | None,
) -> None:
    with session(connection) as client:
        info = client.set_group_state(
            group_id, state, expected_revision=revision, command_id=command_id
        )
    _show(connection, info, "Opened" if state is GroupState.OPEN else "Closed")


def open_group(
    connection: Connection,
    *,
    group_id: GroupArgument,
    expected_revision: RevisionOption = None,
    command_id: CommandIdOption = None,
) -> None:
    """Open a group: it accepts new pipelines again."""
    _set_state(connection, group_id, GroupState.OPEN, expected_revision, command_id)


def close_group(
    connection: Connection,
    *,
    group_id: GroupArgument,
    expected_revision: RevisionOption = None,
    command_id: CommandIdOption = None,
) -> None:
    """Close a group: it refuses new pipelines (GROUP_CLOSED); its own keep running."""
    _set_state(connection, group_id, GroupState.CLOSED, expected_revision, command_id)


def delete_group(
    connection: Connection, *, group_id: GroupArgument, command_id: CommandIdOption = None
) -> None:
    """Delete an empty group (refused with GROUP_NOT_EMPTY while it has pipelines)."""
    with session(connection) as client:
        client.delete_group(group_id, command_id)
    if connection.json:
        emit("null")
    else:
        out.print(f"Deleted group {escape(repr(group_id))}.")


def _cap(value: str | None, name: str, kind: type[float] | type[int]) -> Any:
    """A quota option: left out keeps the cap, ``none`` removes it, else the number."""
    if value is None:
        return UNCHANGED
    if value.lower() == "none":
        return None
    try:
        number = kind(value)
    except ValueError:
        raise fail(f"{name} {value!r}: give a number, or none to remove the cap") from None
    if number < 0:
        raise fail(f"{name} {value!r}: must be 0 or more")
    return number


def set_quota(
    connection: Connection,
    *,
    group_id: GroupArgument,
    cpu: Annotated[str | None, typer.Option("--cpu", help="Most CPU % (or none).")] = None,
    memory_mb: Annotated[
        str | None, typer.Option("--memory-mb", help="Most memory in MB (or none).")
    ] = None,
    pipelines: Annotated[
        str | None, typer.Option("--pipelines", help="Most pipelines (or none).")
    ] = None,
    expected_revision: RevisionOption = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, kept in the event.")] = None,
    command_id: CommandIdOption = None,
) -> None:
    """Set a group's quota; a cap left out keeps its value, `none` removes it."""
    if cpu is None and memory_mb is None and pipelines is None:
        raise fail("give --cpu, --memory-mb or --pipelines")
    with session(connection) as client:
        info = client.set_quota(
            group_id,
            max_cpu_percent=_cap(cpu, "--cpu", float),
            max_memory_mb=_cap(memory_mb, "--memory-mb", int),
            max_pipelines=_cap(pipelines, "--pipelines", int),
            expected_revision=expected_revision,
            reason=reason,
            command_id=command_id,
        )
    _show(connection, info, "Quota set for")


def move(
    connection: Connection,
    *,
    pipeline_id: Annotated[str, typer.Argument(metavar="ID", help="Pipeline id.")],
    group_id: GroupArgument,
    command_id: CommandIdOption = None,
) -> None:
    """Move a pipeline to another group (checked against that group's quota)."""
    with session(connection) as client:
        info = client.move_pipeline(pipeline_id, group_id, command_id)
    show(connection, info, lambda: render.pipeline_view(info, now()))


def _show(connection: Connection, info: GroupInfo, done: str) -> None:
    def view() -> Table:
        table = render.groups_table([info])
        table.title = f"{done} group {info.group_id}"
        return table

    show(connection, info, view)


def groups_app() -> typer.Typer:
    app = typer.Typer(
        help="Pipeline groups (teams, projects, namespaces), kept in the journal.",
        no_args_is_help=True,
    )
    app.command("list")(connected(list_groups))
    app.command("show")(connected(show_group))
    app.command("create")(connected(create_group))
    app.command("open")(connected(open_group))
    app.command("close")(connected(close_group))
    app.command("delete")(connected(delete_group))
    return app


def quota_app() -> typer.Typer:
    app = typer.Typer(help="Group quotas: hard caps at admission.", no_args_is_help=True)
    app.command("set")(connected(set_quota))
    return app
