"""The per-group gauges: usage and quota by group, a series per group, gone with the group."""

from __future__ import annotations

from coordinator.domain.commands import (
    CreateGroup,
    DeleteGroup,
    RegisterPipeline,
    ReleaseReservation,
    ReserveResources,
    SetGroupQuota,
)
from coordinator.worker.metrics import Metrics
from tests.unit.domain.support import given


def test_each_group_has_its_usage_and_quota_and_a_deleted_one_has_none() -> None:
    state = given(
        CreateGroup(group_id="payments"),
        SetGroupQuota(group_id="payments", max_pipelines=3),
        RegisterPipeline(
            pipeline_id="p1", name="One", group="payments", requested_cpu_percent=12.5
        ),
        CreateGroup(group_id="empty"),
    )
    metrics = Metrics()
    sample = metrics.registry.get_sample_value

    metrics.observe_summary(state.summary)

    assert sample("coordinator_group_pipelines", {"group": "payments"}) == 1
    assert sample("coordinator_group_cpu_percent", {"group": "payments"}) == 12.5
    assert sample("coordinator_group_quota", {"group": "payments", "dimension": "pipelines"}) == 3
    assert (
        sample("coordinator_group_quota", {"group": "payments", "dimension": "cpuPercent"}) is None
    )
    assert sample("coordinator_group_over_committed", {"group": "payments"}) == 0
    assert sample("coordinator_group_pipelines", {"group": "default"}) == 0

    metrics.observe_summary(given(DeleteGroup(group_id="empty"), state=state).summary)

    assert sample("coordinator_group_pipelines", {"group": "empty"}) is None
    assert sample("coordinator_group_pipelines", {"group": "payments"}) == 1


def test_each_group_shows_what_its_reservations_hold_until_they_end() -> None:
    state = given(
        CreateGroup(group_id="payments"),
        ReserveResources(group="payments", cpu_percent=12.5, memory_mb=256, ttl_seconds=60),
        ReserveResources(group="payments", cpu_percent=0.5, memory_mb=0, ttl_seconds=60),
        ReserveResources(cpu_percent=1.0, memory_mb=1, ttl_seconds=60),
    )
    metrics = Metrics()
    sample = metrics.registry.get_sample_value

    metrics.observe_summary(state.summary)

    assert sample("coordinator_group_reservations", {"group": "payments"}) == 2
    assert sample("coordinator_group_reserved_cpu_percent", {"group": "payments"}) == 13.0
    assert sample("coordinator_group_reserved_memory_mb", {"group": "payments"}) == 256
    assert sample("coordinator_group_reservations", {"group": "default"}) == 1

    released = given(
        ReleaseReservation(reservation_id="res-2"),
        ReleaseReservation(reservation_id="res-3"),
        state=state,
    )
    metrics.observe_summary(released.summary)

    assert sample("coordinator_group_reservations", {"group": "payments"}) == 0
    assert sample("coordinator_group_reserved_cpu_percent", {"group": "payments"}) == 0
    assert sample("coordinator_group_reservations", {"group": "default"}) == 1
