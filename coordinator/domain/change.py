"""``Change``: what one event does to a state, computed once by ``state.change_for`` and applied
the same way to the in-memory state, the RocksDB table and a batch's overlay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coordinator.domain.model import PipelineInfo, Summary, latest
from coordinator.domain.replies import ReplyValue
from coordinator.domain.view import AppliedCommand
from coordinator.domain.wire import replaced


@dataclass(slots=True)  # not frozen: a frozen dataclass takes twice as long to build
class Change:
    """What one event does to a state: the pipeline ``pipeline_id`` becomes ``pipeline`` (None
    deletes it); an event about the registry as a whole has no ``pipeline_id``."""

    pipeline_id: str | None
    pipeline: PipelineInfo | None
    summary: Summary
    applied: AppliedCommand | None = None
    ring_slot: int | None = None
    forget: str | None = None
    """A ``commandId`` that falls out of the ring and is forgotten."""
    reply: ReplyValue = None
    """What the command that caused the event answers (registrations and unregistrations)."""
    previous: PipelineInfo | None = None
    """The pipeline before the event (None when it was not registered)."""

    @property
    def removed(self) -> bool:
        return self.pipeline_id is not None and self.pipeline is None


def summary_after(before: Summary, seq: int, at: datetime, update: dict[str, Any]) -> Summary:
    """``before`` with ``update`` applied by the event at ``seq``, applied at ``at`` (not
    re-validated: the values come from validated state and events)."""
    return replaced(before, {"seq": seq, "last_updated": latest(at, before.last_updated), **update})
