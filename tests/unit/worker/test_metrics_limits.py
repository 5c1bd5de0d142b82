"""The limit gauges show the limits in force: the journal's runtime limits, else the settings."""

from __future__ import annotations

from coordinator.domain.model import LimitsOverride, ResourceLimits, Summary
from coordinator.worker.metrics import Metrics

CONFIGURED = ResourceLimits(max_cpu_percent=70.0, max_memory_mb=7000)


def gauges(metrics: Metrics) -> tuple[float | None, ...]:
    sample = metrics.registry.get_sample_value
    return (
        sample("coordinator_cpu_limit_percent"),
        sample("coordinator_memory_limit_mb"),
        sample("coordinator_limits_revision"),
        sample("coordinator_limits_from_journal"),
    )


def test_without_runtime_limits_the_gauges_show_the_configured_ones() -> None:
    metrics = Metrics(CONFIGURED)

    metrics.observe_summary(Summary())

    assert gauges(metrics) == (70.0, 7000.0, 0.0, 0.0)


def test_runtime_limits_override_the_configured_ones_dimension_by_dimension() -> None:
    metrics = Metrics(CONFIGURED)

    metrics.observe_summary(Summary(limits=LimitsOverride(max_memory_mb=512), limits_revision=3))

    assert gauges(metrics) == (70.0, 512.0, 3.0, 1.0)
