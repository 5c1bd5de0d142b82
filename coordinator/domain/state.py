"""State and ``evolve``: how each event changes the registry.

An event changes at most one pipeline, the summary, and the record of applied commands. That
change is computed once, by ``change_for``, against any ``StateView``; the in-memory
``CoordinatorState`` applies it with ``apply_change`` (and ``evolve`` is the two together), and the
worker's RocksDB table applies the very same ``Change`` in one write batch. So there is one set of
rules, and folding the journal gives the same state wherever it is folded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import assert_never

from pydantic import Field

from coordinator.domain.change import Change, summary_after
from coordinator.domain.commands import CAUSED_BY, RESULT_EVENTS, SUMMARY_EVENTS
from coordinator.domain.events import (
    AnyPipelineEvent,
    Event,
    GroupEvent,
    LimitsEvent,
    PipelineLabelsChanged,
    PipelineMoved,
    PipelineRegistered,
    PipelineStatusUpdated,
    PipelineUnregistered,
    PreemptionRequested,
    ReservationEvent,
    ResourceLimitsChanged,
    ResourceUsageReported,
)
from coordinator.domain.group_changes import charge_given, counts_moved, group_change, groups_moved
from coordinator.domain.model import (
    PipelineInfo,
    PipelineStatus,
    PreemptionRequest,
    ResourceLimits,
    Summary,
    SystemHealth,
    cpu_units,
    latest,
)
from coordinator.domain.queries import has_resources_available, list_all, system_health
from coordinator.domain.replies import ReplyValue, RuntimeLimits, StateSummary
from coordinator.domain.reservation_changes import reservation_change, reservations_after
from coordinator.domain.view import AppliedCommand, StateView
from coordinator.domain.wire import WireModel, replaced

DEFAULT_APPLIED_CAPACITY = 10_000
"""How many applied ``commandId``s are remembered for idempotent retries, by default."""


def summary_reply(summary: Summary, pipeline_id: str, info: PipelineInfo | None) -> StateSummary:
    """The reply to a registration or an unregistration, given the summary right after it."""
    return StateSummary(
        seq=summary.seq,
        pipeline_id=pipeline_id,
        pipeline=info,
        total_pipelines=summary.total_pipelines,
        count_by_status=dict(summary.count_by_status),
        total_cpu_percent=summary.total_cpu_percent,
        total_memory_mb=summary.memory_mb_total,
        last_updated=summary.last_updated,
    )


def _resources_of(info: PipelineInfo | None) -> tuple[int, int]:
    if info is None:
        return 0, 0
    return cpu_units(info.cpu_percent), info.memory_mb


def _next_pipeline(current: PipelineInfo | None, event: AnyPipelineEvent) -> PipelineInfo | None:
    match event:
        case PipelineRegistered():
            return PipelineInfo(
                pipeline_id=event.pipeline_id,
                name=event.name,
                status=PipelineStatus.CONFIGURED,
                total_records=0,
                failed_records=0,
                cpu_percent=0.0,
                memory_mb=0,
                registered_at=event.timestamp,
                last_heartbeat=event.timestamp,
                group=event.group,
                requested_cpu_percent=event.requested_cpu_percent,
                requested_memory_mb=event.requested_memory_mb,
                priority=event.priority,
                preemptible=event.preemptible,
                status_since=event.timestamp,
            )
        case PipelineUnregistered():
            return None
        case PipelineStatusUpdated():
            if current is None:
                return None
            update = {
                "status": event.status,
                "total_records": event.total_records,
                "failed_records": event.failed_records,
                "last_heartbeat": event.timestamp,
            }
            if event.status != current.status:
                update["status_since"] = event.timestamp
            return replaced(current, update)
        case ResourceUsageReported():
            if current is None:
                return None
            return replaced(
                current,
                {
                    "cpu_percent": event.cpu_percent,
                    "memory_mb": event.memory_mb,
                    "last_heartbeat": event.timestamp,
                },
            )
        case PipelineMoved():
            if current is None:
                return None
            return replaced(current, {"group": event.to_group})
        case PipelineLabelsChanged():
            if current is None:
                return None
            return replaced(current, {"labels": event.labels})
        case PreemptionRequested():
            if current is None:
                return None
            request = PreemptionRequest(
                requested_at=event.timestamp,
                for_pipeline_id=event.for_pipeline_id,
                reason=event.reason,
            )
            return replaced(current, {"preemption_requested": request})
        case _:
            assert_never(event)


def change_for(
    view: StateView, event: Event, applied_capacity: int = DEFAULT_APPLIED_CAPACITY
) -> Change:
    """The change ``event`` makes to the state seen through ``view``.

    Totals move by the difference between the pipeline's old and new report, so a second report
    replaces the first and an unregistration takes its share away.
    """
    if isinstance(event, LimitsEvent):
        return _with_applied(view, event, _limits_change(view.summary, event), applied_capacity)
    if isinstance(event, GroupEvent):
        return _with_applied(view, event, group_change(view.summary, event), applied_capacity)
    if isinstance(event, ReservationEvent):
        change = reservation_change(view.summary, event)
        return _with_applied(view, event, change, applied_capacity)
    return _with_applied(view, event, _pipeline_change(view, event), applied_capacity)


def _limits_change(before: Summary, event: LimitsEvent) -> Change:
    limits = event.limits if isinstance(event, ResourceLimitsChanged) else None
    update = {"limits": limits, "limits_revision": event.revision}
    summary = summary_after(before, event.seq, event.timestamp, update)
    reply = RuntimeLimits(seq=event.seq, limits=limits, revision=event.revision)
    return Change(None, None, summary, reply=reply)


def _pipeline_change(view: StateView, event: AnyPipelineEvent) -> Change:
    current = view.pipeline(event.pipeline_id)
    after = _next_pipeline(current, event)
    old_report = _resources_of(current)
    new_report = _resources_of(after)
    old_cpu, old_memory = old_report
    new_cpu, new_memory = new_report
    # A pipeline without requests is charged its report (the same tuple).
    old_charge = charge_given(current, old_report)
    new_charge = charge_given(after, new_report)
    before = view.summary
    old_status = current.status if current else None
    new_status = after.status if after else None
    # Not re-validated: every value here comes from validated state and events. Values that do
    # not change (the counts, for a report) are shared with the summary before, never mutated.
    update: dict[str, object] = {
        "seq": event.seq,
        "count_by_status": (
            before.count_by_status
            if old_status == new_status
            else counts_moved(before.count_by_status, old_status, new_status)
        ),
        "cpu_total": before.cpu_total - old_cpu + new_cpu,
        "memory_mb_total": before.memory_mb_total - old_memory + new_memory,
        "last_updated": latest(event.timestamp, before.last_updated),
        "stored_groups": groups_moved(before.stored_groups, current, after, old_charge, new_charge),
    }
    if old_charge is not old_report or new_charge is not new_report:  # requests above reports
        update["excess_cpu"] = before.excess_cpu + (
            (new_charge[0] - new_report[0]) - (old_charge[0] - old_report[0])
        )
        update["excess_memory_mb"] = before.excess_memory_mb + (
            (new_charge[1] - new_report[1]) - (old_charge[1] - old_report[1])
        )
    if isinstance(event, PipelineRegistered) and event.reservation_id is not None:
        update["reservations"] = reservations_after(before, event)
    summary = replaced(before, update)
    reply: ReplyValue = None
    if event.type in SUMMARY_EVENTS:
        reply = summary_reply(summary, event.pipeline_id, after if after else current)
    elif event.type in RESULT_EVENTS:  # what the change made: the pipeline after it
        reply = after
    return Change(event.pipeline_id, after, summary, reply=reply, previous=current)


def _with_applied(view: StateView, event: Event, change: Change, applied_capacity: int) -> Change:
    """``change``, remembering the command that caused ``event`` for idempotent retries."""
    if event.command_id is None or applied_capacity <= 0:
        return change
    summary = change.summary
    index = summary.applied_count
    slot = index % applied_capacity
    evicted = view.ring_slot(slot)
    forget = None
    if evicted is not None and evicted != event.command_id:
        remembered = view.applied(evicted)
        if remembered is not None and remembered.index % applied_capacity == slot:
            forget = evicted
    change.summary = replaced(summary, {"applied_count": index + 1})
    change.applied = AppliedCommand(
        command_id=event.command_id,
        command_type=CAUSED_BY[event.type],
        seq=event.seq,
        index=index,
        value=change.reply,
    )
    change.ring_slot = slot
    change.forget = forget
    return change


class CoordinatorState(WireModel):
    """The whole state in memory: the design document's ``CoordinatorState`` plus what
    idempotent processing needs (``summary.seq`` and the ring of applied commands).

    Immutable: ``evolve`` returns a new state. Fine for tests, replays and small registries; the
    worker keeps the same state in RocksDB and applies the same ``Change``s there.
    """

    pipelines: dict[str, PipelineInfo] = Field(default_factory=dict)
    summary: Summary = Field(default_factory=Summary)
    applied_commands: dict[str, AppliedCommand] = Field(default_factory=dict)
    ring: dict[int, str] = Field(default_factory=dict)

    @classmethod
    def empty(cls) -> CoordinatorState:
        return cls()

    def pipeline(self, pipeline_id: str) -> PipelineInfo | None:
        return self.pipelines.get(pipeline_id)

    def pipelines_from(self, after: str | None) -> Iterator[PipelineInfo]:
        for pipeline_id in sorted(self.pipelines):
            if after is None or pipeline_id > after:
                yield self.pipelines[pipeline_id]

    def applied(self, command_id: str) -> AppliedCommand | None:
        return self.applied_commands.get(command_id)

    def count_stale(self, before: datetime) -> int:
        return sum(1 for info in self.pipelines.values() if info.last_heartbeat < before)

    def ring_slot(self, slot: int) -> str | None:
        return self.ring.get(slot)

    # The design document's helpers, for those who hold a state in hand.
    def get_pipeline(self, pipeline_id: str) -> PipelineInfo | None:
        return self.pipeline(pipeline_id)

    def list_pipelines(self, status_filter: PipelineStatus | None = None) -> list[PipelineInfo]:
        return list_all(self, status_filter)

    def count_by_status(self) -> dict[PipelineStatus, int]:
        return dict(self.summary.count_by_status)

    def has_resources_available(
        self,
        estimated_cpu: float,
        estimated_memory: int,
        max_cpu_percent: float = 80.0,
        max_memory_mb: int = 80000,
    ) -> bool:
        limits = ResourceLimits(max_cpu_percent=max_cpu_percent, max_memory_mb=max_memory_mb)
        return has_resources_available(self, estimated_cpu, estimated_memory, limits)

    def get_system_health(self) -> SystemHealth:
        return system_health(self)


def apply_change(state: CoordinatorState, change: Change) -> CoordinatorState:
    pipelines = state.pipelines
    if change.pipeline_id is not None:
        pipelines = dict(pipelines)
        if change.pipeline is None:
            pipelines.pop(change.pipeline_id, None)
        else:
            pipelines[change.pipeline_id] = change.pipeline
    applied_commands = state.applied_commands
    ring = state.ring
    if change.applied is not None and change.ring_slot is not None:
        applied_commands = dict(applied_commands)
        ring = dict(ring)
        if change.forget is not None:
            applied_commands.pop(change.forget, None)
        applied_commands[change.applied.command_id] = change.applied
        ring[change.ring_slot] = change.applied.command_id
    return CoordinatorState(
        pipelines=pipelines,
        summary=change.summary,
        applied_commands=applied_commands,
        ring=ring,
    )


def evolve(
    state: CoordinatorState, event: Event, applied_capacity: int = DEFAULT_APPLIED_CAPACITY
) -> CoordinatorState:
    """The state after ``event``."""
    return apply_change(state, change_for(state, event, applied_capacity))


class _Builder:
    """A mutable state for folding long journals in linear time; same rules, applied in place."""

    def __init__(self, state: CoordinatorState) -> None:
        self.pipelines = dict(state.pipelines)
        self.summary = state.summary
        self.applied_commands = dict(state.applied_commands)
        self.ring = dict(state.ring)

    def pipeline(self, pipeline_id: str) -> PipelineInfo | None:
        return self.pipelines.get(pipeline_id)

    def pipelines_from(self, after: str | None) -> Iterator[PipelineInfo]:
        for pipeline_id in sorted(self.pipelines):
            if after is None or pipeline_id > after:
                yield self.pipelines[pipeline_id]

    def applied(self, command_id: str) -> AppliedCommand | None:
        return self.applied_commands.get(command_id)

    def count_stale(self, before: datetime) -> int:
        return sum(1 for info in self.pipelines.values() if info.last_heartbeat < before)

    def ring_slot(self, slot: int) -> str | None:
        return self.ring.get(slot)

    def apply(self, change: Change) -> None:
        if change.pipeline_id is not None:
            if change.pipeline is None:
                self.pipelines.pop(change.pipeline_id, None)
            else:
                self.pipelines[change.pipeline_id] = change.pipeline
        self.summary = change.summary
        if change.applied is not None and change.ring_slot is not None:
            if change.forget is not None:
                self.applied_commands.pop(change.forget, None)
            self.applied_commands[change.applied.command_id] = change.applied
            self.ring[change.ring_slot] = change.applied.command_id

    def freeze(self) -> CoordinatorState:
        return CoordinatorState(
            pipelines=self.pipelines,
            summary=self.summary,
            applied_commands=self.applied_commands,
            ring=self.ring,
        )


def fold(
    events: Iterable[Event],
    state: CoordinatorState | None = None,
    applied_capacity: int = DEFAULT_APPLIED_CAPACITY,
) -> CoordinatorState:
    """Replay ``events`` from ``state`` (the empty state by default)."""
    builder = _Builder(state if state is not None else CoordinatorState.empty())
    for event in events:
        builder.apply(change_for(builder, event, applied_capacity))
    return builder.freeze()
