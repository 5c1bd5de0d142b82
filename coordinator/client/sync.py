"""The synchronous client: every command of SPEC §3 as a typed method.

Requests carry a ``commandId`` (a fresh UUID unless given) which doubles as the correlation id;
a retry after a timeout re-sends the same ``commandId``, so the coordinator applies it at most
once and answers with the original reply. Refusals raise ``CommandRefusedError`` with the code.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, cast

from confluent_kafka import KafkaError, Message, Producer

from coordinator.client.errors import ClientError, CommandRefusedError, ReplyTimeoutError
from coordinator.client.replies import (
    ReplyListener,
    create_reply_topic,
    delete_reply_topic,
    new_reply_topic_name,
)
from coordinator.config import Settings
from coordinator.domain.commands import (
    CheckResourceAvailability,
    CommandModel,
    GetPipelineInfo,
    GetSystemStatus,
    ListPipelines,
    RegisterPipeline,
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import PipelinePage, Reply, StateSummary, SystemStatus
from topics.definitions import AGGREGATE_ID


class CoordinatorClient:
    """A connection to the coordinator through its topics. Use as a context manager."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        reply_topic: str | None = None,
        label: str = "client",
    ) -> None:
        self.settings = settings if settings is not None else Settings()
        self.timeout = timeout
        self.retries = retries
        self._producer = Producer(
            {
                **self.settings.kafka_base(),
                "enable.idempotence": True,
                "linger.ms": 0,
                "client.id": f"coordinator-{label}",
            },
            logger=logging.getLogger("coordinator.kafka"),
        )
        self._owns_reply_topic = reply_topic is None
        self._reply_topic = reply_topic
        self._label = label
        self._listener: ReplyListener | None = None

    def __enter__(self) -> CoordinatorClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def reply_topic(self) -> str:
        """This client's reply topic, created on first use."""
        self._ensure_listener()
        assert self._reply_topic is not None
        return self._reply_topic

    def _ensure_listener(self) -> ReplyListener:
        if self._listener is None:
            if self._reply_topic is None:
                self._reply_topic = new_reply_topic_name(self.settings, self._label)
                create_reply_topic(self.settings, self._reply_topic, self.timeout)
            self._listener = ReplyListener(self.settings, self._reply_topic, self.timeout)
        return self._listener

    # -- sending ----------------------------------------------------------------------------

    def send_raw(self, value: bytes | str, key: bytes | str | None = AGGREGATE_ID) -> None:
        """Produce bytes to the commands topic as they are (for tools and tests)."""
        errors: list[KafkaError] = []

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                errors.append(error)

        self._producer.produce(
            self.settings.topics.commands, value=value, key=key, on_delivery=delivered
        )
        remaining = self._producer.flush(self.timeout)
        if remaining:
            raise ClientError(
                f"command not delivered within {self.timeout:.0f} s: is the broker at "
                f"{self.settings.broker} reachable?"
            )
        if errors:
            raise ClientError(f"command not delivered: {errors[0].str()}")

    def send(self, command: CommandModel) -> None:
        """Fire and forget."""
        self.send_raw(command.to_json())

    def request(self, command: CommandModel | Mapping[str, Any]) -> Reply:
        """Send ``command`` and wait for its reply (retrying with the same ``commandId``)."""
        document = dict(command) if isinstance(command, Mapping) else None
        if document is None:
            model = cast(CommandModel, command)
            document = model.model_dump(by_alias=True, mode="json", exclude_none=True)
        document.setdefault("commandId", uuid.uuid4().hex)
        document.setdefault("correlationId", document["commandId"])
        document["replyTo"] = self.reply_topic
        correlation = str(document["correlationId"])
        listener = self._ensure_listener()
        payload = _json(document)
        future = listener.expect(correlation)
        deadline_each = self.timeout
        for _attempt in range(self.retries + 1):
            self.send_raw(payload)
            try:
                return future.result(deadline_each)
            except FutureTimeout:
                continue
        listener.forget(correlation)
        raise ReplyTimeoutError(
            f"no reply to {document.get('type')} within "
            f"{self.timeout * (self.retries + 1):.0f} s; is a coordinator worker running against "
            f"{self.settings.broker} with topic prefix {self.settings.topic_prefix!r}?"
        )

    def _value(self, command: CommandModel) -> Any:
        reply = self.request(command)
        if not reply.ok:
            raise CommandRefusedError(reply)
        return reply.value

    # -- the commands -----------------------------------------------------------------------

    def register(self, pipeline_id: str, name: str, command_id: str | None = None) -> StateSummary:
        command = RegisterPipeline(pipeline_id=pipeline_id, name=name, command_id=command_id)
        return cast(StateSummary, self._value(command))

    def unregister(self, pipeline_id: str, command_id: str | None = None) -> StateSummary:
        command = UnregisterPipeline(pipeline_id=pipeline_id, command_id=command_id)
        return cast(StateSummary, self._value(command))

    def update_status(
        self,
        pipeline_id: str,
        status: PipelineStatus | str,
        total_records: int,
        failed_records: int,
        command_id: str | None = None,
    ) -> None:
        self.send(
            UpdatePipelineStatus(
                pipeline_id=pipeline_id,
                status=PipelineStatus(str(status).lower()),
                total_records=total_records,
                failed_records=failed_records,
                command_id=command_id,
            )
        )

    def report_resources(
        self, pipeline_id: str, cpu_percent: float, memory_mb: int, command_id: str | None = None
    ) -> None:
        self.send(
            ReportResourceUsage(
                pipeline_id=pipeline_id,
                cpu_percent=cpu_percent,
                memory_mb=memory_mb,
                command_id=command_id,
            )
        )

    def check_resources(self, cpu_percent: float, memory_mb: int) -> bool:
        command = CheckResourceAvailability(
            estimated_cpu_percent=cpu_percent, estimated_memory_mb=memory_mb
        )
        return bool(self._value(command))

    def system_status(self) -> SystemStatus:
        return cast(SystemStatus, self._value(GetSystemStatus()))

    def pipeline_info(self, pipeline_id: str) -> PipelineInfo | None:
        return cast(PipelineInfo | None, self._value(GetPipelineInfo(pipeline_id=pipeline_id)))

    def list_page(
        self,
        status: PipelineStatus | str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> PipelinePage:
        wanted = PipelineStatus(str(status).lower()) if status is not None else None
        command = ListPipelines(status=wanted, limit=limit, after=after)
        return cast(PipelinePage, self._value(command))

    def list_pipelines(
        self, status: PipelineStatus | str | None = None, page_size: int | None = None
    ) -> Iterator[PipelineInfo]:
        """Every pipeline (optionally of one status), walking all pages."""
        after: str | None = None
        while True:
            page = self.list_page(status, page_size, after)
            yield from page.items
            if page.next is None:
                return
            after = page.next

    def flush(self) -> None:
        self._producer.flush(self.timeout)

    def close(self) -> None:
        self._producer.flush(self.timeout)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            if self._owns_reply_topic and self._reply_topic is not None:
                delete_reply_topic(self.settings, self._reply_topic)


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
