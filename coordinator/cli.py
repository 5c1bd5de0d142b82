"""The ``coordinator`` command: run a worker, create the topics, and (for operators) talk to it."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from coordinator.config import Settings
from coordinator.errors import CoordinatorError
from coordinator.operator.subcommands import add_operator_commands

app = typer.Typer(
    name="coordinator",
    help="Event-sourced control plane for the registry of data pipelines, on Apache Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="Manage the coordinator's Kafka topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except CoordinatorError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def worker() -> None:
    """Run a coordinator worker in the foreground (Ctrl-C stops it).

    The worker that owns the commands partition applies commands; any other is a hot standby.
    Give each worker on one host its own COORDINATOR_WORKER_NAME and COORDINATOR_HTTP_PORT.
    """
    from coordinator.worker.run import run_worker

    settings = _settings()
    run_worker(settings)


@topics_app.command("create")
def topics_create() -> None:
    """Create every coordinator topic that is missing and align the configs of the others."""
    from coordinator.kafka.admin import ensure_topics

    settings = _settings()
    try:
        reports = ensure_topics(settings)
    except CoordinatorError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    for item in reports:
        detail = f" ({item.detail})" if item.detail else ""
        typer.echo(f"{item.action:8} {item.name}{detail}")


@topics_app.command("list")
def topics_list() -> None:
    """Print the topic definitions (name, partitions, configs)."""
    from topics.definitions import ALL

    settings = _settings()
    for spec in ALL:
        configs = ",".join(f"{key}={value}" for key, value in spec.configs.items())
        typer.echo(f"{spec.name(settings.topic_prefix)}\t{spec.partitions}\t{configs}")


add_operator_commands(app)


def main() -> None:
    try:
        app()
    except CoordinatorError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
