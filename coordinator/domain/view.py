"""Read access to a coordinator state, and the record of an applied command.

The decider, the queries and ``change_for`` read state only through ``StateView``, so the same
rules run against the in-memory state, the worker's RocksDB table, or a batch's overlay of both.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from coordinator.domain.model import PipelineInfo, Summary
from coordinator.domain.replies import ReplyValue
from coordinator.domain.wire import WireModel


class AppliedCommand(WireModel):
    """A command that changed state, remembered so a retry gets its original reply."""

    command_id: str
    command_type: str
    seq: int
    index: int
    """Position in the ring of remembered commands (``Summary.applied_count`` when added)."""
    value: ReplyValue = None


class StateView(Protocol):
    """Read access to a coordinator state, wherever it is kept (memory, RocksDB, an overlay)."""

    @property
    def summary(self) -> Summary: ...

    def pipeline(self, pipeline_id: str) -> PipelineInfo | None: ...

    def pipelines_from(self, after: str | None) -> Iterable[PipelineInfo]:
        """Pipelines in ascending ``pipelineId`` order, starting after ``after`` (exclusive)."""
        ...

    def applied(self, command_id: str) -> AppliedCommand | None: ...

    def count_stale(self, before: datetime) -> int:
        """How many pipelines had their last heartbeat before ``before``."""
        ...

    def ring_slot(self, slot: int) -> str | None:
        """The ``commandId`` remembered in ring slot ``slot``, if any."""
        ...
