"""The faust-streaming app: the worker's lifecycle, its agent, tasks and web server.

faust keeps the application, its lifecycle and signals, the agent that applies batches, the
timers and tasks, and the web server (metrics, probes, read views). It no longer fetches from
Kafka: its consumer (aiokafka) costs 50-200 us per message in its own machinery, stalls after
broker outages (faust-streaming #175, #523, #640) and cannot read lz4- or snappy-compressed
records without extra libraries, which made a compressing producer a poison pill. Instead the
command feed (``feed.py``) reads the commands partition on a thread with confluent-kafka
(librdkafka) and hands one list of records per batch to the agent over an in-memory
``app.channel``. faust's Kafka services are not started at all (``enable_kafka = False``): the
worker's Kafka clients are all confluent-kafka, configured from the same settings.

We do not use faust's ``exactly_once`` mode (it does not cover sends to other topics, faust
issue #177) nor faust tables (their changelog is written outside our transaction): the service's
transactional journal writer gives the guarantees instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, cast

import faust
from faust.app.base import BootStrategy

from coordinator.config import Settings
from coordinator.worker.feed import CommandBatch, CommandFeed
from coordinator.worker.http import add_routes
from coordinator.worker.service import CoordinatorService

log = logging.getLogger("coordinator")

EXIT_RECOVERY_FAILED = 78
CHANNEL_SIZE = 4
"""Batches the channel holds; the feed hands over one at a time, so it never fills."""


class _WithoutKafka(BootStrategy):
    """Start faust's agents, tasks and web server, but none of its Kafka clients."""

    enable_kafka = False


class CoordinatorApp(faust.App):
    BootStrategy = _WithoutKafka


def create_app(settings: Settings, service: CoordinatorService) -> faust.App:
    app = CoordinatorApp(
        settings.topics.worker_group,
        # Never connected to (no Kafka service of faust starts); the feed reads with these.
        broker=[f"kafka://{server.strip()}" for server in settings.broker.split(",")],
        store="memory://",
        datadir=str(settings.worker_dir / "faust"),
        autodiscover=False,
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=True,
        web_host=settings.http_host,
        web_bind=settings.http_host,
        web_port=settings.http_port,
        worker_redirect_stdouts=False,
    )
    batches = app.channel(maxsize=CHANNEL_SIZE)

    @app.agent(batches, concurrency=1)
    async def apply_commands(stream: Any) -> None:
        async for batch in stream:
            await service.handle(batch)

    def deliver(batch: CommandBatch) -> None:
        # On the event loop's thread; at most one batch is outstanding, so this never waits.
        task = asyncio.ensure_future(batches.send(value=batch))
        task.add_done_callback(_report_send_failure)

    feed = CommandFeed(settings, deliver, service)
    service.feed = feed

    async def start_feed() -> None:
        # Channels wait on faust's flow control, which only its Kafka consumer would resume.
        app.flow_control.resume()
        feed.start(asyncio.get_running_loop().call_soon_threadsafe)

    app.task(start_feed)

    async def shutdown(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        await asyncio.to_thread(feed.stop)
        await service.stop()

    # faust sends signals as receiver(sender, *arguments, signal=...). mode types a receiver as
    # a union of plain and async callables that mypy will not match an `async def` against.
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


def _report_send_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("msg=Batch hand-over failed; exiting", exc_info=task.exception())
        os._exit(70)
