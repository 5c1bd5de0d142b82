"""Every topic of the coordinator, as plain data (docs/protocol.md "Topics").

The worker, the client, the ops scripts and the tests all read these definitions; ``coordinator
topics create`` turns them into topics on any cluster. Names are ``<prefix>.<suffix>`` with the
prefix ``coordinator`` unless configured otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

DEFAULT_PREFIX = "coordinator"
AGGREGATE_ID = "global-coordinator"
"""The key of every command: the one aggregate the commands partition belongs to."""

_DAY_MS = 24 * 60 * 60 * 1000
_MIB = 1024 * 1024


def _frozen(configs: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(configs)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: its name suffix, partition count, configs, and what its records hold."""

    suffix: str
    partitions: int
    configs: Mapping[str, str]
    key: str
    value: str
    description: str
    exact_partitions: bool = True
    """Whether the partition count is part of the contract (single-partition topics)."""

    def name(self, prefix: str = DEFAULT_PREFIX) -> str:
        return f"{prefix}.{self.suffix}"


COMMANDS = TopicSpec(
    suffix="commands",
    partitions=1,
    configs=_frozen(
        {
            "cleanup.policy": "compact",
            # Every command has the same key; compaction must never remove one that has not been
            # applied yet, so nothing younger than 7 days is compacted.
            "min.compaction.lag.ms": str(7 * _DAY_MS),
            # Large enough that an oversized command still reaches the worker and is
            # dead-lettered with a reason, instead of being refused by the broker unseen.
            "max.message.bytes": str(4 * _MIB),
        }
    ),
    key=AGGREGATE_ID,
    value="command JSON",
    description="Commands to the coordinator, in the order they are applied.",
)

EVENTS = TopicSpec(
    suffix="events",
    partitions=1,
    configs=_frozen({"cleanup.policy": "delete", "retention.ms": "-1"}),
    key="pipelineId",
    value="event JSON, header tag: coordinator",
    description="The journal: every accepted state change, seq 1, 2, 3, ... Kept forever.",
)

SNAPSHOTS = TopicSpec(
    suffix="snapshots",
    partitions=1,
    configs=_frozen(
        {
            "cleanup.policy": "compact",
            # Deleted snapshots are tombstoned; roll and clean often so they do not pile up.
            "segment.ms": str(10 * 60 * 1000),
            "min.cleanable.dirty.ratio": "0.1",
            "delete.retention.ms": str(60 * 60 * 1000),
            "max.message.bytes": str(2 * _MIB),
        }
    ),
    key="snapshot/<seq>/<part>",
    value="snapshot header, chunks of state, footer",
    description="Full snapshots of the state, newest 2 kept.",
)

REPLIES = TopicSpec(
    suffix="replies",
    partitions=1,
    configs=_frozen({"cleanup.policy": "delete", "retention.ms": str(60 * 60 * 1000)}),
    key="correlationId",
    value="reply JSON",
    description="Default reply topic; any topic whose name starts with it is a reply topic.",
    exact_partitions=False,
)

DEADLETTER = TopicSpec(
    suffix="deadletter",
    partitions=1,
    configs=_frozen(
        {
            "cleanup.policy": "delete",
            "retention.ms": str(14 * _DAY_MS),
            "max.message.bytes": str(5 * _MIB),
        }
    ),
    key="as received",
    value="the rejected bytes; headers say why",
    description="Commands that could not be accepted, with the reason in headers.",
)

PROGRESS = TopicSpec(
    suffix="progress",
    partitions=1,
    configs=_frozen(
        {
            "cleanup.policy": "compact",
            "segment.ms": str(60 * 60 * 1000),
            "min.cleanable.dirty.ratio": "0.1",
        }
    ),
    key="progress",
    value='{"nextCommandOffset": n}',
    description=(
        "Internal: which commands are done, written in each batch's transaction. (A consumer "
        "group's transactional offset commit would do, but librdkafka's "
        "send_offsets_to_transaction can hang across a broker restart, and the offsets of a "
        "group without members expire after offsets.retention.minutes.)"
    ),
)

ALL: tuple[TopicSpec, ...] = (COMMANDS, EVENTS, SNAPSHOTS, REPLIES, DEADLETTER, PROGRESS)


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The concrete topic names for one prefix."""

    prefix: str = DEFAULT_PREFIX

    @property
    def commands(self) -> str:
        return COMMANDS.name(self.prefix)

    @property
    def events(self) -> str:
        return EVENTS.name(self.prefix)

    @property
    def snapshots(self) -> str:
        return SNAPSHOTS.name(self.prefix)

    @property
    def replies(self) -> str:
        """The default reply topic, which is also the prefix of every reply topic."""
        return REPLIES.name(self.prefix)

    @property
    def deadletter(self) -> str:
        return DEADLETTER.name(self.prefix)

    @property
    def writer_transactional_id(self) -> str:
        """One transactional id for whoever owns the commands partition: it fences the last."""
        return f"{self.prefix}.writer"

    @property
    def progress(self) -> str:
        """Internal topic whose last record says which commands have been applied."""
        return PROGRESS.name(self.prefix)

    @property
    def worker_group(self) -> str:
        """The consumer group of the workers; its partition owner is the singleton."""
        return f"{self.prefix}.worker"
