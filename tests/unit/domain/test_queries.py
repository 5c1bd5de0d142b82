"""Paging through ``ListPipelines`` and sizing ``GetSystemStatus`` against the reply budget."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import example, settings
from hypothesis import given as for_all
from hypothesis import strategies as st

from coordinator.domain.commands import (
    GetSystemStatus,
    ListPipelines,
    ReportResourceUsage,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Answered
from coordinator.domain.events import PipelineRegistered, PipelineStatusUpdated
from coordinator.domain.model import PipelineStatus
from coordinator.domain.queries import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    list_page,
    system_status,
)
from coordinator.domain.replies import PipelinePage, SystemStatus
from coordinator.domain.state import CoordinatorState, fold

from .support import T0, context, given, many_registered, register, when

ALL_IDS = [f"pipeline-{n:04d}" for n in range(250)]


def with_every_third_running(state: CoordinatorState) -> CoordinatorState:
    updates = (
        PipelineStatusUpdated(
            seq=state.summary.seq + n + 1,
            command_id=None,
            pipeline_id=pipeline_id,
            status=PipelineStatus.RUNNING,
            total_records=1,
            failed_records=0,
            timestamp=T0,
        )
        for n, pipeline_id in enumerate(ALL_IDS[::3])
    )
    return fold(updates, state)


def pages(
    state: CoordinatorState,
    status: PipelineStatus | None = None,
    limit: int | None = None,
    max_reply_bytes: int = 900_000,
) -> list[PipelinePage]:
    """Follow ``next`` cursors from the first page to the last, as a client would."""
    found: list[PipelinePage] = []
    after: str | None = None
    while True:
        command = ListPipelines(status=status, limit=limit, after=after)
        decision = when(command, state, context(max_reply_bytes=max_reply_bytes)).decision
        assert isinstance(decision, Answered)
        assert isinstance(decision.value, PipelinePage)
        found.append(decision.value)
        after = decision.value.next
        if after is None:
            return found
        assert len(found) <= len(ALL_IDS), "paging does not terminate"


def ids_of(found: list[PipelinePage]) -> list[str]:
    return [info.pipeline_id for page in found for info in page.items]


@pytest.mark.parametrize("limit", [1, 7, 100, 249, 250, 251, 1000])
def test_paging_visits_every_pipeline_exactly_once_in_id_order(limit: int) -> None:
    state = many_registered(reversed(ALL_IDS))

    found = pages(state, limit=limit)

    assert ids_of(found) == ALL_IDS
    assert all(len(page.items) == limit for page in found[:-1])
    assert 1 <= len(found[-1].items) <= limit
    assert found[-1].next is None


def test_paging_with_a_status_filter_visits_exactly_the_matching_pipelines() -> None:
    state = with_every_third_running(many_registered(ALL_IDS))

    running = pages(state, status=PipelineStatus.RUNNING, limit=10)
    configured = pages(state, status=PipelineStatus.CONFIGURED, limit=10)

    assert ids_of(running) == ALL_IDS[::3]
    assert sorted(ids_of(running) + ids_of(configured)) == ALL_IDS
    assert all(i.status is PipelineStatus.RUNNING for page in running for i in page.items)


def test_the_cursor_of_each_page_is_its_last_id() -> None:
    state = many_registered(ALL_IDS)

    found = pages(state, limit=100)

    assert [page.next for page in found] == ["pipeline-0099", "pipeline-0199", None]


def test_a_page_that_ends_exactly_at_the_last_pipeline_has_no_next() -> None:
    state = many_registered(ALL_IDS[:20])

    found = pages(state, limit=20)

    assert len(found) == 1
    assert found[0].next is None


def test_a_cursor_need_not_be_a_registered_id() -> None:
    state = many_registered(ALL_IDS)

    page = list_page(state, limit=3, after="pipeline-0100x")

    assert [i.pipeline_id for i in page.items] == [
        "pipeline-0101",
        "pipeline-0102",
        "pipeline-0103",
    ]


def test_a_cursor_past_the_end_gives_an_empty_last_page() -> None:
    assert list_page(many_registered(ALL_IDS), after="z") == PipelinePage(items=[], next=None)


def test_the_default_page_size_and_the_cap() -> None:
    state = many_registered(f"p{n:05d}" for n in range(MAX_PAGE_SIZE + 5))

    default = list_page(state)
    capped = list_page(state, limit=10 * MAX_PAGE_SIZE)

    assert len(default.items) == DEFAULT_PAGE_SIZE
    assert len(capped.items) == MAX_PAGE_SIZE
    assert capped.next == f"p{MAX_PAGE_SIZE - 1:05d}"


@pytest.mark.parametrize("budget", [2_000, 4_096, 20_000])
def test_pages_stay_within_the_reply_budget_and_still_visit_everything(budget: int) -> None:
    state = many_registered(ALL_IDS)

    found = pages(state, limit=1000, max_reply_bytes=budget)

    assert ids_of(found) == ALL_IDS
    assert all(len(page.to_json()) <= budget for page in found)
    assert len(found) > 1


def test_a_page_always_makes_progress_even_when_one_item_exceeds_the_budget() -> None:
    state = many_registered(ALL_IDS[:3])

    found = pages(state, max_reply_bytes=10)

    assert [len(page.items) for page in found] == [1, 1, 1]


# GetSystemStatus and the reply budget


def status_of(state: CoordinatorState, max_reply_bytes: int) -> SystemStatus:
    decision = when(GetSystemStatus(), state, context(max_reply_bytes=max_reply_bytes)).decision
    assert isinstance(decision, Answered)
    assert isinstance(decision.value, SystemStatus)
    return decision.value


def test_system_status_includes_every_pipeline_when_they_fit() -> None:
    state = many_registered(ALL_IDS[:10])

    status = status_of(state, max_reply_bytes=900_000)

    assert status.pipelines == state.pipelines
    assert status.pipelines_omitted is False


def test_system_status_omits_the_pipelines_when_they_would_exceed_the_budget() -> None:
    state = many_registered(ALL_IDS)
    budget = 8_000

    status = status_of(state, max_reply_bytes=budget)
    wire = status.to_json()

    assert status.pipelines is None
    assert status.pipelines_omitted is True
    assert status.health.total_pipelines == 250
    assert len(wire) <= budget
    document = json.loads(wire)
    assert document["pipelinesOmitted"] is True
    assert document["pipelines"] is None


def test_system_status_just_within_the_budget_keeps_the_pipelines_and_the_bound() -> None:
    state = many_registered(ALL_IDS[:40])
    included = [b for b in range(2_000, 40_000, 250) if status_of(state, b).pipelines is not None]

    smallest = min(included)

    assert len(status_of(state, smallest).to_json()) <= smallest
    assert status_of(state, smallest - 250).pipelines_omitted is True


def tightest_budget_keeping_the_pipelines(state: CoordinatorState) -> int:
    low, high = 1, 10_000_000
    while low < high:
        middle = (low + high) // 2
        if system_status(state, max_bytes=middle).pipelines is None:
            low = middle + 1
        else:
            high = middle
    return low


awkward_ids = st.text(
    alphabet=st.one_of(
        st.sampled_from(["a", "-", '"', "\\", "é", "€", "😀", "\u2028"]),
        st.characters(exclude_categories=["Cc", "Cs"]),
    ),
    min_size=1,
    max_size=256,
).filter(str.strip)


@settings(max_examples=30, deadline=None)
@for_all(ids=st.lists(awkward_ids, min_size=1, max_size=30, unique=True))
@example(ids=[f"{n:02d}" + "😀" * 250 for n in range(30)])
@example(ids=[f"{n:02d}" + '"' * 250 for n in range(30)])
def test_system_status_never_exceeds_the_budget_whatever_the_ids(ids: list[str]) -> None:
    # Ids may hold quotes, backslashes and multi-byte characters: the budget is in bytes. The
    # tightest budget that still lets the pipelines in is where an undercount would show.
    state = fold(
        PipelineRegistered(seq=n, command_id=None, pipeline_id=i, name="x", timestamp=T0)
        for n, i in enumerate(ids, start=1)
    )
    budget = tightest_budget_keeping_the_pipelines(state)

    status = status_of(state, budget)

    assert status.pipelines is not None
    assert len(status.to_json()) <= budget


def test_stale_pipelines_are_counted_in_journal_time() -> None:
    later = T0 + timedelta(minutes=10)
    state = given(register("quiet"), register("busy"), register("new"))
    state = given(
        ReportResourceUsage(pipeline_id="busy", cpu_percent=1.0, memory_mb=1),
        UpdatePipelineStatus(
            pipeline_id="new", status=PipelineStatus.RUNNING, total_records=0, failed_records=0
        ),
        state=state,
        now=later,
    )

    status = system_status(state, stale_after=timedelta(minutes=5))

    assert status.stale_pipelines == 1
    assert status.stale_after_seconds == 300.0
    assert system_status(state).stale_pipelines == 0
    # The boundary is strict: exactly at the threshold is not yet stale.
    assert system_status(state, stale_after=timedelta(minutes=10)).stale_pipelines == 0
    assert system_status(state, stale_after=timedelta(minutes=9)).stale_pipelines == 1
