"""Cluster administration: create the topics, find reply topics, read and trim offsets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from coordinator.config import Settings
from coordinator.errors import BrokerUnavailableError, ConfigurationError
from topics.definitions import ALL, TopicSpec


@dataclass(frozen=True, slots=True)
class TopicReport:
    name: str
    action: str
    """``created``, ``ok``, or ``updated`` (configs brought in line)."""
    detail: str = ""


def admin_client(settings: Settings) -> AdminClient:
    # Its log lines go through logging (one format), not to stderr as librdkafka's own.
    return AdminClient(settings.kafka_base(), logger=logging.getLogger("coordinator.kafka"))


def wait_for_broker(settings: Settings, timeout: float = 30.0) -> AdminClient:
    """An admin client once the broker answers, or ``BrokerUnavailableError`` after ``timeout``."""
    admin = admin_client(settings)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
        except KafkaException as exc:
            last = exc
            time.sleep(0.5)
        else:
            return admin
    raise BrokerUnavailableError(
        f"no Kafka broker answered at {settings.broker} within {timeout:.0f} s ({last}); "
        "start one with ./ops/broker.sh start or set COORDINATOR_BROKER"
    )


def ensure_topics(
    settings: Settings,
    specs: tuple[TopicSpec, ...] = ALL,
    report: Callable[[TopicReport], None] | None = None,
    timeout: float = 30.0,
) -> list[TopicReport]:
    """Create missing topics and bring the configs of existing ones in line. Idempotent."""
    admin = wait_for_broker(settings, timeout)
    existing = admin.list_topics(timeout=timeout).topics
    reports: list[TopicReport] = []
    missing = [spec for spec in specs if spec.name(settings.topic_prefix) not in existing]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    spec.name(settings.topic_prefix),
                    num_partitions=spec.partitions,
                    replication_factor=settings.replication_factor,
                    config=dict(spec.configs),
                )
                for spec in missing
            ],
            request_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result()
                reports.append(TopicReport(name, "created"))
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
                reports.append(TopicReport(name, "ok", "created concurrently"))
    for spec in specs:
        name = spec.name(settings.topic_prefix)
        if name not in existing:
            continue
        partitions = len(existing[name].partitions)
        if spec.exact_partitions and partitions != spec.partitions:
            raise ConfigurationError(
                f"topic {name} has {partitions} partitions; the coordinator needs exactly "
                f"{spec.partitions}. Recreate it (it must be a single partition)."
            )
        reports.append(_align_configs(admin, name, spec, timeout))
    if report is not None:
        for item in reports:
            report(item)
    return reports


def _align_configs(admin: AdminClient, name: str, spec: TopicSpec, timeout: float) -> TopicReport:
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    current = admin.describe_configs([resource], request_timeout=timeout)[resource].result()
    differing = {
        key: value
        for key, value in spec.configs.items()
        if key not in current or current[key].value != value
    }
    if not differing:
        return TopicReport(name, "ok")
    entries = [
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
        for key, value in differing.items()
    ]
    target = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries)
    admin.incremental_alter_configs([target], request_timeout=timeout)[target].result()
    detail = ", ".join(f"{key}={value}" for key, value in sorted(differing.items()))
    return TopicReport(name, "updated", detail)


def topic_names(admin: AdminClient, timeout: float = 5.0) -> set[str]:
    return set(admin.list_topics(timeout=timeout).topics)


class LazyAdmin:
    """One admin client for a worker, made at its first use (a worker that never needs one never
    connects it). Call it for the client."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: AdminClient | None = None

    def __call__(self) -> AdminClient:
        if self._client is None:
            self._client = admin_client(self._settings)
        return self._client

    def topic_names_under(self, prefix: str) -> set[str]:
        """The names of the topics that start with ``prefix`` (the reply topics, say)."""
        return {name for name in topic_names(self()) if name.startswith(prefix)}


def delete_before(admin: AdminClient, topic: str, offset: int, timeout: float = 30.0) -> None:
    """Delete the records of partition 0 of ``topic`` below ``offset``."""
    futures = admin.delete_records([TopicPartition(topic, 0, offset)], request_timeout=timeout)
    for future in futures.values():
        future.result()
