"""Pipeline groups: definitions, quotas, states, moves, and admission by charge.

A pipeline's charge is, per dimension, the greater of its request and its latest report; a
group's usage is the sum of its pipelines' charges. Admissions (registrations, moves) never take
usage over a quota or the limits in force; reports are facts and are never refused.
"""

from __future__ import annotations

import pytest
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

from coordinator.domain.commands import (
    CheckResourceAvailability,
    Command,
    CreateGroup,
    DeleteGroup,
    GetGroup,
    ListGroups,
    ListPipelines,
    MovePipeline,
    RegisterPipeline,
    ReportResourceUsage,
    SetGroupQuota,
    SetGroupState,
    SetResourceLimits,
    UnregisterPipeline,
)
from coordinator.domain.decide_groups import MAX_GROUPS
from coordinator.domain.decider import Accepted, Answered, Refused, decide
from coordinator.domain.events import GroupCreated, GroupQuotaChanged, PipelineMoved
from coordinator.domain.groups import Amounts, Demand, binding_for, charge_of
from coordinator.domain.model import (
    CPU_SCALE_BITS,
    DEFAULT_GROUP,
    GroupQuota,
    GroupState,
    PipelineInfo,
    PipelineStatus,
    ResourceLimits,
    Summary,
)
from coordinator.domain.replies import Availability, ErrorCode, GroupInfo, GroupPage, PipelinePage
from coordinator.domain.state import CoordinatorState, evolve, fold

from .support import assert_refused, context, given, when


def in_group(
    pipeline_id: str,
    group: str,
    cpu: float | None = None,
    memory: int | None = None,
    priority: int | None = None,
    preemptible: bool | None = None,
) -> RegisterPipeline:
    return RegisterPipeline(
        pipeline_id=pipeline_id,
        name=pipeline_id,
        group=group,
        requested_cpu_percent=cpu,
        requested_memory_mb=memory,
        priority=priority,
        preemptible=preemptible,
    )


def group_of(state: CoordinatorState, group_id: str) -> GroupInfo:
    decision = decide(GetGroup(group_id=group_id), state, context())
    assert isinstance(decision, Answered) and isinstance(decision.value, GroupInfo)
    return decision.value


def test_the_default_group_always_exists_and_holds_pipelines_registered_without_one() -> None:
    state = given(RegisterPipeline(pipeline_id="p1", name="One"))

    info = group_of(state, DEFAULT_GROUP)

    assert (info.usage.pipelines, info.state, info.revision) == (1, GroupState.OPEN, 0)
    assert state.pipelines["p1"].group == DEFAULT_GROUP


def test_a_summary_recorded_before_groups_puts_everything_in_the_default_group() -> None:
    old = Summary.model_validate_json(
        '{"seq":3,"countByStatus":{"running":2,"failed":1},"cpuTotal":"0","memoryMBTotal":300,'
        '"lastUpdated":null,"appliedCount":0}'
    )

    default = old.groups[DEFAULT_GROUP]

    assert (default.pipelines, default.charged_memory_mb) == (3, 300)
    assert default.count_by_status[PipelineStatus.RUNNING] == 2


