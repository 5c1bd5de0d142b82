"""Reservations, journal time and preemption requests.

A reservation is an admission made ahead of its registration: it holds its amounts and one
pipeline slot until a registration consumes it, it is released, or a ``Tick`` at or after its
expiry expires it. Of two reservations racing for the last capacity exactly one wins. A
preemption request kills nothing: it is shown on the pipeline.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

from coordinator.domain.commands import (
    CheckResourceAvailability,
    Command,
    CreateGroup,
    DeleteGroup,
    ListReservations,
    MovePipeline,
    RegisterPipeline,
    ReleaseReservation,
    ReportResourceUsage,
    RequestPreemption,
    ReserveResources,
    SetGroupQuota,
    SetGroupState,
    SetResourceLimits,
    Tick,
    UnregisterPipeline,
)
from coordinator.domain.decide_reservations import MAX_RESERVATIONS
from coordinator.domain.decider import Accepted, Answered, Refused, decide
from coordinator.domain.events import (
    PreemptionRequested,
    ReservationExpired,
    ReservationReleased,
    ResourcesReserved,
)
from coordinator.domain.groups import charge_of, held_by_reservations
from coordinator.domain.groups import group_info as info_of
from coordinator.domain.model import CPU_SCALE_BITS, GroupState, Reservation, ResourceLimits
from coordinator.domain.replies import ErrorCode, GroupInfo, ReservationList
from coordinator.domain.state import CoordinatorState, evolve, fold

from .support import T0, assert_refused, context, given, when

SCALE = 1 << CPU_SCALE_BITS


def at(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def payments(max_cpu: float = 40.0, max_pipelines: int = 2) -> CoordinatorState:
    return given(
        CreateGroup(group_id="payments"),
        SetGroupQuota(group_id="payments", max_cpu_percent=max_cpu, max_pipelines=max_pipelines),
    )


def reserve(cpu: float = 25.0, memory: int = 2048, ttl: float = 300.0, **extra: object) -> Command:
    return ReserveResources.model_validate(
        {"group": "payments", "cpu_percent": cpu, "memory_mb": memory, "ttl_seconds": ttl, **extra}
    )


def group_info(state: CoordinatorState, group_id: str = "payments") -> GroupInfo:
    return info_of(state.summary.groups[group_id], state.summary)


# -- reservations ---------------------------------------------------------------------------------


def test_a_reservation_holds_its_amounts_and_a_slot_until_its_expiry() -> None:
    outcome = when(reserve(command_id="r-1"), payments())

    (event,) = outcome.events
    assert isinstance(event, ResourcesReserved)
    assert event.reservation_id == f"res-{event.seq}"
    assert event.expires_at == T0 + at(300)
    held = group_info(outcome.after).reserved
    assert (held.cpu_percent, held.memory_mb, held.pipelines) == (25.0, 2048, 1)
    assert group_info(outcome.after).usage.pipelines == 0
    assert outcome.after.summary.reservations[event.reservation_id] == Reservation(
        reservation_id=event.reservation_id,
        group_id="payments",
        cpu_percent=25.0,
        memory_mb=2048,
        created_at=T0,
        expires_at=T0 + at(300),
    )


def test_of_two_reservations_for_the_last_capacity_the_first_wins() -> None:
    first = when(reserve(), payments())
    second = when(reserve(), first.after)

    assert isinstance(first.decision, Accepted)
    refusal = assert_refused(second, ErrorCode.QUOTA_EXCEEDED, dead_letter=False)
    assert (refusal.error.dimension, refusal.error.used, refusal.error.limit) == (
        "cpuPercent",
        25.0,
        40.0,
    )
    assert "(25.0 of it reserved)" in refusal.error.message


def test_a_registration_consumes_its_reservation_without_a_second_check() -> None:
    reserved = given(reserve(cpu=30.0), state=payments(max_pipelines=1))
    (reservation_id,) = reserved.summary.reservations

    outcome = when(
        RegisterPipeline(pipeline_id="orders", name="Orders", reservation_id=reservation_id),
        reserved,
        context(T0 + at(1)),
    )

    info = outcome.after.pipelines["orders"]
    assert (info.group, info.requested_cpu_percent, info.requested_memory_mb) == (
        "payments",
        30.0,
        2048,
    )
    assert outcome.after.summary.reservations == {}
    group = group_info(outcome.after)
    assert (group.usage.cpu_percent, group.usage.pipelines, group.reserved.pipelines) == (30, 1, 0)
    # The slot is taken now: nothing else fits in a group of one.
    assert_refused(
        when(RegisterPipeline(pipeline_id="x", name="X", group="payments"), outcome.after),
        ErrorCode.QUOTA_EXCEEDED,
        dead_letter=False,
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"group": "default"}, "is for group 'payments', not 'default'"),
        ({"requested_cpu_percent": 10.0}, "requestedCpuPercent 10.0 is not the 25.0"),
        ({"requested_memory_mb": 1}, "requestedMemoryMB 1 is not the 2048"),
    ],
)
def test_a_registration_that_contradicts_its_reservation_is_invalid(
    extra: dict[str, object], message: str
) -> None:
    reserved = given(reserve(), state=payments())
    (reservation_id,) = reserved.summary.reservations
    command = RegisterPipeline.model_validate(
        {"pipeline_id": "o", "name": "O", "reservation_id": reservation_id, **extra}
    )

    refusal = assert_refused(when(command, reserved), ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert message in refusal.error.message


def test_the_same_amounts_given_again_are_fine() -> None:
    reserved = given(reserve(), state=payments())
    (reservation_id,) = reserved.summary.reservations
    command = RegisterPipeline(
        pipeline_id="o",
        name="O",
        group="payments",
        requested_cpu_percent=25.0,
        requested_memory_mb=2048,
        reservation_id=reservation_id,
    )

    assert isinstance(when(command, reserved).decision, Accepted)


def test_a_released_reservation_frees_its_capacity_and_is_gone() -> None:
    reserved = given(reserve(), state=payments())
    (reservation_id,) = reserved.summary.reservations

    outcome = when(ReleaseReservation(reservation_id=reservation_id), reserved)

    (event,) = outcome.events
    assert isinstance(event, ReservationReleased) and event.group_id == "payments"
    assert group_info(outcome.after).reserved.pipelines == 0
    assert isinstance(when(reserve(), outcome.after).decision, Accepted)
    assert_refused(
        when(ReleaseReservation(reservation_id=reservation_id), outcome.after),
        ErrorCode.RESERVATION_NOT_FOUND,
        dead_letter=False,
    )


def test_a_tick_expires_only_the_reservations_due_earliest_first() -> None:
    state = given(
        reserve(cpu=5.0, ttl=10),
        reserve(cpu=5.0, ttl=2),
        reserve(cpu=5.0, ttl=60),
        state=payments(max_pipelines=5),
    )
    ids = sorted(state.summary.reservations, key=lambda r: state.summary.reservations[r].expires_at)

    nothing = when(Tick(), state, context(T0 + at(1)))
    some = when(Tick(), state, context(T0 + at(10)))

    assert isinstance(nothing.decision, Accepted) and nothing.events == ()
    assert nothing.after == state
    assert [event.reservation_id for event in some.events] == ids[:2]
    assert all(isinstance(event, ReservationExpired) for event in some.events)
    assert [event.seq for event in some.events] == [state.summary.seq + 1, state.summary.seq + 2]
    assert list(some.after.summary.reservations) == ids[2:]


def test_a_reservation_past_its_expiry_is_not_consumed_even_before_its_tick() -> None:
    reserved = given(reserve(ttl=5), state=payments())
    (reservation_id,) = reserved.summary.reservations
    command = RegisterPipeline(pipeline_id="o", name="O", reservation_id=reservation_id)

    refusal = assert_refused(
        when(command, reserved, context(T0 + at(5))),
        ErrorCode.RESERVATION_EXPIRED,
        dead_letter=False,
    )
    assert "expired at 2026-11-27T03:52:53.480000+00:00" in refusal.error.message
    assert isinstance(when(command, reserved, context(T0 + at(4.999))).decision, Accepted)


def test_a_reservation_is_an_admission_like_a_registration() -> None:
    closed = given(
        CreateGroup(group_id="shut"),
        reserve(group="shut", cpu=1.0, ttl=1),
    )
    closed = given(SetGroupState(group_id="shut", state=GroupState.CLOSED), state=closed)

    assert_refused(when(reserve(group="shut"), closed), ErrorCode.GROUP_CLOSED, dead_letter=False)
    assert_refused(
        when(reserve(group="none"), closed), ErrorCode.GROUP_NOT_FOUND, dead_letter=False
    )
    over_limits = ReserveResources(cpu_percent=90.0, memory_mb=1, ttl_seconds=5)
    refusal = assert_refused(when(over_limits, closed), ErrorCode.QUOTA_EXCEEDED, dead_letter=False)
    assert refusal.error.scope == "global"


def test_too_many_reservations_are_refused() -> None:
    free = ReserveResources(cpu_percent=0.0, memory_mb=0, ttl_seconds=60)
    state = given(*([free] * MAX_RESERVATIONS))

    refusal = assert_refused(when(free, state), ErrorCode.TOO_MANY_RESERVATIONS, dead_letter=False)
    assert f"({MAX_RESERVATIONS})" in refusal.error.message


def test_a_group_with_reservations_is_not_empty() -> None:
    state = given(CreateGroup(group_id="g"), reserve(group="g", cpu=0.0, memory=0))

    refusal = assert_refused(
        when(DeleteGroup(group_id="g"), state), ErrorCode.GROUP_NOT_EMPTY, dead_letter=False
    )
    assert "1 outstanding reservations" in refusal.error.message


def test_availability_counts_what_is_reserved() -> None:
    state = given(reserve(cpu=30.0), state=payments())
    check = CheckResourceAvailability(
        estimated_cpu_percent=20.0, estimated_memory_mb=0, group="payments"
    )

    decision = decide(check, state, context())
    assert isinstance(decision, Answered) and decision.value is False


def test_reservations_are_listed_in_the_order_they_were_made() -> None:
    state = given(
        *[ReserveResources(cpu_percent=0.0, memory_mb=0, ttl_seconds=60)] * 9,
        reserve(cpu=1.0),
        state=payments(max_pipelines=5),
    )

    decision = decide(ListReservations(), state, context())
    only = decide(ListReservations(group="payments"), state, context())

    assert isinstance(decision, Answered) and isinstance(decision.value, ReservationList)
    ids = [r.reservation_id for r in decision.value.reservations]
    assert ids == [f"res-{seq}" for seq in range(3, 13)]  # res-9 before res-10
    assert isinstance(only, Answered) and isinstance(only.value, ReservationList)
    assert [r.reservation_id for r in only.value.reservations] == ["res-12"]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (ReserveResources(cpu_percent=1.0, memory_mb=1, ttl_seconds=0), "ttlSeconds must be more"),
        (ReserveResources(cpu_percent=1.0, memory_mb=1, ttl_seconds=86_401), "at most 86400"),
        (ReserveResources(cpu_percent=1.0, memory_mb=1, ttl_seconds=float("nan")), "ttlSeconds"),
        (ReserveResources(cpu_percent=101.0, memory_mb=1, ttl_seconds=5), "cpuPercent"),
        (ReserveResources(cpu_percent=1.0, memory_mb=-1, ttl_seconds=5), "memoryMB"),
        (ReleaseReservation(reservation_id=""), "reservationId must not be empty"),
    ],
)
def test_invalid_reservation_commands_are_dead_lettered(command: Command, message: str) -> None:
    refusal = assert_refused(
        when(command, payments()), ErrorCode.INVALID_ARGUMENT, dead_letter=True
    )
    assert message in refusal.error.message


# -- preemption requests -------------------------------------------------------------------------


def test_a_preemption_request_is_shown_on_each_pipeline_and_kills_nothing() -> None:
    state = given(
        RegisterPipeline(pipeline_id="a", name="A"), RegisterPipeline(pipeline_id="b", name="B")
    )
    command = RequestPreemption(
        pipeline_ids=["b", "a"], for_pipeline_id="vip", reason="room for vip", command_id="p-1"
    )

    outcome = when(command, state, context(T0 + at(3)))

    assert [event.pipeline_id for event in outcome.events] == ["b", "a"]
    assert all(isinstance(event, PreemptionRequested) for event in outcome.events)
    for pipeline_id in ("a", "b"):
        info = outcome.after.pipelines[pipeline_id]
        request = info.preemption_requested
        assert request is not None
        assert (request.requested_at, request.for_pipeline_id, request.reason) == (
            T0 + at(3),
            "vip",
            "room for vip",
        )
        before = state.pipelines[pipeline_id]
        assert info.model_copy(update={"preemption_requested": None}) == before
    assert outcome.after.summary.total_pipelines == 2
    # A retry is applied once.
    again = decide(command, outcome.after, context(T0 + at(4)))
    assert type(again).__name__ == "AlreadyApplied"


def test_a_later_request_replaces_the_earlier() -> None:
    state = given(
        RegisterPipeline(pipeline_id="a", name="A"),
        RequestPreemption(pipeline_ids=["a"], reason="first"),
    )

    after = when(RequestPreemption(pipeline_ids=["a"], reason="second"), state).after

    request = after.pipelines["a"].preemption_requested
    assert request is not None and (request.reason, request.for_pipeline_id) == ("second", None)


@pytest.mark.parametrize(
    ("pipeline_ids", "code"),
    [
        (["a", "nobody"], ErrorCode.PIPELINE_NOT_FOUND),
        (["a", "keep"], ErrorCode.PIPELINE_NOT_PREEMPTIBLE),
        ([], ErrorCode.INVALID_ARGUMENT),
        (["a", "a"], ErrorCode.INVALID_ARGUMENT),
        ([f"p{n}" for n in range(101)], ErrorCode.INVALID_ARGUMENT),
    ],
)
def test_a_preemption_request_is_for_all_the_pipelines_or_none(
    pipeline_ids: list[str], code: ErrorCode
) -> None:
    state = given(
        RegisterPipeline(pipeline_id="a", name="A"),
        RegisterPipeline(pipeline_id="keep", name="Keep", preemptible=False),
    )

    assert_refused(
        when(RequestPreemption(pipeline_ids=pipeline_ids, reason="room"), state),
        code,
        dead_letter=code is ErrorCode.INVALID_ARGUMENT,
    )


# -- properties ---------------------------------------------------------------------------------

GROUPS = ["default", "a"]
PIPELINES = ["p1", "p2", "p3"]
LATEST = "res-latest"
"""Stands for the newest outstanding reservation (ids are journal positions, unknown ahead)."""
RESERVATION_IDS = [LATEST, LATEST, "res-1", "res-4"]
cpu = st.floats(0, 60, allow_nan=False)
memory = st.integers(0, 1000)
commands = st.one_of(
    st.builds(CreateGroup, groupId=st.just("a")),
    st.builds(
        SetGroupQuota,
        groupId=st.sampled_from(GROUPS),
        max_cpu_percent=st.none() | st.floats(0, 150, allow_nan=False),
        max_memory_mb=st.none() | st.integers(0, 2000),
        max_pipelines=st.none() | st.integers(0, 3),
    ),
    st.builds(
        ReserveResources,
        group=st.none() | st.sampled_from(GROUPS),
        cpuPercent=cpu,
        memoryMB=memory,
        ttlSeconds=st.floats(0.5, 20, allow_nan=False),
    ),
    st.builds(ReleaseReservation, reservationId=st.sampled_from(RESERVATION_IDS)),
    st.builds(Tick),
    st.builds(
        RegisterPipeline,
        pipelineId=st.sampled_from(PIPELINES),
        name=st.just("P"),
        group=st.none() | st.sampled_from(GROUPS),
        requested_cpu_percent=st.none() | cpu,
        reservation_id=st.none() | st.sampled_from(RESERVATION_IDS),
    ),
    st.builds(
        RegisterPipeline,
        pipelineId=st.sampled_from(PIPELINES),
        name=st.just("P"),
        reservation_id=st.just(LATEST),
    ),
    st.builds(MovePipeline, pipelineId=st.sampled_from(PIPELINES), groupId=st.sampled_from(GROUPS)),
    st.builds(UnregisterPipeline, pipelineId=st.sampled_from(PIPELINES)),
    st.builds(
        ReportResourceUsage, pipelineId=st.sampled_from(PIPELINES), cpuPercent=cpu, memoryMB=memory
    ),
    st.builds(SetResourceLimits, max_cpu_percent=st.none() | st.floats(0, 200, allow_nan=False)),
    st.builds(
        RequestPreemption,
        pipelineIds=st.lists(st.sampled_from(PIPELINES), min_size=1, max_size=2, unique=True),
        reason=st.just("room"),
    ),
)


def _aimed(command: Command, state: CoordinatorState) -> Command:
    """``command`` with ``LATEST`` replaced by the newest outstanding reservation's id (and a
    registration that names it asking for nothing else, half of the time)."""
    reservation_id = getattr(command, "reservation_id", None)
    if reservation_id != LATEST or not state.summary.reservations:
        return command
    newest = max(state.summary.reservations.values(), key=lambda r: int(r.reservation_id[4:]))
    update: dict[str, object] = {"reservation_id": newest.reservation_id}
    if isinstance(command, RegisterPipeline) and command.pipeline_id != "p3":
        update |= {"group": None, "requested_cpu_percent": None}
    return command.model_copy(update=update)


def _held_is_what_the_reservations_hold(state: CoordinatorState) -> None:
    for group_id, group in state.summary.groups.items():
        held = held_by_reservations(state.summary, group_id)
        mine = [r for r in state.summary.reservations.values() if r.group_id == group_id]
        assert held.group_pipelines == len(mine)
        assert held.group_memory == sum(r.memory_mb for r in mine)
        members = [info for info in state.pipelines.values() if info.group == group_id]
        assert group.charged_cpu == sum(charge_of(info)[0] for info in members)
        assert group.pipelines == len(members)


@settings(max_examples=300)
@for_all(
    st.lists(st.tuples(commands, st.floats(0, 5, allow_nan=False)), max_size=30),
    st.floats(0, 200, allow_nan=False),
)
def test_no_admission_goes_over_and_replay_under_another_configuration_agrees(
    script: list[tuple[Command, float]], configured_cpu: float
) -> None:
    configured = ResourceLimits(max_cpu_percent=configured_cpu, max_memory_mb=3000)
    state = CoordinatorState.empty()
    journal = []
    now = T0
    for drawn, pause in script:
        now += at(pause)
        command = _aimed(drawn, state)
        decision = decide(command, state, context(now, limits=configured))
        if isinstance(decision, Refused):
            continue
        assert isinstance(decision, Accepted), decision
        before = state
        for event in decision.events:
            state = evolve(state, event)
            journal.append(event)
        _held_is_what_the_reservations_hold(state)
        if isinstance(command, ReserveResources):
            (event,) = decision.events
            assert isinstance(event, ResourcesReserved)
            _check_reservation_fits(before, event, configured)
        if isinstance(command, Tick):
            due = {r for r, v in before.summary.reservations.items() if v.expires_at <= now}
            assert set(before.summary.reservations) - set(state.summary.reservations) == due

    # Replay knows nothing of the configuration (or of clocks): the same state from the events.
    assert fold(journal) == state


def _check_reservation_fits(
    before: CoordinatorState, event: ResourcesReserved, configured: ResourceLimits
) -> None:
    """The reservation fit what was used and held before it: the group's quota for the slot and
    every dimension it asked for, and the limits in force."""
    group = before.summary.groups[event.group_id]
    held = held_by_reservations(before.summary, event.group_id)
    quota = group.quota
    if quota.max_pipelines is not None:
        assert group.pipelines + held.group_pipelines + 1 <= quota.max_pipelines
    if quota.max_cpu_percent is not None and event.cpu_percent:
        used = (group.charged_cpu + held.group_cpu) / SCALE
        assert used + event.cpu_percent <= quota.max_cpu_percent
    limits = before.summary.limits_over(configured)
    if event.cpu_percent:
        total = sum(g.charged_cpu for g in before.summary.groups.values()) + held.total_cpu
        assert total / SCALE + event.cpu_percent <= limits.max_cpu_percent
    if event.memory_mb:
        total_memory = sum(g.charged_memory_mb for g in before.summary.groups.values())
        assert total_memory + held.total_memory + event.memory_mb <= limits.max_memory_mb


@st.composite
def races(draw: st.DrawFn) -> tuple[float, float, float, float]:
    """A CPU quota, what is used of it, and two demands that each fit what is left, but not
    together (whole and quarter percents, so that the sums are exact)."""
    quota = draw(st.integers(8, 400)) / 4
    used = draw(st.integers(0, int(quota * 4) - 2)) / 4
    left = quota - used
    demand = st.integers(int(left * 2) + 1, int(left * 4)).map(lambda quarters: quarters / 4)
    return quota, used, draw(demand), draw(demand)


@settings(max_examples=300)
@for_all(races(), st.booleans())
def test_exactly_one_of_two_racing_reservations_wins(
    race: tuple[float, float, float, float], used_by_a_reservation: bool
) -> None:
    """Each would fit alone; both together would not. Whichever is decided first wins."""
    quota, used, first, second = race
    assert used + first <= quota and used + second <= quota < used + first + second
    setup: list[Command] = [
        SetResourceLimits(max_cpu_percent=1000.0),  # only the group's quota binds
        CreateGroup(group_id="g"),
        SetGroupQuota(group_id="g", max_cpu_percent=quota),
    ]
    if used_by_a_reservation:
        setup.append(ReserveResources(group="g", cpu_percent=used, memory_mb=0, ttl_seconds=60))
    else:
        setup.append(
            RegisterPipeline(pipeline_id="u", name="U", group="g", requested_cpu_percent=used)
        )
    state = given(*setup, now=T0)
    racing = [
        ReserveResources(group="g", cpu_percent=amount, memory_mb=0, ttl_seconds=30)
        for amount in (first, second)
    ]

    outcomes = []
    current = state
    for command in racing:
        decision = decide(command, current, context())
        outcomes.append(decision)
        if isinstance(decision, Accepted):
            for event in decision.events:
                current = evolve(current, event)

    assert isinstance(outcomes[0], Accepted)
    assert isinstance(outcomes[1], Refused) and outcomes[1].error.code is ErrorCode.QUOTA_EXCEEDED
    assert len(current.summary.reservations) == 1 + used_by_a_reservation
