"""One encoder: ``WireModel.to_json`` (``wire.encode_json``) writes exactly the bytes that
``model_dump_json(by_alias=True).encode()`` wrote before it, for every model the worker writes:
events, replies (accepted and refused), table rows, remembered commands, the table's meta.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

from coordinator.domain.codec import DecodeError, decode_command
from coordinator.domain.commands import ReportResourceUsage
from coordinator.domain.decider import Accepted, AlreadyApplied, Answered, Refused, decide
from coordinator.domain.events import PipelineStatusUpdated, ResourceUsageReported
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import ErrorInfo, Reply, error_reply, ok_reply
from coordinator.domain.state import CoordinatorState, change_for, evolve
from coordinator.domain.wire import WireModel
from coordinator.store.table import TableMeta
from tests.corpus.hostile import Topics, load, script

from .support import T0, context
from .test_wire_round_trip import EVERY_MODEL

COORDINATOR = Path(__file__).resolve().parents[3] / "coordinator"


def reference(model: WireModel) -> bytes:
    """What ``to_json`` was: pydantic's ``model_dump_json``, encoded."""
    if isinstance(model, Reply):
        if model.ok or model.error is None:
            return model.model_dump_json(by_alias=True, exclude={"error"}).encode()
        # The fields of a refusal that do not apply to it are left out (ErrorInfo.absent).
        drop: Any = {"value": True, "error": model.error.absent}
        return model.model_dump_json(by_alias=True, exclude=drop).encode()
    if isinstance(model, ErrorInfo):
        return model.model_dump_json(by_alias=True, exclude=model.absent).encode()
    return model.model_dump_json(by_alias=True).encode()


def written_by_the_corpus() -> Iterator[WireModel]:
    """Every model the domain produces for the hostile corpus, as the worker would write it."""
    topics = Topics.for_prefix("coordinator")
    state = CoordinatorState.empty()
    now = T0
    for entry in script(load(topics), topics):
        now += timedelta(milliseconds=7)
        command = decode_command(entry.value)
        if isinstance(command, DecodeError):
            yield error_reply(command.correlation_id, command.command_id, None, command.error)
            continue
        decision = decide(command, state, context(now))
        ids = (command.effective_correlation_id, command.command_id, command.type)
        if isinstance(decision, Accepted):
            for event in decision.events:
                change = change_for(state, event)
                yield event
                yield change.summary
                yield TableMeta(summary=change.summary, events_offset=event.seq)
                yield from (m for m in (change.pipeline, change.applied) if m is not None)
                yield ok_reply(*ids, change.reply)
                state = evolve(state, event)
        elif isinstance(decision, Answered):
            yield ok_reply(*ids, decision.value)
        elif isinstance(decision, Refused):
            yield error_reply(*ids, decision.error)
        elif isinstance(decision, AlreadyApplied):
            yield decision.original
            yield ok_reply(*ids, decision.original.value)
    yield state


CORPUS_MODELS = list(written_by_the_corpus())


@pytest.mark.parametrize("model", EVERY_MODEL, ids=lambda m: type(m).__name__)
def test_every_wire_model_encodes_as_before(model: WireModel) -> None:
    assert model.to_json() == reference(model)


def test_everything_the_corpus_makes_the_worker_write_encodes_as_before() -> None:
    kinds = {type(model).__name__ for model in CORPUS_MODELS}
    assert {"PipelineInfo", "Summary", "TableMeta", "AppliedCommand", "Reply"} <= kinds, kinds
    assert {"PipelineRegistered", "PipelineStatusUpdated", "ResourceUsageReported"} <= kinds
    for model in CORPUS_MODELS:
        assert model.to_json() == reference(model), model


def test_floats_beyond_the_finite_encode_as_before() -> None:
    for value in (math.nan, math.inf, -math.inf, -0.0, 5e-324, 1e308):
        command = ReportResourceUsage(pipeline_id="p", cpu_percent=value, memory_mb=1)
        event = ResourceUsageReported(
            seq=1, command_id=None, pipeline_id="p", timestamp=T0, cpu_percent=value, memory_mb=1
        )
        for model in (command, event):
            assert model.to_json() == reference(model)


texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=60, deadline=None)
@for_all(
    pipeline_id=texts,
    name=texts,
    status=st.sampled_from(PipelineStatus),
    count=st.integers(min_value=0, max_value=2**63 - 1),
    cpu=st.floats(),
    millis=st.integers(min_value=0, max_value=10**10),
)
def test_any_row_event_and_reply_encode_as_before(
    pipeline_id: str, name: str, status: PipelineStatus, count: int, cpu: float, millis: int
) -> None:
    moment = T0 + timedelta(milliseconds=millis)
    info = PipelineInfo(
        pipeline_id=pipeline_id,
        name=name,
        status=status,
        total_records=count,
        failed_records=count,
        cpu_percent=cpu,
        memory_mb=count,
        registered_at=T0,
        last_heartbeat=moment,
    )
    event = PipelineStatusUpdated(
        seq=count,
        command_id=name or None,
        pipeline_id=pipeline_id,
        timestamp=moment,
        status=status,
        total_records=count,
        failed_records=0,
    )
    for model in (info, event, ok_reply(name, None, "GetPipelineInfo", info)):
        assert model.to_json() == reference(model)


def test_there_is_one_encoder() -> None:
    """No module serialises models another way (``to_json`` is the one encoder)."""
    others = [
        str(path.relative_to(COORDINATOR))
        for path in sorted(COORDINATOR.rglob("*.py"))
        if ".model_dump_json(" in path.read_text(encoding="utf-8")
    ]
    assert others == []