def test_create_gives_an_open_group_without_a_quota_at_revision_one() -> None:
    outcome = when(CreateGroup(group_id="payments", labels={"team": "payments"}), given())

    (event,) = outcome.events
    assert isinstance(event, GroupCreated) and event.key == "payments"
    info = group_of(outcome.after, "payments")
    assert (info.labels, info.revision, info.quota) == ({"team": "payments"}, 1, GroupQuota())


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (CreateGroup(group_id=DEFAULT_GROUP), ErrorCode.GROUP_ALREADY_EXISTS),
        (SetGroupQuota(group_id="nope", max_pipelines=1), ErrorCode.GROUP_NOT_FOUND),
        (SetGroupState(group_id="nope", state=GroupState.CLOSED), ErrorCode.GROUP_NOT_FOUND),
        (DeleteGroup(group_id="nope"), ErrorCode.GROUP_NOT_FOUND),
        (in_group("p9", "nope"), ErrorCode.GROUP_NOT_FOUND),
        (MovePipeline(pipeline_id="p1", group_id="nope"), ErrorCode.GROUP_NOT_FOUND),
        (MovePipeline(pipeline_id="p9", group_id="g"), ErrorCode.PIPELINE_NOT_FOUND),
        (DeleteGroup(group_id="g"), ErrorCode.GROUP_NOT_EMPTY),
        (
            SetGroupQuota(group_id="g", max_pipelines=9, expected_revision=0),
            ErrorCode.REVISION_CONFLICT,
        ),
    ],
    ids=lambda value: getattr(value, "type", value),
)
def test_group_refusals_are_answered_not_dead_lettered(command: Command, code: ErrorCode) -> None:
    state = given(CreateGroup(group_id="g"), in_group("p1", "g"))

    refusal = assert_refused(when(command, state), code, dead_letter=False)

    assert refusal.error.message


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (CreateGroup(group_id=" "), "groupId must not be empty"),
        (CreateGroup(group_id="g", labels={"bad key": "x"}), "label key"),
        (DeleteGroup(group_id=DEFAULT_GROUP), "cannot be deleted"),
        (SetGroupQuota(group_id="g"), "needs maxCpuPercent, maxMemoryMB or maxPipelines"),
        (SetGroupQuota(group_id="g", max_pipelines=-1), "maxPipelines must be between 0"),
        (in_group("p2", "g", cpu=120.0), "requestedCpuPercent must be a finite number"),
        (in_group("p2", "g", priority=2**40), "priority must be between"),
    ],
)
def test_invalid_group_commands_are_dead_lettered(command: Command, message: str) -> None:
    state = given(CreateGroup(group_id="g"))

    refusal = assert_refused(when(command, state), ErrorCode.INVALID_ARGUMENT, dead_letter=True)

    assert message in refusal.error.message


def test_a_quota_left_out_keeps_its_value_and_null_removes_it() -> None:
    state = given(CreateGroup(group_id="g"), SetGroupQuota(group_id="g", max_pipelines=3))

    kept = when(SetGroupQuota(group_id="g", max_cpu_percent=50.0), state)
    removed = when(SetGroupQuota.model_validate({"groupId": "g", "maxPipelines": None}), state)

    (event,) = kept.events
    assert isinstance(event, GroupQuotaChanged)
    assert event.quota == GroupQuota(max_cpu_percent=50.0, max_pipelines=3)
    assert group_of(removed.after, "g").quota == GroupQuota()
    assert group_of(kept.after, "g").revision == 3


def test_a_full_group_refuses_and_names_the_rule_that_binds() -> None:
    state = given(
        CreateGroup(group_id="g"),
        SetGroupQuota(group_id="g", max_cpu_percent=40.0),
        in_group("p1", "g", cpu=30.0),
    )

    refusal = assert_refused(
        when(in_group("p2", "g", cpu=20.0), state), ErrorCode.QUOTA_EXCEEDED, dead_letter=False
    )

    error = refusal.error
    assert (error.scope, error.group_id, error.dimension) == ("group", "g", "cpuPercent")
    assert (error.requested, error.used, error.limit) == (20.0, 30.0, 40.0)
    assert "exceeded quota: group 'g', cpuPercent: requested 20.0, used 30.0" in error.message
    assert (error.preemption_candidates, error.fits_after_preemption) == ([], False)


def test_the_global_limits_bind_what_a_registration_requests() -> None:
    state = given(SetResourceLimits(max_memory_mb=1000), in_group("p1", DEFAULT_GROUP, memory=800))

    refusal = assert_refused(
        when(in_group("p2", DEFAULT_GROUP, memory=300), state),
        ErrorCode.QUOTA_EXCEEDED,
        dead_letter=False,
    )

    assert (refusal.error.scope, refusal.error.dimension) == ("global", "memoryMB")
    assert (refusal.error.used, refusal.error.limit) == (800, 1000)


def test_a_registration_without_requests_is_not_refused_by_reports_over_the_limits() -> None:
    state = given(
        RegisterPipeline(pipeline_id="p1", name="One"),
        ReportResourceUsage(pipeline_id="p1", cpu_percent=95.0, memory_mb=10),
    )

    assert isinstance(
        when(RegisterPipeline(pipeline_id="p2", name="Two"), state).decision, Accepted
    )


def test_reports_are_never_refused_and_show_as_over_committed() -> None:
    state = given(
        CreateGroup(group_id="g"),
        SetGroupQuota(group_id="g", max_cpu_percent=10.0),
        in_group("p1", "g", cpu=5.0),
    )

    outcome = when(ReportResourceUsage(pipeline_id="p1", cpu_percent=50.0, memory_mb=1), state)

    assert isinstance(outcome.decision, Accepted)
    info = group_of(outcome.after, "g")
    assert info.over_committed and info.usage.cpu_percent == 50.0
    assert_refused(
        when(in_group("p2", "g", cpu=1.0), outcome.after),
        ErrorCode.QUOTA_EXCEEDED,
        dead_letter=False,
    )


