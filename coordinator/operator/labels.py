"""``coordinator labels set``: a pipeline's labels (``coordinator list --selector`` finds them)."""

from __future__ import annotations

from typing import Annotated

import typer

from coordinator.operator import render
from coordinator.operator.session import (
    CommandIdOption,
    Connection,
    connected,
    fail,
    now,
    session,
    show,
)


def set_labels(
    connection: Connection,
    *,
    pipeline_id: Annotated[str, typer.Argument(metavar="ID", help="Pipeline id.")],
    labels: Annotated[
        list[str] | None,
        typer.Argument(metavar="KEY=VALUE...", help="The labels (all of them: they replace)."),
    ] = None,
    command_id: CommandIdOption = None,
) -> None:
    """Replace a pipeline's labels (none given: remove them all)."""
    parsed: dict[str, str] = {}
    for text in labels or []:
        key, equals, value = text.partition("=")
        if not equals:
            raise fail(f"{text!r}: write a label as key=value")
        parsed[key] = value
    with session(connection) as client:
        info = client.set_labels(pipeline_id, parsed, command_id)
    show(connection, info, lambda: render.pipeline_view(info, now()))


def labels_app() -> typer.Typer:
    app = typer.Typer(
        help="Pipeline labels, for `coordinator list --selector`.", no_args_is_help=True
    )
    app.command("set")(connected(set_labels))
    return app
