"""A batch's view of the state: the table underneath, this batch's changes on top.

Commands in one batch are decided one after another, each seeing the changes of those before it,
but nothing reaches RocksDB until the batch's transaction has committed to the journal.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from datetime import datetime

from coordinator.domain.change import Change
from coordinator.domain.model import PipelineInfo, Summary
from coordinator.domain.view import AppliedCommand, StateView

_ABSENT = object()


class Overlay:
    """A ``StateView`` of ``base`` plus uncommitted ``changes``."""

    def __init__(self, base: StateView, keep_changes: bool = True) -> None:
        self.base = base
        self.keep_changes = keep_changes
        """False: ``changes`` stays empty (a fold gathers its writes elsewhere)."""
        self.changes: list[Change] = []
        self._pipelines: dict[str, PipelineInfo | None] = {}
        self._applied: dict[str, AppliedCommand | None] = {}
        self._ring: dict[int, str] = {}
        self._summary: Summary | None = None
        # Reads of the table underneath, remembered for the batch: a command is usually looked
        # up twice (to decide, then to compute its change), and the table parses JSON each time.
        self._read: dict[str, PipelineInfo | None] = {}

    @property
    def summary(self) -> Summary:
        return self._summary if self._summary is not None else self.base.summary

    def add(self, change: Change) -> None:
        if self.keep_changes:
            self.changes.append(change)
        if change.pipeline_id is not None:
            self._pipelines[change.pipeline_id] = change.pipeline
        self._summary = change.summary
        if change.applied is not None and change.ring_slot is not None:
            if change.forget is not None:
                self._applied[change.forget] = None
            self._applied[change.applied.command_id] = change.applied
            self._ring[change.ring_slot] = change.applied.command_id

    @property
    def cached(self) -> int:
        """How many values this overlay holds (changed or read)."""
        return len(self._pipelines) + len(self._read) + len(self._applied) + len(self._ring)

    def pipeline(self, pipeline_id: str) -> PipelineInfo | None:
        if pipeline_id in self._pipelines:
            return self._pipelines[pipeline_id]
        return self._underneath(pipeline_id)

    def _underneath(self, pipeline_id: str) -> PipelineInfo | None:
        if pipeline_id not in self._read:
            self._read[pipeline_id] = self.base.pipeline(pipeline_id)
        return self._read[pipeline_id]

    def pipelines_from(self, after: str | None) -> Iterator[PipelineInfo]:
        if not self._pipelines:
            yield from self.base.pipelines_from(after)
            return
        pending = sorted(self._pipelines)
        index = 0 if after is None else bisect.bisect_right(pending, after)
        for info in self.base.pipelines_from(after):
            while index < len(pending) and pending[index] < info.pipeline_id:
                upcoming = self._pipelines[pending[index]]
                if upcoming is not None:
                    yield upcoming
                index += 1
            if index < len(pending) and pending[index] == info.pipeline_id:
                upcoming = self._pipelines[pending[index]]
                index += 1
                if upcoming is not None:
                    yield upcoming
                continue
            yield info
        for pipeline_id in pending[index:]:
            upcoming = self._pipelines[pipeline_id]
            if upcoming is not None:
                yield upcoming

    def count_stale(self, before: datetime) -> int:
        count = self.base.count_stale(before)
        for pipeline_id, upcoming in self._pipelines.items():
            underneath = self._underneath(pipeline_id)
            if underneath is not None and underneath.last_heartbeat < before:
                count -= 1
            if upcoming is not None and upcoming.last_heartbeat < before:
                count += 1
        return count

    def applied(self, command_id: str) -> AppliedCommand | None:
        if command_id in self._applied:
            return self._applied[command_id]
        return self.base.applied(command_id)

    def ring_slot(self, slot: int) -> str | None:
        if slot in self._ring:
            return self._ring[slot]
        return self.base.ring_slot(slot)
