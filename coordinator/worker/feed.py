"""The command feed: a reader thread that owns the commands partition's consumer.

A confluent-kafka (librdkafka) ``Consumer`` in the workers' consumer group, subscribed to the
commands topic, runs on a thread of its own. The group's owner of the one partition is the
cluster singleton. The feed:

- reports ownership through the rebalance callbacks (``on_assign``, ``on_revoke``, ``on_lost``),
  which run on the reader thread and are handed to the event loop at once, never blocking it;
- uses the ``cooperative-sticky`` assignor, so a member joining or leaving the group does not
  revoke the owner's partition (eager rebalancing would revoke it at every membership change);
- is a static group member (``group.instance.id``: the worker's name and host), so a worker that
  lost its session during a long broker outage is given its partition back as soon as the broker
  returns, instead of waiting out the session of its own former member id;
- holds an assigned partition paused until the service says where to start (the progress topic,
  not the group's offsets, says which commands are done: nothing is ever committed to the group);
- reads in batches: ``consume(1, timeout)`` first, then ``consume(n - 1, 0)`` (``consume(n, t)``
  with ``t`` of 0.2 s or more loops until it has ``n`` messages, confluent-kafka-python #407);
- hands one batch at a time to the event loop and gathers the next while it is applied, so the
  commands that arrive during a commit form the next batch (group commit); while a full batch
  waits, it pauses the partition (back-pressure) and keeps serving the group protocol.

Every batch carries the generation of the ``start`` it follows: after a step-down and a new
take-over, batches read before are recognisably stale. librdkafka reads every Kafka codec (none,
gzip, snappy, lz4, zstd); records it cannot hand over come through as ``Unreadable``
(``feed_position`` steps past them, and finds the way back when the fetch position is lost).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from confluent_kafka import (
    KafkaError,
    Message,
    TopicPartition,
)

from coordinator.config import Settings
from coordinator.kafka.reader import header_list
from coordinator.worker.feed_position import ReadPosition
from coordinator.worker.feed_records import (
    RECORD_ERRORS,
    CommandBatch,
    CommandRecord,
    ConsumerLike,
    FeedItem,
    Ownership,
    Unreadable,
    group_consumer,
)

__all__ = ["CommandBatch", "CommandFeed", "CommandRecord", "FeedItem", "Unreadable"]

log = logging.getLogger("coordinator")

POLL_SECONDS = 0.1
"""Longest wait in one ``consume`` call: how soon the thread sees a control request or stop."""
RECREATE_SECONDS = 1.0
"""Pause before a consumer that failed for good is replaced."""
HANDOFF_SECONDS = 0.005
"""While a batch is being applied, how often the thread looks for more commands to gather."""
PAUSE_AFTER_SECONDS = 1.0
"""A full batch that has waited this long for the one being applied pauses the partition.

Not at once: librdkafka empties a paused partition's prefetch queue, and after the resume its
fetcher takes about a second to fetch again (the drain benchmark spent 0.97 s of every 1.0 s
doing nothing, at 3,000 commands/s). Meanwhile the reader simply stops taking messages and
librdkafka's own queue limits (``queued.max.messages.kbytes``) hold the fetcher back."""


