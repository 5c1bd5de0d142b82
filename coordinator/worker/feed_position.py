"""Where the command feed reads next, and how it finds its way again when librdkafka loses it.

Two ways librdkafka can stop handing records over, each repaired here on the reader thread:

- a record batch it cannot hand over (it does not decompress, fails its CRC check, or
  decompresses to more than ``receive.message.max.bytes``) is reported at the batch's base offset
  again and again: the reader steps past it one offset at a time, each offset dead-lettered;
- after a corrupt batch it can fetch from an offset read from garbage; with ``auto.offset.reset``
  set to ``error`` it says so, and the reader goes back to where it stands.
"""

from __future__ import annotations

import logging

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from coordinator.worker.feed_records import ConsumerLike, Unreadable

log = logging.getLogger("coordinator")


class ReadPosition:
    def __init__(self, topic: str) -> None:
        self._topic = topic
        self.resume_at = 0
        """The offset after the last record handed over: where reading stands."""
        self._unreadable_at: int | None = None
        self._skip_to = 0
        self._repositioned_to: int | None = None

    def start_at(self, offset: int) -> None:
        """A new start position: a bad batch met before is met afresh (and reported from its
        base offset), not continued from where the last skip stopped."""
        self._unreadable_at = None
        self.resume_at = offset

    def read(self, offset: int) -> None:
        """The record at ``offset`` was read."""
        self._unreadable_at = None
        self.resume_at = offset + 1
        self._repositioned_to = None

    def skip(
        self, consumer: ConsumerLike, offset: int, error: KafkaError, timestamp: float
    ) -> Unreadable:
        """Step past a record batch that librdkafka cannot hand over, and report it once.

        librdkafka reports the batch at its base offset and never moves past it by itself; the
        error does not say where the batch ends. So the reader seeks one offset further each
        time the same base offset comes back, until it is out of the batch (about a millisecond
        a step). Returns the offset stepped over, to be dead-lettered with the error.
        """
        if offset != self._unreadable_at:
            self._unreadable_at = offset
            self._skip_to = offset
            log.error(
                "msg=Unreadable command records skipped fromOffset=%d error=%s: %s",
                offset,
                error.name(),
                error.str(),
            )
        # The error came back for the position sought last: that offset is in the bad batch.
        at = max(self._skip_to, offset)
        self._skip_to = self.resume_at = at + 1
        self.seek(consumer, self._skip_to)
        return Unreadable(at, error.name(), error.str(), timestamp)

    def reposition(self, consumer: ConsumerLike, error: KafkaError) -> None:
        """Go back to where reading stands after the fetch position left the partition."""
        target = self.resume_at
        if self._repositioned_to == target:
            # That offset itself is out of range (records deleted below it): from the start of
            # what is there; the service skips what is already applied.
            target = OFFSET_BEGINNING
        self._repositioned_to = target
        log.warning(
            "msg=Command fetch position out of range; reading again from offset=%d error=%s",
            target,
            error.str(),
        )
        self.seek(consumer, target)

    def seek(self, consumer: ConsumerLike, offset: int) -> None:
        """Read from ``offset`` next; a partition in an error state is assigned afresh there."""
        try:
            consumer.seek(TopicPartition(self._topic, 0, offset))
        except KafkaException:
            partition = TopicPartition(self._topic, 0)
            consumer.incremental_unassign([partition])
            consumer.incremental_assign([TopicPartition(self._topic, 0, offset)])
            consumer.resume([partition])
