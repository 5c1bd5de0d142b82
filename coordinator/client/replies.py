"""A client's own reply topic, and a thread that hands each reply to whoever waits for it."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, InvalidStateError

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from coordinator.config import Settings
from coordinator.domain.replies import Reply

log = logging.getLogger(__name__)
KAFKA_LOG = logging.getLogger("coordinator.kafka")
"""librdkafka's own log lines (connection failures and the like), through Python logging."""

REPLY_TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": str(60 * 60 * 1000)}


def new_reply_topic_name(settings: Settings, label: str = "client") -> str:
    return f"{settings.topics.replies}.{label}-{uuid.uuid4().hex[:12]}"


def create_reply_topic(admin: AdminClient, settings: Settings, name: str, timeout: float) -> None:
    futures = admin.create_topics(
        [NewTopic(name, 1, settings.replication_factor, config=REPLY_TOPIC_CONFIG)],
        request_timeout=timeout,
    )
    try:
        futures[name].result()
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def delete_reply_topic(admin: AdminClient, name: str, timeout: float = 10.0) -> None:
    try:
        admin.delete_topics([name], request_timeout=timeout)[name].result()
    except KafkaException as exc:
        log.debug("reply topic %s not deleted: %s", name, exc)


def _left(deadline: float) -> float:
    return max(0.5, deadline - time.monotonic())


class ReplyListener:
    """Reads one reply topic (``read_committed``) and completes the future of each reply.

    Replies are read from the end of the topic as it was when the listener started: nothing
    older is waited for. The topic may be the client's own or shared (the CLI reads
    ``<prefix>.replies``); correlation ids are UUIDs, so others' replies are simply skipped.
    """

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
            logger=KAFKA_LOG,
        )
        try:
            self._consumer.assign(self._ends(timeout))
        except BaseException:
            self._consumer.close()
            raise
        self._thread = threading.Thread(target=self._run, name=f"replies-{topic}", daemon=True)
        self._thread.start()

    def _ends(self, timeout: float) -> list[TopicPartition]:
        """The end of every partition of the topic (a shared reply topic may have several)."""
        # A topic created a moment ago may not have partition leaders known to us yet.
        deadline = time.monotonic() + timeout
        while True:
            try:
                return [
                    TopicPartition(self.topic, partition, self._end_of(partition, deadline))
                    for partition in self._partitions(deadline)
                ]
            except KafkaException:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def _partitions(self, deadline: float) -> list[int]:
        metadata = self._consumer.list_topics(self.topic, timeout=_left(deadline))
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            error = topic.error if topic is not None else None
            raise KafkaException(error if error is not None else KafkaError._UNKNOWN_TOPIC)
        return sorted(topic.partitions)

    def _end_of(self, partition: int, deadline: float) -> int:
        _low, high = self._consumer.get_watermark_offsets(
            TopicPartition(self.topic, partition), timeout=_left(deadline)
        )
        return int(high)

    def expect(self, correlation_id: str) -> Future[Reply]:
        """The future of the reply with ``correlation_id`` (the same one while it is pending)."""
        with self._lock:
            future = self._pending.get(correlation_id)
            if future is None or future.done():
                future = Future()
                self._pending[correlation_id] = future
            return future

    @contextlib.contextmanager
    def awaiting(self, correlation_id: str) -> Iterator[Future[Reply]]:
        """The future of the reply with ``correlation_id`` while the block runs; forgotten at
        the end unless the reply came (then it is gone already)."""
        future = self.expect(correlation_id)
        try:
            yield future
        finally:
            if future.cancelled() or not future.done():
                self.forget(correlation_id)

    def forget(self, correlation_id: str) -> None:
        with self._lock:
            self._pending.pop(correlation_id, None)

    def _run(self) -> None:
        while not self._stop.is_set():
            # poll, not consume(n, timeout): a batch consume waits out its timeout unless n
            # messages arrive, which would delay every reply by that much.
            message = self._consumer.poll(0.1)
            if message is None or message.error() is not None or message.value() is None:
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
            if future is not None:
                # The waiter may have given up (cancelled) a moment ago.
                with contextlib.suppress(InvalidStateError):
                    future.set_result(reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()
