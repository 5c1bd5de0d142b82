"""The decider and ``evolve`` against a reference model written from docs/protocol.md alone.

The model is plain dicts and sums: registered pipelines with their status, records, CPU and
memory; totals recomputed by summing every step; the health rule; the resource-check rule; the
validation rules; and the last ``capacity`` applied ``commandId``s. Hypothesis drives both with
the same random commands (odd ids, blank names, NaN, negative and 2**63 values, duplicate and
invalid ``commandId``s, forbidden reply topics) and checks after every step that the decisions,
refusal codes, replies and states agree.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import event as note_kind
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from coordinator.domain.commands import (
    CheckResourceAvailability,
    Command,
    GetPipelineInfo,
    GetSystemStatus,
    ListPipelines,
    RegisterPipeline,
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Accepted, AlreadyApplied, Answered, Decision, Refused, decide
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import ErrorCode, PipelinePage, StateSummary, SystemStatus
from coordinator.domain.state import CoordinatorState, apply_change, change_for, evolve
from tests.unit.domain.support import T0, context

from .budget import fuzz

LONG_MAX = 2**63 - 1
CPU_LIMIT = 80.0
MEMORY_LIMIT = 80_000
REPLY_PREFIX = "coordinator.replies"
KAFKA_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")

# Mostly values that follow the rules, so that pipelines get registered and meet the later
# commands; now and then one that breaks a rule.
valid_ids = st.sampled_from(["a", "b", "c", "é", "e\u0301", "\u200b"])
ids = st.one_of(valid_ids, valid_ids, valid_ids, st.sampled_from([" ", "", "x\x00", "z" * 257]))
names = st.one_of(
    st.sampled_from(["Pipeline", "Événements"]), st.sampled_from([" ", "", "\t", "\x07"])
)
valid_command_ids = st.sampled_from(["k1", "k2", "k3", "k4", "k5", "k6"])
command_ids = st.one_of(
    st.none(), valid_command_ids, valid_command_ids, st.sampled_from(["", " ", "k" * 129])
)
reply_topics = st.one_of(
    st.none(),
    st.none(),
    st.none(),
    st.sampled_from(
        [f"{REPLY_PREFIX}.ui", "coordinator.events", f"{REPLY_PREFIX}/x", f"{REPLY_PREFIX}é"]
    ),
)
statuses = st.one_of(st.sampled_from(list(PipelineStatus)), st.just(PipelineStatus.FAILED))
hostile_counts = st.sampled_from([-1, LONG_MAX, LONG_MAX + 1])
counts = st.one_of(st.integers(0, 100), st.integers(0, 100), hostile_counts)
failed_counts = st.one_of(st.integers(0, 20), st.integers(0, 20), hostile_counts)
cpus = st.one_of(
    st.floats(0.0, 100.0),
    st.sampled_from([0.1, 0.2, 0.3, 33.3, 5e-324, 100.0]),
    st.sampled_from([math.nan, math.inf, -0.5, 100.5]),
)
memories = st.one_of(st.integers(0, 50_000), st.integers(0, 50_000), hostile_counts)


# -- the reference model -----------------------------------------------------------------------


def text_ok(value: str, longest: int) -> bool:
    """Non-empty after trimming, at most ``longest`` characters, no control characters."""
    return (
        bool(value.strip())
        and len(value) <= longest
        and not any(unicodedata.category(char) == "Cc" for char in value)
    )


def count_ok(value: int) -> bool:
    return 0 <= value <= LONG_MAX


def cpu_ok(value: float) -> bool:
    return math.isfinite(value) and 0.0 <= value <= 100.0


@dataclass
class Pipeline:
    name: str
    status: str = "configured"
    total: int = 0
    failed: int = 0
    cpu: float = 0.0
    memory: int = 0
    registered_at: datetime | None = None
    heartbeat: datetime | None = None


@dataclass(frozen=True)
class Expected:
    """What the model says a command does: one of the decision kinds, and its details."""

    kind: str
    code: ErrorCode | None = None
    value: Any = None


class Reference:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.pipelines: dict[str, Pipeline] = {}
        self.applied: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self.seq = 0
        self.clock: datetime | None = None

    # totals are never kept: they are summed from the pipelines each time
    def cpu_total(self) -> float:
        return math.fsum(p.cpu for p in self.pipelines.values())

    def memory_total(self) -> int:
        return sum(p.memory for p in self.pipelines.values())

    def counts(self) -> dict[str, int]:
        found = dict.fromkeys((status.value for status in PipelineStatus), 0)
        for pipeline in self.pipelines.values():
            found[pipeline.status] += 1
        return found

    def health(self) -> str:
        total = len(self.pipelines)
        failed = self.counts()["failed"]
        if total == 0:
            return "idle"
        if failed * 2 >= total:
            return "critical"
        return "degraded" if failed else "healthy"

    def summary(self, pipeline_id: str) -> tuple[Any, ...]:
        """The fields of a registration's or unregistration's reply, from the model."""
        return (self.seq, pipeline_id, len(self.pipelines), self.cpu_total(), self.memory_total())

    def _invalid(self) -> Expected:
        return Expected("refused", ErrorCode.INVALID_ARGUMENT)

    def _not_found(self) -> Expected:
        return Expected("refused", ErrorCode.PIPELINE_NOT_FOUND)

    def _tick(self, now: datetime) -> datetime:
        self.clock = now if self.clock is None or now > self.clock else self.clock
        return self.clock

    def _remember(self, command: Command, value: Any) -> None:
        if command.command_id is not None:
            self.applied[command.command_id] = (command.type, value)
            while len(self.applied) > self.capacity:
                self.applied.popitem(last=False)

    def handle(self, command: Command, now: datetime) -> Expected:
        if command.reply_to is not None and not (
            command.reply_to.startswith(REPLY_PREFIX) and KAFKA_TOPIC.fullmatch(command.reply_to)
        ):
            return Expected("refused", ErrorCode.FORBIDDEN_REPLY_TOPIC)
        if command.command_id is not None and not text_ok(command.command_id, 128):
            return self._invalid()
        if command.command_id is not None and command.command_id in self.applied:
            return Expected("duplicate", value=self.applied[command.command_id])
        pipeline_id = getattr(command, "pipeline_id", None)
        if pipeline_id is not None and not text_ok(pipeline_id, 256):
            return self._invalid()
        known = self.pipelines.get(pipeline_id) if pipeline_id is not None else None

        match command:
            case RegisterPipeline():
                if not text_ok(command.name, 256):
                    return self._invalid()
                if known is not None:
                    return Expected("refused", ErrorCode.PIPELINE_ALREADY_REGISTERED)
                at = self._tick(now)
                self.pipelines[command.pipeline_id] = Pipeline(
                    command.name, registered_at=at, heartbeat=at
                )
                self.seq += 1
                self._remember(command, self.summary(command.pipeline_id))
                return Expected("accepted", value=self.summary(command.pipeline_id))
            case UnregisterPipeline():
                if known is None:
                    return self._not_found()
                self._tick(now)
                del self.pipelines[command.pipeline_id]
                self.seq += 1
                self._remember(command, self.summary(command.pipeline_id))
                return Expected("accepted", value=self.summary(command.pipeline_id))
            case UpdatePipelineStatus():
                total, failed = command.total_records, command.failed_records
                if not (count_ok(total) and count_ok(failed)) or failed > total:
                    return self._invalid()
                if known is None:
                    return self._not_found()
                known.status, known.total, known.failed = command.status.value, total, failed
                known.heartbeat = self._tick(now)
                self.seq += 1
                self._remember(command, None)
                return Expected("accepted")
            case ReportResourceUsage():
                if not (cpu_ok(command.cpu_percent) and count_ok(command.memory_mb)):
                    return self._invalid()
                if known is None:
                    return self._not_found()
                known.cpu, known.memory = command.cpu_percent, command.memory_mb
                known.heartbeat = self._tick(now)
                self.seq += 1
                self._remember(command, None)
                return Expected("accepted")
            case CheckResourceAvailability():
                cpu, memory = command.estimated_cpu_percent, command.estimated_memory_mb
                if not (cpu_ok(cpu) and count_ok(memory)):
                    return self._invalid()
                fits = (
                    self.cpu_total() + cpu <= CPU_LIMIT
                    and self.memory_total() + memory <= MEMORY_LIMIT
                )
                return Expected("answered", value=fits)
            case GetSystemStatus():
                return Expected("answered", value=self.health())
            case GetPipelineInfo():
                return Expected("answered", value=known)
            case ListPipelines():
                if command.limit is not None and command.limit < 1:
                    return self._invalid()
                matching = sorted(
                    pipeline_id
                    for pipeline_id, pipeline in self.pipelines.items()
                    if command.status is None or pipeline.status == command.status.value
                )
                wanted = min(command.limit or 100, 1000)
                page = matching[:wanted]
                following = page[-1] if len(matching) > wanted else None
                return Expected("answered", value=(page, following))
        raise AssertionError(f"unhandled {command!r}")


# -- comparing ---------------------------------------------------------------------------------


def same_pipeline(info: PipelineInfo, model: Pipeline) -> bool:
    return (
        info.name == model.name
        and info.status.value == model.status
        and (info.total_records, info.failed_records) == (model.total, model.failed)
        and (info.cpu_percent, info.memory_mb) == (model.cpu, model.memory)
        and (info.registered_at, info.last_heartbeat) == (model.registered_at, model.heartbeat)
    )


def summary_fields(reply: object) -> tuple[Any, ...]:
    assert isinstance(reply, StateSummary), reply
    return (
        reply.seq,
        reply.pipeline_id,
        reply.total_pipelines,
        reply.total_cpu_percent,
        reply.total_memory_mb,
    )


def check_decision(command: Command, decision: Decision, expected: Expected) -> None:
    match decision:
        case Refused(error=error):
            assert expected.kind == "refused", (expected, decision)
            assert error.code is expected.code, (expected, decision)
        case AlreadyApplied(original=original):
            assert expected.kind == "duplicate", (expected, decision)
            command_type, value = expected.value
            assert original.command_type == command_type
            if value is None:
                assert original.value is None
            else:
                assert summary_fields(original.value) == value
        case Accepted(events=events):
            assert expected.kind == "accepted", (expected, decision)
            assert len(events) == 1
        case Answered(value=value):
            assert expected.kind == "answered", (expected, decision)
            match command:
                case CheckResourceAvailability():
                    assert value is expected.value
                case GetSystemStatus():
                    assert isinstance(value, SystemStatus)
                    assert value.health.status.value == expected.value
                case GetPipelineInfo():
                    if expected.value is None:
                        assert value is None
                    else:
                        assert isinstance(value, PipelineInfo)
                        assert same_pipeline(value, expected.value)
                case ListPipelines():
                    assert isinstance(value, PipelinePage)
                    page, following = expected.value
                    assert [info.pipeline_id for info in value.items] == page
                    assert value.next == following
                case _:
                    raise AssertionError(f"{command!r} answered {value!r}")


class DeciderAgainstReference(RuleBasedStateMachine):
    capacity = 10_000

    def __init__(self) -> None:
        super().__init__()
        self.state = CoordinatorState.empty()
        self.model = Reference(self.capacity)
        self.now = T0

    def run(self, command: Command) -> None:
        before = self.state
        decision = decide(command, self.state, context(self.now))
        expected = self.model.handle(command, self.now)
        note_kind(f"{command.type}: {expected.kind} {expected.code or ''}".strip())
        check_decision(command, decision, expected)
        if isinstance(decision, Accepted):
            (event,) = decision.events
            change = change_for(self.state, event, self.capacity)
            self.state = apply_change(self.state, change)
            assert self.state == evolve(before, event, self.capacity)
            if expected.value is None:
                assert change.reply is None
            else:
                assert summary_fields(change.reply) == expected.value

    @initialize(registered=st.lists(valid_ids, unique=True, max_size=4))
    def some_pipelines(self, registered: list[str]) -> None:
        for pipeline_id in registered:
            self.run(RegisterPipeline(pipeline_id=pipeline_id, name="Pipeline"))

    def registered_id(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.model.pipelines)), label="registered")

    @precondition(lambda self: self.model.pipelines)
    @rule(
        data=st.data(),
        status=statuses,
        total=st.integers(0, 100),
        failed=failed_counts,
        command_id=command_ids,
    )
    def update_a_registered_one(
        self,
        data: st.DataObject,
        status: PipelineStatus,
        total: int,
        failed: int,
        command_id: str | None,
    ) -> None:
        self.update_status(self.registered_id(data), status, total, failed, command_id)

    @precondition(lambda self: self.model.pipelines)
    @rule(data=st.data(), cpu=cpus, memory=memories, command_id=command_ids)
    def report_for_a_registered_one(
        self, data: st.DataObject, cpu: float, memory: int, command_id: str | None
    ) -> None:
        self.report_resources(self.registered_id(data), cpu, memory, command_id)

    @rule(milliseconds=st.integers(min_value=-5_000, max_value=600_000))
    def clock_moves(self, milliseconds: int) -> None:
        """The worker's clock moves on, and now and then back."""
        self.now += timedelta(milliseconds=milliseconds)

    @rule(pipeline_id=ids, name=names, command_id=command_ids, reply_to=reply_topics)
    def register(
        self, pipeline_id: str, name: str, command_id: str | None, reply_to: str | None
    ) -> None:
        self.run(
            RegisterPipeline(
                pipeline_id=pipeline_id, name=name, command_id=command_id, reply_to=reply_to
            )
        )

    @rule(pipeline_id=ids, command_id=command_ids)
    def unregister(self, pipeline_id: str, command_id: str | None) -> None:
        self.run(UnregisterPipeline(pipeline_id=pipeline_id, command_id=command_id))

    @rule(
        pipeline_id=ids,
        status=statuses,
        total=counts,
        failed=failed_counts,
        command_id=command_ids,
    )
    def update_status(
        self,
        pipeline_id: str,
        status: PipelineStatus,
        total: int,
        failed: int,
        command_id: str | None,
    ) -> None:
        self.run(
            UpdatePipelineStatus(
                pipeline_id=pipeline_id,
                status=status,
                total_records=total,
                failed_records=failed,
                command_id=command_id,
            )
        )

    @rule(pipeline_id=ids, cpu=cpus, memory=memories, command_id=command_ids)
    def report_resources(
        self, pipeline_id: str, cpu: float, memory: int, command_id: str | None
    ) -> None:
        self.run(
            ReportResourceUsage(
                pipeline_id=pipeline_id, cpu_percent=cpu, memory_mb=memory, command_id=command_id
            )
        )

    @rule(cpu=cpus, memory=memories, reply_to=reply_topics)
    def check_resources(self, cpu: float, memory: int, reply_to: str | None) -> None:
        self.run(
            CheckResourceAvailability(
                estimated_cpu_percent=cpu, estimated_memory_mb=memory, reply_to=reply_to
            )
        )

    @rule(command_id=command_ids)
    def system_status(self, command_id: str | None) -> None:
        self.run(GetSystemStatus(command_id=command_id))

    @rule(pipeline_id=ids)
    def pipeline_info(self, pipeline_id: str) -> None:
        self.run(GetPipelineInfo(pipeline_id=pipeline_id))

    @rule(
        status=st.one_of(st.none(), statuses),
        limit=st.one_of(st.none(), st.integers(min_value=-1, max_value=3)),
    )
    def list_pipelines(self, status: PipelineStatus | None, limit: int | None) -> None:
        self.run(ListPipelines(status=status, limit=limit))

    @invariant()
    def states_agree(self) -> None:
        model = self.model
        assert self.state.pipelines.keys() == model.pipelines.keys()
        for pipeline_id, info in self.state.pipelines.items():
            assert same_pipeline(info, model.pipelines[pipeline_id]), pipeline_id
        summary = self.state.summary
        assert summary.seq == model.seq
        assert summary.total_cpu_percent == model.cpu_total()
        assert summary.memory_mb_total == model.memory_total()
        assert {s.value: n for s, n in summary.count_by_status.items()} == model.counts()
        assert self.state.get_system_health().status.value == model.health()
        failed, total = model.counts()["failed"], len(model.pipelines)
        note_kind(f"health {model.health()}{' (half failed)' if 0 < total == 2 * failed else ''}")
        assert summary.last_updated == model.clock


class SmallMemoryAgainstReference(DeciderAgainstReference):
    """Only the last two applied ``commandId``s are remembered: older ones apply again."""

    capacity = 2


TestDeciderAgainstReference = DeciderAgainstReference.TestCase
TestDeciderAgainstReference.settings = fuzz(50, stateful_step_count=40)
TestSmallMemoryAgainstReference = SmallMemoryAgainstReference.TestCase
TestSmallMemoryAgainstReference.settings = fuzz(50, stateful_step_count=40)
