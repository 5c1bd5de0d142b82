"""A client's own reply topic, and a thread that hands each reply to whoever waits for it."""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import Future

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic

from coordinator.config import Settings
from coordinator.domain.replies import Reply
from coordinator.kafka.admin import admin_client

log = logging.getLogger(__name__)

REPLY_TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": str(60 * 60 * 1000)}


def new_reply_topic_name(settings: Settings, label: str = "client") -> str:
    return f"{settings.topics.replies}.{label}-{uuid.uuid4().hex[:12]}"


def create_reply_topic(settings: Settings, name: str, timeout: float) -> None:
    admin = admin_client(settings)
    futures = admin.create_topics(
        [NewTopic(name, 1, settings.replication_factor, config=REPLY_TOPIC_CONFIG)],
        request_timeout=timeout,
    )
    futures[name].result()


def delete_reply_topic(settings: Settings, name: str, timeout: float = 10.0) -> None:
    admin = admin_client(settings)
    try:
        admin.delete_topics([name], request_timeout=timeout)[name].result()
    except KafkaException as exc:
        log.debug("reply topic %s not deleted: %s", name, exc)


class ReplyListener:
    """Reads one reply topic (``read_committed``) and completes the future of each reply."""

    def __init__(self, settings: Settings, topic: str, timeout: float) -> None:
        self.topic = topic
        self._pending: dict[str, Future[Reply]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                **settings.kafka_base(),
                "group.id": f"{topic}.listener",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "auto.offset.reset": "latest",
            },
            logger=logging.getLogger("coordinator.kafka"),
        )
        _low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout)
        self._consumer.assign([TopicPartition(topic, 0, high)])
        self._thread = threading.Thread(target=self._run, name=f"replies-{topic}", daemon=True)
        self._thread.start()

    def expect(self, correlation_id: str) -> Future[Reply]:
        with self._lock:
            future = self._pending.get(correlation_id)
            if future is None or future.done():
                future = Future()
                self._pending[correlation_id] = future
            return future

    def forget(self, correlation_id: str) -> None:
        with self._lock:
            self._pending.pop(correlation_id, None)

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(500, 0.2):
                if message.error() is not None or message.value() is None:
                    continue
                try:
                    reply = Reply.model_validate_json(message.value() or b"")
                except ValueError:
                    log.warning("unreadable reply on %s at %s", self.topic, message.offset())
                    continue
                if reply.correlation_id is None:
                    continue
                with self._lock:
                    future = self._pending.pop(reply.correlation_id, None)
                if future is not None and not future.done():
                    future.set_result(reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()