def test_the_charge_is_the_greater_of_request_and_report() -> None:
    state = given(
        in_group("p1", DEFAULT_GROUP, cpu=30.0, memory=100),
        ReportResourceUsage(pipeline_id="p1", cpu_percent=10.0, memory_mb=500),
    )

    info = group_of(state, DEFAULT_GROUP)

    assert (info.usage.cpu_percent, info.usage.memory_mb) == (30.0, 500)


def test_a_closed_group_refuses_new_pipelines_and_keeps_its_own() -> None:
    state = given(
        CreateGroup(group_id="g"),
        in_group("p1", "g"),
        SetGroupState(group_id="g", state=GroupState.CLOSED),
    )

    assert_refused(when(in_group("p2", "g"), state), ErrorCode.GROUP_CLOSED, dead_letter=False)
    moved_out = given(MovePipeline(pipeline_id="p1", group_id=DEFAULT_GROUP), state=state)
    back = when(MovePipeline(pipeline_id="p1", group_id="g"), moved_out)
    assert_refused(back, ErrorCode.GROUP_CLOSED, dead_letter=False)
    assert "p1" in state.pipelines
    report = ReportResourceUsage(pipeline_id="p1", cpu_percent=1.0, memory_mb=1)
    assert isinstance(when(report, state).decision, Accepted)


def test_a_move_carries_the_charge_and_is_checked_against_the_target() -> None:
    state = given(
        CreateGroup(group_id="a"),
        CreateGroup(group_id="b"),
        SetGroupQuota(group_id="b", max_memory_mb=100),
        in_group("p1", "a", memory=80),
        in_group("p2", "a", memory=50),
    )

    moved = when(MovePipeline(pipeline_id="p1", group_id="b"), state)
    (event,) = moved.events
    assert isinstance(event, PipelineMoved) and (event.from_group, event.to_group) == ("a", "b")
    assert (
        group_of(moved.after, "a").usage.memory_mb,
        group_of(moved.after, "b").usage.memory_mb,
    ) == (50, 80)
    refusal = assert_refused(
        when(MovePipeline(pipeline_id="p2", group_id="b"), moved.after),
        ErrorCode.QUOTA_EXCEEDED,
        dead_letter=False,
    )
    assert (refusal.error.scope, refusal.error.used, refusal.error.limit) == ("group", 80, 100)


def test_an_empty_group_can_be_deleted() -> None:
    state = given(
        CreateGroup(group_id="g"), in_group("p1", "g"), UnregisterPipeline(pipeline_id="p1")
    )

    outcome = when(DeleteGroup(group_id="g"), state)

    assert isinstance(outcome.decision, Accepted)
    assert "g" not in outcome.after.summary.groups


def test_groups_are_listed_in_pages_and_pipelines_by_group() -> None:
    state = given(
        CreateGroup(group_id="b"),
        CreateGroup(group_id="a"),
        in_group("p1", "a"),
        in_group("p2", "b"),
    )

    first = decide(ListGroups(limit=2), state, context())
    rest = decide(ListGroups(limit=2, after="b"), state, context())
    pipelines = decide(ListPipelines(group="b"), state, context())

    assert isinstance(first, Answered) and isinstance(first.value, GroupPage)
    assert [info.group_id for info in first.value.items] == ["a", "b"]
    assert first.value.next == "b"
    assert isinstance(rest, Answered) and isinstance(rest.value, GroupPage)
    assert [info.group_id for info in rest.value.items] == ["default"]
    assert rest.value.next is None
    assert isinstance(pipelines, Answered) and isinstance(pipelines.value, PipelinePage)
    assert [info.pipeline_id for info in pipelines.value.items] == ["p2"]


def test_too_many_groups_are_refused() -> None:
    state = fold(
        GroupCreated(
            seq=n + 1,
            command_id=None,
            group_id=f"g{n}",
            timestamp=context().now,
            revision=1,
            labels={},
        )
        for n in range(MAX_GROUPS - 1)
    )

    assert_refused(
        when(CreateGroup(group_id="one-more"), state), ErrorCode.TOO_MANY_GROUPS, dead_letter=False
    )


