"""The RocksDB state table and the batch overlay hold exactly what the in-memory fold holds."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.domain.commands import (
    RegisterPipeline,
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Accepted, Context, decide
from coordinator.domain.model import PipelineStatus
from coordinator.domain.state import CoordinatorState, change_for, evolve
from coordinator.store import Overlay, StateTable
from coordinator.store.table import APPLIED, HEARTBEAT

T0 = datetime(2026, 1, 1, tzinfo=UTC)
IDS = ["a", "b", "c", "d", "e", "é", "z"]


@pytest.fixture
def table() -> Iterator[StateTable]:
    with tempfile.TemporaryDirectory() as directory:
        opened = StateTable(Path(directory) / "state")
        yield opened
        opened.close()


ids = st.sampled_from(IDS)
# Built through lambdas: hypothesis reads a pydantic model's signature by its aliases.
commands = st.one_of(
    st.builds(
        lambda pid, cid: RegisterPipeline(pipeline_id=pid, name="n", command_id=cid),
        ids,
        st.one_of(st.none(), st.sampled_from(["c1", "c2", "c3", "c4"])),
    ),
    st.builds(lambda pid: UnregisterPipeline(pipeline_id=pid), ids),
    st.builds(
        lambda pid, status: UpdatePipelineStatus(
            pipeline_id=pid, status=status, total_records=10, failed_records=1
        ),
        ids,
        st.sampled_from(list(PipelineStatus)),
    ),
    st.builds(
        lambda pid, cpu, memory, cid: ReportResourceUsage(
            pipeline_id=pid, cpu_percent=cpu, memory_mb=memory, command_id=cid
        ),
        ids,
        st.floats(0, 100),
        st.integers(0, 10_000),
        st.one_of(st.none(), st.sampled_from(["c5", "c6"])),
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.tuples(commands, st.integers(0, 600)), max_size=40),
    batch=st.integers(1, 7),
)
def test_table_and_overlay_agree_with_the_in_memory_fold(
    steps: list[tuple[object, int]], batch: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        table = StateTable(Path(directory) / "state")
        memory = CoordinatorState.empty()
        overlay = Overlay(table)
        offset = 0
        now = T0
        for command, seconds in steps:
            now = now + timedelta(seconds=seconds)
            decision = decide(command, overlay, Context(now=now))  # type: ignore[arg-type]
            assert decision == decide(command, memory, Context(now=now))  # type: ignore[arg-type]
            if isinstance(decision, Accepted):
                for event in decision.events:
                    overlay.add(change_for(overlay, event, 3))
                    memory = evolve(memory, event, 3)
            # The overlay sees its pending changes exactly as the fold does.
            assert list(overlay.pipelines_from(None)) == list(memory.pipelines_from(None))
            assert list(overlay.pipelines_from("c")) == list(memory.pipelines_from("c"))
            assert overlay.summary == memory.summary
            if len(overlay.changes) >= batch:
                offset += len(overlay.changes)
                table.apply(overlay.changes, offset, offset)
                overlay = Overlay(table)
        if overlay.changes:
            table.apply(overlay.changes, offset + len(overlay.changes), 0)

        assert {p.pipeline_id: p for p in table.pipelines_from(None)} == memory.pipelines
        assert table.summary == memory.summary
        for command_id, record in memory.applied_commands.items():
            assert table.applied(command_id) == record
        # Nothing more: forgotten commands, removed pipelines and their old heartbeats are gone
        # (a write batch holds each key in its last state only).
        assert {key[2:].decode() for key, _ in table.raw_items(APPLIED)} == set(
            memory.applied_commands
        )
        assert {slot: table.ring_slot(slot) for slot in memory.ring} == memory.ring
        assert len(list(table.raw_items(HEARTBEAT))) == len(memory.pipelines)
        for cutoff in (T0, now - timedelta(seconds=90), now, now + timedelta(seconds=1)):
            assert table.count_stale(cutoff) == memory.count_stale(cutoff)
        table.close()


def test_meta_survives_reopening(table: StateTable) -> None:
    state = CoordinatorState.empty()
    decision = decide(RegisterPipeline(pipeline_id="p", name="n"), state, Context(now=T0))
    assert isinstance(decision, Accepted)
    change = change_for(table, decision.events[0])
    table.apply([change], events_offset=41, command_offset=7)
    path = table.path
    table.close()

    reopened = StateTable(path)
    assert reopened.events_offset == 41
    assert reopened.meta.command_offset == 7
    assert reopened.summary.seq == 1
    assert reopened.pipeline("p") is not None
    reopened.clear()
    assert reopened.is_empty and reopened.pipeline("p") is None
    assert reopened.count_stale(T0 + timedelta(days=1)) == 0
    reopened.close()