class CommandFeed:
    """Reads the commands partition on its own thread and hands batches to the event loop."""

    def __init__(
        self,
        settings: Settings,
        deliver: Callable[[CommandBatch], None],
        ownership: Ownership,
        consumer_factory: Callable[[Settings], ConsumerLike] = group_consumer,
    ) -> None:
        self._settings = settings
        self._topic = settings.topics.commands
        self._batch_max = settings.batch_max
        self._deliver = deliver
        self._ownership = ownership
        self._consumer_factory = consumer_factory
        self._call_soon: Callable[..., object] = lambda call, *args: call(*args)
        self._controls: queue.SimpleQueue[tuple[str, int, int]] = queue.SimpleQueue()
        self._handoff = threading.Condition()
        self._outstanding = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._generation_lock = threading.Lock()
        # Reader-thread state.
        self._owned = False
        self._reading = False
        self._paused = False
        self._full_since: float | None = None
        self._reading_generation = 0
        self._pending: list[FeedItem] = []
        self._last_error: str | None = None
        self._failed = False
        self._position = ReadPosition(self._topic)
        """The offset reading continues from: after the last record read, or a skipped one."""

    # -- the event loop's side ----------------------------------------------------------------

    @property
    def owns_partition(self) -> bool:
        """Whether the group has the commands partition assigned to this worker now."""
        return self._owned

    def start(self, call_soon: Callable[..., object]) -> None:
        """Start the reader thread; ``call_soon`` runs a call on the event loop's thread."""
        self._call_soon = call_soon
        self._thread = threading.Thread(target=self.run, name="command-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading and leave the group (a static member's session then ends by itself)."""
        self._stopping.set()
        with self._handoff:
            self._handoff.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def read_from(self, offset: int) -> int:
        """Deliver commands from ``offset`` on; returns the generation their batches carry."""
        with self._generation_lock:
            self._generation += 1
            generation = self._generation
        self._controls.put(("read", offset, generation))
        return generation

    def stop_reading(self) -> None:
        """Deliver nothing more (a step-down); what was gathered is dropped."""
        with self._generation_lock:
            self._generation += 1
        self._controls.put(("stop", 0, 0))

    def batch_done(self) -> None:
        """The delivered batch is applied (or dropped): the next may be handed over."""
        with self._handoff:
            self._outstanding = False
            self._handoff.notify_all()

    # -- the reader thread ----------------------------------------------------------------------

    def run(self) -> None:
        """Read until stopped; a consumer that failed for good is replaced by a new one."""
        while not self._stopping.is_set():
            consumer = self._consumer_factory(self._settings)
            consumer.subscribe(
                [self._topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            self._failed = False
            try:
                while not self._stopping.is_set() and not self._failed:
                    try:
                        self.step(consumer)
                    except Exception:  # the reader must outlive any one failure
                        log.exception("msg=Command reader failed; replacing its consumer")
                        self._failed = True
            finally:
                self._close(consumer)
            if self._failed and not self._stopping.is_set():
                self._stopping.wait(RECREATE_SECONDS)

    def _close(self, consumer: ConsumerLike) -> None:
        try:
            consumer.close()
        except Exception as exc:  # noqa: BLE001 - a failed consumer may not close cleanly
            log.warning("msg=Command consumer closed with an error error=%r", exc)
        if self._owned:
            # A failed consumer calls no callback on close: the partition is gone all the same.
            self._release_partition(lost=True)

    def step(self, consumer: ConsumerLike) -> None:
        """One turn of the reader: controls, hand-over, back-pressure, one read."""
        self._apply_controls(consumer)
        if self._pending and self._hand_over():
            return
        room = self._batch_max - len(self._pending)
        if room > 0:
            self._full_since = None
        elif self._full_since is None:
            self._full_since = time.monotonic()
        if self._reading and self._owned:
            stalled = (
                self._full_since is not None
                and time.monotonic() - self._full_since >= PAUSE_AFTER_SECONDS
            )
            if stalled and not self._paused:
                consumer.pause([self._partition()])
                self._paused = True
            elif room > 0 and self._paused:
                consumer.resume([self._partition()])
                self._paused = False
        if self._pending:
            # A batch is being applied: wait for it briefly, gathering what arrives meanwhile.
            with self._handoff:
                if self._outstanding:
                    self._handoff.wait(HANDOFF_SECONDS)
            if room > 0:
                messages = consumer.consume(room, 0)
            elif self._paused or not (self._reading and self._owned):
                # Serves the group's callbacks; a paused partition hands nothing over.
                messages = consumer.consume(1, 0)
            else:
                messages = []
        else:
            messages = consumer.consume(1, POLL_SECONDS)
            if messages and self._batch_max > 1:
                messages.extend(consumer.consume(self._batch_max - 1, 0))
        if messages:
            self._gather(consumer, messages)

    def _hand_over(self) -> bool:
        with self._handoff:
            if self._outstanding:
                return False
            self._outstanding = True
        items = self._pending[: self._batch_max]
        del self._pending[: self._batch_max]
        self._call_soon(self._deliver, CommandBatch(self._reading_generation, items))
        return True

    def _gather(self, consumer: ConsumerLike, messages: list[Message]) -> None:
        for message in messages:
            error = message.error()
            if error is not None and error.code() == KafkaError._AUTO_OFFSET_RESET:
                if self._reading and self._owned:
                    self._position.reposition(consumer, error)
                return
            if error is not None and not self._is_record_error(message, error):
                self._note_error(error)
                continue
            if not self._reading or message.topic() != self._topic:
                continue  # read before a stop or a step-down; the next take-over reads it again
            offset = message.offset()
            if offset is None or offset < 0:
                continue
            _kind, ts = message.timestamp()
            timestamp = ts / 1000 if ts and ts > 0 else time.time()
            if error is not None:
                self._pending.append(self._position.skip(consumer, offset, error, timestamp))
                return  # what else this call returned is stale copies of the same error
            self._position.read(offset)
            self._pending.append(
                CommandRecord(
                    offset=offset,
                    key=message.key(),
                    value=message.value(),
                    timestamp=timestamp,
                    headers=header_list(message.headers()),
                )
            )
        if self._last_error is not None and any(m.error() is None for m in messages):
            log.info("msg=Commands readable again after error=%s", self._last_error)
            self._last_error = None

    @staticmethod
    def _is_record_error(message: Message, error: KafkaError) -> bool:
        """An error about the record at a known offset (not about the client or the partition)."""
        offset = message.offset()
        return (
            error.code() in RECORD_ERRORS
            and message.topic() is not None
            and offset is not None
            and offset >= 0
        )

    def _note_error(self, error: KafkaError) -> None:
        text = f"{error.name()}: {error.str()}"
        if error.fatal() or error.code() == KafkaError._FATAL:
            # e.g. a static member fenced by its own rejoin after a session timeout (a stale
            # request of the old member id reached the broker after the new one): a new
            # consumer with the same instance id simply joins again.
            log.error("msg=Command consumer failed; replacing it error=%s", text)
            self._failed = True
            return
        if text != self._last_error:
            log.warning("msg=Command consumer error error=%s", text)
            self._last_error = text

    def _apply_controls(self, consumer: ConsumerLike) -> None:
        while True:
            try:
                what, offset, generation = self._controls.get_nowait()
            except queue.Empty:
                return
            if what == "read":
                self._pending.clear()
                self._position.start_at(offset)
                self._reading_generation = generation
                if self._owned:
                    partition = self._partition()
                    consumer.incremental_unassign([partition])
                    # The pause of the partition outlives its re-assignment in librdkafka, so it
                    # is lifted first: resumed after the assignment, the fetcher could miss the
                    # resume and fetch nothing until its next wake-up, a second later (about 1
                    # take-over in 8: the first command waited 1 s).
                    consumer.resume([partition])
                    consumer.incremental_assign([TopicPartition(self._topic, 0, offset)])
                    self._paused = False
                    self._reading = True
            elif what == "stop":
                self._stop_reading(consumer)

    def _stop_reading(self, consumer: ConsumerLike | None) -> None:
        self._pending.clear()
        if self._reading and self._owned and consumer is not None and not self._paused:
            consumer.pause([self._partition()])
            self._paused = True
        self._reading = False

    def _partition(self) -> TopicPartition:
        return TopicPartition(self._topic, 0)

    def _mine(self, partitions: list[TopicPartition]) -> bool:
        return any(p.topic == self._topic and p.partition == 0 for p in partitions)

    # librdkafka calls these from within consume(), on the reader thread.

    def _on_assign(self, consumer: ConsumerLike, partitions: list[TopicPartition]) -> None:
        consumer.incremental_assign(partitions)
        if not self._mine(partitions):
            return
        # Nothing is read until the take-over has found where the last owner stopped.
        consumer.pause([self._partition()])
        self._paused = True
        self._reading = False
        self._pending.clear()
        self._owned = True
        log.info("msg=Commands partition assigned")
        self._call_soon(self._ownership.partition_assigned)

    def _on_revoke(self, consumer: ConsumerLike, partitions: list[TopicPartition]) -> None:
        self._release(consumer, partitions, lost=False)

    def _on_lost(self, consumer: ConsumerLike, partitions: list[TopicPartition]) -> None:
        self._release(consumer, partitions, lost=True)

    def _release(
        self, consumer: ConsumerLike, partitions: list[TopicPartition], lost: bool
    ) -> None:
        consumer.incremental_unassign(partitions)
        if self._mine(partitions):
            self._release_partition(lost)

    def _release_partition(self, lost: bool) -> None:
        self._owned = False
        self._reading = False
        self._paused = False
        self._pending.clear()
        log.warning("msg=Commands partition %s", "lost" if lost else "revoked")
        self._call_soon(self._ownership.partition_revoked, lost)
