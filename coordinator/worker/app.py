"""The faust-streaming app: one agent on the commands topic, handing batches to the service.

faust provides the consumer group (its owner of the single commands partition is the cluster
singleton), the agent that streams raw command bytes, rebalance signals, the worker lifecycle and
the web server. We do not use faust's ``exactly_once`` mode (it does not cover sends to other
topics, faust issue #177) nor faust tables (their changelog is written outside our transaction):
the service's transactional journal writer gives the guarantees instead.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Set
from typing import Any, cast

import faust
from faust.types import TP

from coordinator.config import Settings
from coordinator.worker.batching import GroupCommit
from coordinator.worker.http import add_routes
from coordinator.worker.service import CoordinatorService

log = logging.getLogger("coordinator")

EXIT_RECOVERY_FAILED = 78


def _credentials(settings: Settings) -> Any:
    protocol = (settings.security_protocol or "PLAINTEXT").upper()
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
        if settings.ssl_certfile:
            context.load_cert_chain(
                str(settings.ssl_certfile),
                str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
            )
    if protocol.startswith("SASL"):
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else None
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=password,
            mechanism=settings.sasl_mechanism or "PLAIN",
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def create_app(settings: Settings, service: CoordinatorService) -> faust.App:
    topics = settings.topics
    app = faust.App(
        topics.worker_group,
        broker=[f"kafka://{server.strip()}" for server in settings.broker.split(",")],
        broker_credentials=_credentials(settings),
        store="memory://",
        datadir=str(settings.worker_dir / "faust"),
        autodiscover=False,
        # Our topics are created by `coordinator topics create`; faust must not declare them,
        # nor its leader-assignor topic (one partition needs no leader election of its own).
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # A dead worker is noticed after the session timeout; the standby then takes over.
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.heartbeat_interval_ms / 1000,
        broker_rebalance_timeout=max(10.0, settings.session_timeout_ms / 1000 * 2),
        # A batch waiting for its worker to become active again must not hold up a rebalance.
        stream_wait_empty=False,
        web_enabled=True,
        web_host=settings.http_host,
        web_bind=settings.http_host,
        web_port=settings.http_port,
        worker_redirect_stdouts=False,
    )
    commands = app.topic(
        topics.commands,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=1,
    )
    commands_tp = TP(topics.commands, 0)
    batches = GroupCommit(
        service.handle,
        batch_max=settings.batch_max,
        pending_max=settings.batch_max * 4,
        linger=settings.batch_linger_ms / 1000,
    )

    @app.agent(commands, concurrency=1)
    async def apply_commands(stream: Any) -> None:
        # Acknowledged by `batches` only once their transaction has committed.
        batches.attach(stream)
        async for event in stream.events():
            await batches.put(event)

    app.task(batches.run)

    # faust sends signals as receiver(sender, *arguments, signal=...). mode types a receiver as
    # a union of plain and async callables that mypy will not match an `async def` against.
    async def on_assigned(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        assigned: Set[TP] = args[0] if args else kwargs.get("assigned", set())
        service.partitions_assigned(commands_tp in assigned)

    async def on_revoked(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked: Set[TP] = args[0] if args else kwargs.get("revoked", set())
        if commands_tp in revoked:
            await service.partitions_revoked()

    async def shutdown(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        await service.stop()

    app.on_partitions_assigned.connect(cast(Any, on_assigned))
    app.on_partitions_revoked.connect(cast(Any, on_revoked))
    app.on_before_shutdown.connect(cast(Any, shutdown))

    async def recover() -> None:
        try:
            await service.start()
        except Exception:
            log.critical("msg=Recovery failed; the worker cannot serve", exc_info=True)
            os._exit(EXIT_RECOVERY_FAILED)

    app.task(recover)
    add_routes(app, service)

    return app
