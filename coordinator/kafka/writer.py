"""The journal writer: one Kafka transaction per batch, fenced by a fixed transactional id.

A batch's events, replies, dead letters and snapshot records are produced inside one transaction
together with a record on the progress topic naming the commands-topic offset up to which the
batch is done. Either all of it becomes visible to
``read_committed`` consumers, or none of it does, so a crash at any moment neither loses nor
repeats a change. Every worker that takes over the commands partition initialises the same
transactional id, which aborts the previous owner's open transaction and makes any later write
of a stalled former owner fail: fencing.

confluent-kafka's calls block, so the worker runs them on one dedicated thread.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from coordinator.config import Settings
from coordinator.errors import CoordinatorError, FencedError, JournalError, WriterBrokenError
from coordinator.kafka.records import Headers, OutRecord
from coordinator.logs import quote

log = logging.getLogger(__name__)

DeliveryReport = Callable[[KafkaError | None, Message], None]


class TransactionalProducer(Protocol):
    """The calls of ``confluent_kafka.Producer`` the writer makes (a fake stands in for tests)."""

    def init_transactions(self, timeout: float = ..., /) -> None: ...
    def begin_transaction(self) -> None: ...
    def produce(
        self,
        topic: str,
        /,
        *,
        value: bytes | None = ...,
        key: bytes | None = ...,
        headers: Headers | None = ...,
        on_delivery: DeliveryReport | None = ...,
    ) -> None: ...
    def poll(self, timeout: float = ..., /) -> int: ...
    def commit_transaction(self, timeout: float = ..., /) -> None: ...
    def abort_transaction(self, timeout: float = ..., /) -> None: ...
    def purge(self) -> None: ...
    def flush(self, timeout: float = ..., /) -> int: ...
    def list_topics(self, *, timeout: float = ...) -> object: ...


ProducerFactory = Callable[[dict[str, object]], TransactionalProducer]


def confluent_producer(config: dict[str, object]) -> TransactionalProducer:
    """The real producer, logging through ``coordinator.kafka``."""
    return Producer(config, logger=logging.getLogger("coordinator.kafka"))


PROGRESS_KEY = b"progress"


def progress_record(topic: str, next_command_offset: int) -> OutRecord:
    value = json.dumps({"nextCommandOffset": next_command_offset}).encode()
    return OutRecord(topic, PROGRESS_KEY, value)


class RetryBatch(CoordinatorError):  # noqa: N818 - a signal to the caller, not an error it reports
    """The transaction was aborted; nothing of the batch is visible. Try the batch again.

    ``rejected`` names the topics whose records the broker refused for good (a record too large
    for the topic, a topic not writable), with the reason: the same batch would fail again, so
    the caller must leave those records out.
    """

    def __init__(self, reason: str, rejected: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.rejected = rejected or {}


# Errors of one record that no retry can fix (anything else is the transaction's or transient).
_RECORD_REJECTIONS = {
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.RECORD_LIST_TOO_LARGE,
    KafkaError.INVALID_RECORD,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError.POLICY_VIOLATION,
}


_FENCING_CODES = {
    KafkaError._FENCED,
    KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
}


class JournalWriter:
    """Transactional producer for the owner of the commands partition."""

    def __init__(
        self,
        settings: Settings,
        client_id: str,
        producer_factory: ProducerFactory | None = None,
    ) -> None:
        self._settings = settings
        self._topics = settings.topics
        self._client_id = client_id
        self._producer_factory = producer_factory or confluent_producer
        self._producer: TransactionalProducer | None = None
        self._replies: TransactionalProducer | None = None
        self._event_offsets: list[int] = []
        self._rejected: dict[str, str] = {}
        self._failures: list[KafkaError] = []

    def start(self, timeout: float = 60.0) -> None:
        """Initialise transactions: from here on, any previous owner is fenced."""
        self._producer = self._producer_factory(
            {
                **self._settings.kafka_base(),
                "client.id": self._client_id,
                "transactional.id": self._topics.writer_transactional_id,
                "transaction.timeout.ms": self._settings.transaction_timeout_ms,
                "enable.idempotence": True,
                "linger.ms": 1,
                # A transaction that follows another at once meets CONCURRENT_TRANSACTIONS while
                # the broker finishes the last one; retry within milliseconds, not 100 ms.
                "retry.backoff.ms": 2,
                "retry.backoff.max.ms": 50,
                "message.max.bytes": 8 * 1024 * 1024,
                "compression.type": "lz4",
            }
        )
        self._producer.init_transactions(timeout)
        self._connect_replies(timeout)

    def _connect_replies(self, timeout: float) -> None:
        """Connect the reply producer now: made at the first query, its first answer waited
        about 0.5 s for the connection and a producer id (a watch with a 0.5 s timeout, right
        after a take-over, gave up). Not being able to is not fatal: the answer waits then."""
        try:
            self._reply_producer().list_topics(timeout=timeout)
        except KafkaException as exc:
            log.warning("msg=Reply producer not connected yet error=%s", quote(str(exc)))

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            if error.code() in _RECORD_REJECTIONS:
                self._rejected[message.topic() or "?"] = error.str()
        elif message.topic() == self._topics.events:
            offset = message.offset()
            if offset is not None:
                self._event_offsets.append(offset)

    def write(
        self, records: Sequence[OutRecord], next_command_offset: int | None, timeout: float = 30.0
    ) -> int | None:
        """Produce ``records`` and mark commands below ``next_command_offset`` done, atomically.

        Returns the events-topic offset of the last event written, if any. Raises
        ``RetryBatch`` when the transaction was aborted, ``FencedError`` when another worker owns
        the journal now, ``WriterBrokenError`` when the producer hit another fatal error (it
        cannot write again), ``JournalError`` for anything else that cannot be retried.
        """
        producer = self._require_producer()
        self._event_offsets = []
        self._rejected = {}
        try:
            producer.begin_transaction()
            for record in records:
                self._produce(producer, record)
            if next_command_offset is not None:
                self._produce(producer, progress_record(self._topics.progress, next_command_offset))
            self._commit(producer, timeout)
        except KafkaException as exc:
            self._handle(producer, exc)
        return max(self._event_offsets) if self._event_offsets else None

    def write_replies(self, records: Sequence[OutRecord], timeout: float = 30.0) -> None:
        """Produce replies outside any transaction (idempotent, acknowledged by all replicas).

        For answers that change nothing: they need no transaction, and may repeat. Raises
        ``RetryBatch`` when some were not delivered (``rejected`` names the topics that refused
        for good), ``WriterBrokenError`` when the producer failed fatally.
        """
        producer = self._reply_producer()
        self._rejected = {}
        self._failures = []
        for record in records:
            self._produce(producer, record, self._on_reply_delivery)
        if producer.flush(timeout) > 0:
            producer.purge()
            producer.poll(0)
            raise RetryBatch(f"replies not delivered within {timeout:.0f} s")
        for error in self._failures:
            if error.fatal():
                raise WriterBrokenError(f"the reply producer failed fatally: {error.str()}")
        if self._rejected or self._failures:
            reasons = ", ".join(sorted({error.str() for error in self._failures}))
            raise RetryBatch(f"replies not delivered: {reasons}", dict(self._rejected))

    def _reply_producer(self) -> TransactionalProducer:
        if self._producer is None:
            raise JournalError("the journal writer is not started")
        if self._replies is None:
            self._replies = self._producer_factory(
                {
                    **self._settings.kafka_base(),
                    "client.id": f"{self._client_id}-replies",
                    "enable.idempotence": True,
                    "linger.ms": 0,
                    "message.timeout.ms": 60_000,
                    "message.max.bytes": 8 * 1024 * 1024,
                    "compression.type": "lz4",
                }
            )
        return self._replies

    def _on_reply_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failures.append(error)
            if error.code() in _RECORD_REJECTIONS:
                self._rejected[message.topic() or "?"] = error.str()

    def _produce(
        self,
        producer: TransactionalProducer,
        record: OutRecord,
        report: DeliveryReport | None = None,
    ) -> None:
        while True:
            try:
                producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                    on_delivery=report or self._on_delivery,
                )
            except BufferError:
                producer.poll(0.05)
            else:
                return

    def _commit(self, producer: TransactionalProducer, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                producer.commit_transaction(max(1.0, deadline - time.monotonic()))
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.retriable() and time.monotonic() < deadline:
                    continue
                raise
            else:
                return

    def _handle(self, producer: TransactionalProducer, exc: KafkaException) -> None:
        error: KafkaError = exc.args[0]
        _raise_if_fatal(error, exc, "")
        if error.txn_requires_abort() or error.retriable():
            log.warning("msg=Transaction aborted, batch will be retried error=%s", error.str())
            try:
                producer.abort_transaction(30.0)
            except KafkaException as abort_exc:
                abort_error: KafkaError = abort_exc.args[0]
                _raise_if_fatal(abort_error, abort_exc, " while aborting")
                raise JournalError(f"abort failed: {abort_error.str()}") from abort_exc
            # Delivery reports of the aborted records name what the broker refused.
            producer.poll(0)
            raise RetryBatch(error.str(), dict(self._rejected)) from exc
        raise JournalError(f"transaction failed: {error.str()}") from exc

    def _require_producer(self) -> TransactionalProducer:
        if self._producer is None:
            raise JournalError("the journal writer is not started")
        return self._producer

    def close(self) -> None:
        if self._replies is not None:
            replies, self._replies = self._replies, None
            try:
                replies.flush(5.0)
            except Exception as exc:  # noqa: BLE001 - closing never raises
                log.debug("msg=Reply producer closed with an error error=%s", quote(str(exc)))
        if self._producer is not None:
            producer, self._producer = self._producer, None
            # Whatever is still queued belongs to a transaction that will not be committed. A
            # fenced (fatal) producer raises from purge and flush: there is nothing left to save.
            # Closing happens on the way out (stepping down, shutting down) and never raises.
            for step in (producer.purge, lambda: producer.flush(1.0)):
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - see above
                    log.debug("msg=Journal writer closed with an error error=%s", quote(str(exc)))


def _raise_if_fatal(error: KafkaError, exc: KafkaException, during: str) -> None:
    """Fencing raises ``FencedError``; any other fatal error ``WriterBrokenError``."""
    if error.code() in _FENCING_CODES:
        raise FencedError(f"the journal writer was fenced{during}: {error.str()}") from exc
    if error.fatal():
        raise WriterBrokenError(
            f"the journal writer's producer failed fatally{during}: {error.str()}"
        ) from exc