def test_preemption_candidates_are_lower_priority_preemptible_and_minimal() -> None:
    state = given(
        CreateGroup(group_id="g"),
        SetGroupQuota(group_id="g", max_cpu_percent=50.0),
        in_group("big-old", "g", cpu=20.0, priority=1),
        in_group("small", "g", cpu=5.0, priority=1),
        in_group("pinned", "g", cpu=20.0, priority=0, preemptible=False),
        in_group("important", "g", cpu=5.0, priority=9),
    )

    refusal = assert_refused(
        when(in_group("new", "g", cpu=20.0, priority=5), state),
        ErrorCode.QUOTA_EXCEEDED,
        dead_letter=False,
    )

    # 50 used of 50: 20 more needs 20 freed. "small" (newest at priority 1) comes first but is
    # not enough, then "big-old" makes it fit, and "small" is dropped again: not needed.
    assert refusal.error.preemption_candidates == ["big-old"]
    assert refusal.error.fits_after_preemption is True


def test_check_with_detail_names_the_binding_and_the_candidates() -> None:
    state = given(
        CreateGroup(group_id="g"),
        SetGroupQuota(group_id="g", max_pipelines=1),
        in_group("low", "g", priority=-1),
    )
    command = CheckResourceAvailability(
        estimated_cpu_percent=1.0, estimated_memory_mb=1, group="g", detail=True
    )

    decision = decide(command, state, context())

    assert isinstance(decision, Answered) and isinstance(decision.value, Availability)
    assert not decision.value.available
    assert decision.value.binding is not None and decision.value.binding.dimension == "pipelines"
    assert decision.value.preemption_candidates == ["low"]
    plain = decide(command.model_copy(update={"detail": None}), state, context())
    assert plain == Answered(False)


# -- properties ---------------------------------------------------------------------------------

GROUPS = ["default", "a", "b"]
PIPELINES = ["p1", "p2", "p3", "p4"]
cpu = st.floats(0, 100, allow_nan=False)
memory = st.integers(0, 1000)
group_commands = st.one_of(
    st.builds(CreateGroup, groupId=st.sampled_from(GROUPS)),
    st.builds(
        SetGroupQuota,
        groupId=st.sampled_from(GROUPS),
        max_cpu_percent=st.none() | st.floats(0, 200, allow_nan=False),
        max_memory_mb=st.none() | st.integers(0, 2000),
        max_pipelines=st.none() | st.integers(0, 4),
    ),
    st.builds(SetGroupState, groupId=st.sampled_from(GROUPS), state=st.sampled_from(GroupState)),
    st.builds(DeleteGroup, groupId=st.sampled_from(GROUPS)),
    st.builds(MovePipeline, pipelineId=st.sampled_from(PIPELINES), groupId=st.sampled_from(GROUPS)),
    st.builds(
        in_group,
        st.sampled_from(PIPELINES),
        st.sampled_from(GROUPS),
        st.none() | cpu,
        st.none() | memory,
        st.none() | st.integers(-2, 2),
    ),
    st.builds(UnregisterPipeline, pipelineId=st.sampled_from(PIPELINES)),
    st.builds(
        ReportResourceUsage,
        pipelineId=st.sampled_from(PIPELINES),
        cpuPercent=cpu,
        memoryMB=memory,
    ),
    st.builds(
        SetResourceLimits,
        max_cpu_percent=st.none() | st.floats(0, 300, allow_nan=False),
        max_memory_mb=st.none() | st.integers(0, 3000),
    ),
)


def _usage_is_the_sum_of_charges(state: CoordinatorState) -> None:
    for group_id, group in state.summary.groups.items():
        members = [info for info in state.pipelines.values() if info.group == group_id]
        cpu_units = sum(charge_of(info)[0] for info in members)
        assert group.charged_cpu == cpu_units, group_id
        assert group.charged_memory_mb == sum(charge_of(info)[1] for info in members)
        assert group.pipelines == len(members)
    assert sum(group.pipelines for group in state.summary.groups.values()) == len(state.pipelines)


