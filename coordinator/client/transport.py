"""The Kafka side of a client, shared by the synchronous and the asyncio flavour.

One producer to the commands topic (its delivery reports served by a background thread and
handed out as futures), a quick check that a broker answers and the coordinator's topics exist
(confluent-kafka would otherwise retry in silence for minutes), and the client's own reply topic
with its listener, both made on first use. Every method is thread-safe; the ones that block are
run in a thread by the asyncio client.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from coordinator.client.errors import (
    BrokerUnreachableError,
    ClientError,
    DeliveryError,
    TopicNotFoundError,
)
from coordinator.client.replies import (
    KAFKA_LOG,
    ReplyListener,
    create_reply_topic,
    delete_reply_topic,
    new_reply_topic_name,
)
from coordinator.config import Settings
from coordinator.domain.validation import reply_topic_problem
from topics.definitions import AGGREGATE_ID

_DELIVERY_MARGIN = 5.0
"""Seconds to wait beyond librdkafka's own message timeout for its delivery report."""


class Transport:
    """Producer, broker check, reply topic and listener of one client."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float,
        connect_timeout: float,
        reply_topic: str | None,
        label: str,
    ) -> None:
        if reply_topic is not None:
            problem = reply_topic_problem(reply_topic, settings.topics.replies)
            if problem is not None:
                raise ValueError(f"{problem}: the coordinator would not reply there")
        self.settings = settings
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.delivery_timeout = max(1.0, timeout)
        self._label = label
        self._owns_reply_topic = reply_topic is None
        self._reply_topic = reply_topic
        try:
            self._admin = AdminClient(settings.kafka_base(), logger=KAFKA_LOG)
            self._producer = Producer(
                {
                    **settings.kafka_base(),
                    "enable.idempotence": True,
                    "linger.ms": 0,
                    # librdkafka gives up on a message when we do: "not delivered" is final.
                    "message.timeout.ms": int(self.delivery_timeout * 1000),
                    "client.id": f"coordinator-{label}",
                    "compression.type": settings.compression,
                },
                logger=KAFKA_LOG,
            )
        except KafkaException as exc:
            raise ClientError(
                f"the Kafka client settings were refused ({exc.args[0].str()}): check "
                "COORDINATOR_BROKER and the COORDINATOR_SECURITY_PROTOCOL, COORDINATOR_SASL_* "
                "and COORDINATOR_SSL_* settings."
            ) from exc
        self._lock = threading.Lock()
        self._connected = False
        self._listener: ReplyListener | None = None
        self._closed = False
        self._stop_polling = threading.Event()
        self._poller = threading.Thread(target=self._poll, name=f"{label}-deliveries", daemon=True)
        self._poller.start()

    # -- broker and reply topic ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def current_listener(self) -> ReplyListener | None:
        """The listener if it is already running (no blocking call needed to get it)."""
        return self._listener

    def connect(self) -> None:
        """Check, once, that a broker answers and the commands topic exists on it."""
        with self._lock:
            self._connect_locked()

    def _connect_locked(self) -> None:
        if self._connected:
            return
        if self._closed:
            raise DeliveryError("this client is closed")
        settings = self.settings
        try:
            metadata = self._admin.list_topics(timeout=self.connect_timeout)
        except KafkaException as exc:
            raise BrokerUnreachableError(
                f"no Kafka broker answered at {settings.broker} within "
                f"{self.connect_timeout:g} s ({exc.args[0].str()}). Start one (./ops/broker.sh "
                "start, or ./ops/run.sh for broker and worker), or point COORDINATOR_BROKER "
                "(--broker) at yours; on a secured cluster set COORDINATOR_SECURITY_PROTOCOL "
                "and its SASL/SSL settings."
            ) from exc
        needed = [settings.topics.commands]
        if self._reply_topic is not None:
            needed.append(self._reply_topic)
        for topic in needed:
            if topic not in metadata.topics:
                raise TopicNotFoundError(
                    f"the broker at {settings.broker} has no topic {topic!r}: create the topics "
                    "with `coordinator topics create` and start a worker with `coordinator "
                    "worker`, or check the topic prefix (COORDINATOR_TOPIC_PREFIX, --prefix)."
                )
        self._connected = True

    def listener(self) -> ReplyListener:
        """The reply listener, creating the reply topic and starting the listener on first use."""
        with self._lock:
            if self._listener is None:
                self._connect_locked()
                name = self._reply_topic or new_reply_topic_name(self.settings, self._label)
                try:
                    if self._reply_topic is None:
                        create_reply_topic(self._admin, self.settings, name, self.timeout)
                        self._reply_topic = name
                    self._listener = ReplyListener(self.settings, name, self.timeout)
                except KafkaException as exc:
                    raise ClientError(
                        f"reply topic {name!r} cannot be created or read ({exc.args[0].str()}): "
                        "on a secured cluster, the client needs rights to create and read topics "
                        f"starting with {self.settings.topics.replies!r}."
                    ) from exc
            return self._listener

    # -- sending ------------------------------------------------------------------------------

    def _poll(self) -> None:
        while not self._stop_polling.is_set():
            self._producer.poll(0.1)

    def produce(self, payload: bytes | str, key: bytes | str | None = AGGREGATE_ID) -> Future[None]:
        """Hand ``payload`` to the producer; the future completes when the broker has it."""
        delivered: Future[None] = Future()
        topic = self.settings.topics.commands
        broker = self.settings.broker

        def report(error: KafkaError | None, _message: Message) -> None:
            # Runs in the polling thread; the waiter may have given up (cancelled) meanwhile.
            try:
                if error is None:
                    delivered.set_result(None)
                else:
                    delivered.set_exception(
                        DeliveryError(
                            f"command not delivered to {topic} ({error.str()}): is the broker "
                            f"at {broker} reachable?"
                        )
                    )
            except InvalidStateError:
                pass

        try:
            self._producer.produce(topic, value=payload, key=key, on_delivery=report)
        except (BufferError, KafkaException) as exc:
            raise DeliveryError(f"command not queued for {topic}: {exc}") from exc
        return delivered

    @property
    def delivery_wait(self) -> float:
        """How long to wait for a delivery report: librdkafka gives up first and says why."""
        return self.delivery_timeout + _DELIVERY_MARGIN

    def delivery_timed_out(self) -> DeliveryError:
        return DeliveryError(
            f"no delivery report within {self.delivery_wait:g} s: is the broker at "
            f"{self.settings.broker} reachable?"
        )

    def wait_delivered(self, delivered: Future[None]) -> None:
        try:
            delivered.result(self.delivery_wait)
        except FutureTimeout:
            raise self.delivery_timed_out() from None

    def send(self, payload: bytes | str, key: bytes | str | None = AGGREGATE_ID) -> None:
        """Produce ``payload`` to the commands topic and wait until the broker has it."""
        self.connect()
        self.wait_delivered(self.produce(payload, key))

    # -- closing ------------------------------------------------------------------------------

    def flush(self) -> None:
        self._producer.flush(self.delivery_timeout)

    def close(self) -> None:
        """Deliver what is queued, stop the threads, and delete the reply topic if it is ours."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            listener, self._listener = self._listener, None
        if self._connected:
            self._producer.flush(self.delivery_timeout)
        self._stop_polling.set()
        self._poller.join(timeout=5)
        if listener is not None:
            listener.close()
            if self._owns_reply_topic:
                delete_reply_topic(self._admin, listener.topic, timeout=min(10.0, self.timeout))
