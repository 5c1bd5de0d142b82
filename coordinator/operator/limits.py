"""``coordinator limits set`` and ``coordinator limits reset``: the runtime resource limits.

They live in the journal, so every worker answers with the same limits whatever its
configuration says; ``coordinator status`` shows the limits in force and where they come from.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from coordinator.domain.replies import RuntimeLimits
from coordinator.operator import render
from coordinator.operator.session import (
    CommandIdOption,
    Connection,
    connected,
    fail,
    session,
    show,
)

RevisionOption = Annotated[
    int | None,
    typer.Option(
        "--expected-revision",
        min=0,
        help="Refused (REVISION_CONFLICT) unless the limits are at this revision "
        "(`coordinator status` shows it).",
    ),
]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Why, kept in the journal's event.")
]


def set_limits(
    connection: Connection,
    *,
    cpu: Annotated[
        float | None, typer.Option("--cpu", min=0, help="Most CPU % all pipelines may use.")
    ] = None,
    memory_mb: Annotated[
        int | None, typer.Option("--memory-mb", min=0, help="Most memory (MB) they may use.")
    ] = None,
    expected_revision: RevisionOption = None,
    reason: ReasonOption = None,
    command_id: CommandIdOption = None,
) -> None:
    """Set the runtime resource limits; a limit left out keeps its current value."""
    if cpu is None and memory_mb is None:
        raise fail("give --cpu, --memory-mb or both (coordinator limits reset drops them)")
    with session(connection) as client:
        limits = client.set_limits(
            cpu,
            memory_mb,
            expected_revision=expected_revision,
            reason=reason,
            command_id=command_id,
        )
    _show(connection, limits)


def reset_limits(
    connection: Connection,
    *,
    expected_revision: RevisionOption = None,
    reason: ReasonOption = None,
    command_id: CommandIdOption = None,
) -> None:
    """Drop the runtime resource limits: the configured ones are in force again."""
    with session(connection) as client:
        limits = client.reset_limits(
            expected_revision=expected_revision, reason=reason, command_id=command_id
        )
    _show(connection, limits)


def _show(connection: Connection, limits: RuntimeLimits) -> None:
    show(connection, limits, lambda: escape(render.runtime_limits(limits)))


def limits_app() -> typer.Typer:
    app = typer.Typer(
        help="The runtime resource limits, kept in the journal (they override the settings).",
        no_args_is_help=True,
    )
    app.command("set")(connected(set_limits))
    app.command("reset")(connected(reset_limits))
    return app
