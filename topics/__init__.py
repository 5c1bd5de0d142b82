"""Topic definitions of the coordinator, as data, and the JSON Schemas of their payloads."""

from topics.definitions import (
    AGGREGATE_ID,
    ALL,
    COMMANDS,
    DEADLETTER,
    DEFAULT_PREFIX,
    EVENTS,
    PROGRESS,
    REPLIES,
    SNAPSHOTS,
    TopicNames,
    TopicSpec,
)

__all__ = [
    "AGGREGATE_ID",
    "ALL",
    "COMMANDS",
    "DEADLETTER",
    "DEFAULT_PREFIX",
    "EVENTS",
    "PROGRESS",
    "REPLIES",
    "SNAPSHOTS",
    "TopicNames",
    "TopicSpec",
]
