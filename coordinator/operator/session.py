"""What every operator command does around its call: the options, the client, the output.

Each command of ``subcommands`` takes a ``Connection`` (``--broker``, ``--prefix``,
``--timeout``, ``--json``: declared once, in ``connected``) and runs its calls in a ``session``,
which turns refusals and errors into messages and exit codes. Exit codes: 0 done; 1 refused by
the coordinator; 2 usage, configuration or connection errors, with a message saying what to do.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console, RenderableType
from rich.markup import escape

from coordinator.client import (
    CommandRefusedError,
    CoordinatorClient,
)
from coordinator.config import Settings
from coordinator.domain.wire import WireModel
from coordinator.errors import CoordinatorError

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
    bool, typer.Option("--json", help="Print the reply's JSON (the wire format), not a table.")
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


def _option(name: str, default: object, annotation: object) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


_COMMON_OPTIONS = [
    _option("broker", None, BrokerOption),
    _option("prefix", None, PrefixOption),
    _option("timeout", DEFAULT_TIMEOUT, TimeoutOption),
]
_JSON_OPTION = _option("as_json", False, JsonOption)


def connected(command: Callable[..., None], *, json_option: bool = True) -> Callable[..., None]:
    """``command(connection, **its own options)`` as a CLI command that also takes the options
    every command has: ``--broker``, ``--prefix``, ``--timeout`` and (unless it always prints
    JSON) ``--json``. Written once here; typer reads the signature this gives."""
    common = [*_COMMON_OPTIONS, *([_JSON_OPTION] if json_option else [])]

    @functools.wraps(command)
    def run(**given: Any) -> None:
        connection = Connection(
            given.pop("broker"),
            given.pop("prefix"),
            given.pop("timeout"),
            given.pop("as_json", not json_option),
        )
        command(connection, **given)

    own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]
    run.__signature__ = inspect.Signature([*own, *common])  # type: ignore[attr-defined]  # typer
    return run


def settings_for(broker: str | None, prefix: str | None) -> Settings:
    """``COORDINATOR_*`` settings, with ``--broker`` and ``--prefix`` taking precedence."""
    overrides: dict[str, Any] = {}
    if broker:
        overrides["broker"] = broker
    if prefix:
        overrides["topic_prefix"] = prefix
    return Settings().model_copy(update=overrides)


def now() -> datetime:
    return datetime.now(UTC)


def emit(text: str | bytes) -> None:
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
            emit(refused.reply.to_json())
        err.print(f"[red]refused:[/] {escape(str(refused))}")
        raise typer.Exit(EXIT_REFUSED) from refused
    except CoordinatorError as exc:
        raise fail(str(exc)) from exc


def show(connection: Connection, reply: WireModel, view: Callable[[], RenderableType]) -> None:
    """The reply as JSON with ``--json``, else ``view()`` for people."""
    if connection.json:
        emit(reply.to_json())
    else:
        out.print(view())
