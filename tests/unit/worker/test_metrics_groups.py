"""The per-group gauges: usage and quota by group, a series per group, gone with the group."""

from __future__ import annotations

from coordinator.domain.commands import CreateGroup, DeleteGroup, RegisterPipeline, SetGroupQuota
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