@settings(max_examples=200)
@for_all(st.lists(group_commands, max_size=25), st.floats(0, 300, allow_nan=False))
def test_usage_is_the_sum_of_charges_and_no_admission_goes_over(
    commands: list[Command], configured_cpu: float
) -> None:
    configured = ResourceLimits(max_cpu_percent=configured_cpu, max_memory_mb=2000)
    state = CoordinatorState.empty()
    journal = []
    for command in commands:
        decision = decide(command, state, context(limits=configured))
        if isinstance(decision, Refused):
            continue
        assert isinstance(decision, Accepted), decision
        before = state
        for event in decision.events:
            state = evolve(state, event)
            journal.append(event)
        _usage_is_the_sum_of_charges(state)
        if isinstance(command, RegisterPipeline | MovePipeline):
            _admission_stayed_within(before, state, command, configured)

    assert fold(journal) == state, "replay reproduces the state, whatever the configuration"


def _admission_stayed_within(
    before: CoordinatorState,
    after: CoordinatorState,
    command: RegisterPipeline | MovePipeline,
    configured: ResourceLimits,
) -> None:
    pipeline = after.pipelines[command.pipeline_id]
    if isinstance(command, MovePipeline) and before.pipelines[command.pipeline_id].group == (
        command.group_id
    ):
        return  # a move within its group admits nothing
    group = after.summary.groups[pipeline.group]
    charged_cpu, charged_memory = charge_of(pipeline)
    quota = group.quota
    scale = 1 << CPU_SCALE_BITS
    if quota.max_pipelines is not None:
        assert group.pipelines <= quota.max_pipelines
    if quota.max_cpu_percent is not None and charged_cpu:
        assert group.charged_cpu / scale <= quota.max_cpu_percent + 1e-9
    if quota.max_memory_mb is not None and charged_memory:
        assert group.charged_memory_mb <= quota.max_memory_mb
    if isinstance(command, RegisterPipeline):
        limits = after.summary.limits_over(configured)
        total_cpu = sum(g.charged_cpu for g in after.summary.groups.values()) / scale
        total_memory = sum(g.charged_memory_mb for g in after.summary.groups.values())
        if charged_cpu:
            assert total_cpu <= limits.max_cpu_percent + 1e-9
        if charged_memory:
            assert total_memory <= limits.max_memory_mb
    assert before.summary.seq < after.summary.seq


members = st.lists(
    st.tuples(st.floats(0, 30, allow_nan=False), st.integers(-3, 3), st.booleans()),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200)
@for_all(members, st.floats(0, 60, allow_nan=False), st.integers(-3, 4))
def test_preemption_candidates_are_minimal_and_respect_priority(
    pipelines: list[tuple[float, int, bool]], wanted: float, priority: int
) -> None:
    setup: list[Command] = [
        CreateGroup(group_id="g"),
        SetGroupQuota(group_id="g", max_cpu_percent=60.0),
    ]
    state = given(*setup)
    for n, (requested, rank, preemptible) in enumerate(pipelines):
        command = in_group(f"p{n}", "g", cpu=requested, priority=rank, preemptible=preemptible)
        decision = decide(command, state, context())
        if isinstance(decision, Accepted):
            state = evolve(state, decision.events[0])

    decision = decide(in_group("new", "g", cpu=wanted, priority=priority), state, context())

    if not isinstance(decision, Refused):
        return
    error = decision.error
    assert error.code is ErrorCode.QUOTA_EXCEEDED
    chosen = [state.pipelines[pipeline_id] for pipeline_id in error.preemption_candidates or []]
    assert all(info.priority < priority and info.preemptible for info in chosen)
    assert error.fits_after_preemption is bool(chosen)
    group = state.summary.groups["g"]
    limits = state.summary.limits_over(ResourceLimits())
    demand = Demand(wanted, 0)
    if chosen:
        assert binding_for(state.summary, group, demand, limits, _freed(chosen)) is None
    for left_out in chosen:  # minimal: without any one of them it does not fit
        fewer = [info for info in chosen if info is not left_out]
        assert binding_for(state.summary, group, demand, limits, _freed(fewer)) is not None
    if not chosen:  # nothing would do: even every eligible pipeline together does not fit
        eligible = [
            info
            for info in state.pipelines.values()
            if info.priority < priority and info.preemptible
        ]
        assert binding_for(state.summary, group, demand, limits, _freed(eligible)) is not None


def _freed(chosen: list[PipelineInfo]) -> Amounts:
    cpu = sum(charge_of(info)[0] for info in chosen)
    memory = sum(charge_of(info)[1] for info in chosen)
    return Amounts(cpu, memory, len(chosen), cpu, memory)
