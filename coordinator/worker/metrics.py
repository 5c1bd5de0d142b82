"""Prometheus metrics of one worker, under the design document's names and a few more."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from coordinator.domain.groups import over_quota
from coordinator.domain.model import (
    CPU_SCALE_BITS,
    DEFAULT_GROUP,
    Group,
    PipelineStatus,
    ResourceLimits,
    Summary,
    cpu_units,
)

# The `_created` series double every counter and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream


QUOTA_DIMENSIONS = ("cpuPercent", "memoryMB", "pipelines")


class Metrics:
    def __init__(self, configured_limits: ResourceLimits | None = None) -> None:
        self._configured = configured_limits if configured_limits is not None else ResourceLimits()
        self.registry = CollectorRegistry()
        r = self.registry
        self.pipelines = Gauge(
            "coordinator_pipelines_total", "Registered pipelines by status.", ["status"], registry=r
        )
        self.cpu = Gauge(
            "coordinator_cpu_percent_total", "Sum of the latest CPU reports (%).", registry=r
        )
        self.memory = Gauge(
            "coordinator_memory_mb_total", "Sum of the latest memory reports (MB).", registry=r
        )
        self.registrations = Counter(
            "coordinator_registrations", "Pipelines registered.", registry=r
        )
        self.unregistrations = Counter(
            "coordinator_unregistrations", "Pipelines unregistered.", registry=r
        )
        self.status_updates = Counter(
            "coordinator_status_updates", "Pipeline status updates applied.", registry=r
        )
        self.resource_reports = Counter(
            "coordinator_resource_reports", "Resource usage reports applied.", registry=r
        )
        self.commands = Counter(
            "coordinator_commands",
            "Commands processed, by type and result "
            "(accepted, answered, refused, duplicate, dead_lettered).",
            ["type", "result"],
            registry=r,
        )
        self.refusals = Counter(
            "coordinator_commands_refused",
            "Commands refused, by type and error code.",
            ["type", "code"],
            registry=r,
        )
        self.dead_letters = Counter(
            "coordinator_dead_letters",
            "Records sent to the dead-letter topic.",
            ["reason"],
            registry=r,
        )
        self.unknown_pipeline_updates = Counter(
            "coordinator_unknown_pipeline_updates",
            "Status or resource updates for pipelines that are not registered.",
            registry=r,
        )
        self.events = Counter("coordinator_events_appended", "Events appended.", registry=r)
        self.batches = Counter("coordinator_batches", "Transactions committed.", registry=r)
        self.latency = Histogram(
            "coordinator_command_latency_seconds",
            "From a command's append to the commands topic to its transaction's commit.",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.seq = Gauge("coordinator_seq", "Journal position the state reflects.", registry=r)
        self.active = Gauge(
            "coordinator_active", "1 if this worker owns the commands partition.", registry=r
        )
        self.ready = Gauge("coordinator_ready", "1 if this worker is ready.", registry=r)
        self.recovery_seconds = Gauge(
            "coordinator_recovery_duration_seconds",
            "Duration of the last recovery, by source.",
            ["source"],
            registry=r,
        )
        self.recovery_events = Gauge(
            "coordinator_recovery_events_replayed",
            "Events replayed by the last recovery.",
            registry=r,
        )
        self.snapshots = Counter("coordinator_snapshots", "Snapshots written.", registry=r)
        self.snapshots_failed = Counter(
            "coordinator_snapshots_failed",
            "Snapshots abandoned by a failure (an aborted transaction, a journal error).",
            registry=r,
        )
        self.snapshot_seconds = Histogram(
            "coordinator_snapshot_duration_seconds",
            "Time to write a snapshot.",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.lag = Gauge(
            "coordinator_commands_lag", "Commands not yet applied (end offset - next).", registry=r
        )
        self.stale = Gauge(
            "coordinator_stale_pipelines", "Pipelines without a recent heartbeat.", registry=r
        )
        self.cpu_limit = Gauge(
            "coordinator_cpu_limit_percent", "The CPU limit in force (%).", registry=r
        )
        self.memory_limit = Gauge(
            "coordinator_memory_limit_mb", "The memory limit in force (MB).", registry=r
        )
        self.limits_revision = Gauge(
            "coordinator_limits_revision",
            "How many times the runtime limits were set or reset.",
            registry=r,
        )
        self.limits_from_journal = Gauge(
            "coordinator_limits_from_journal",
            "1 when runtime limits from the journal are in force, 0 for the configured ones.",
            registry=r,
        )

        self.group_pipelines = Gauge(
            "coordinator_group_pipelines", "Pipelines in each group.", ["group"], registry=r
        )
        self.group_cpu = Gauge(
            "coordinator_group_cpu_percent",
            "CPU % charged to each group (the greater of request and report, summed).",
            ["group"],
            registry=r,
        )
        self.group_memory = Gauge(
            "coordinator_group_memory_mb",
            "Memory (MB) charged to each group.",
            ["group"],
            registry=r,
        )
        self.group_quota = Gauge(
            "coordinator_group_quota",
            "Each group's caps (dimension: cpuPercent, memoryMB, pipelines); none when uncapped.",
            ["group", "dimension"],
            registry=r,
        )
        self.group_over_committed = Gauge(
            "coordinator_group_over_committed",
            "1 when a group's usage is above a cap of its quota.",
            ["group"],
            registry=r,
        )
        self._groups_seen: dict[str, Group] = {}
        self.group_reservations = Gauge(
            "coordinator_group_reservations",
            "Outstanding reservations in each group.",
            ["group"],
            registry=r,
        )
        self.group_reserved_cpu = Gauge(
            "coordinator_group_reserved_cpu_percent",
            "CPU % held by each group's outstanding reservations.",
            ["group"],
            registry=r,
        )
        self.group_reserved_memory = Gauge(
            "coordinator_group_reserved_memory_mb",
            "Memory (MB) held by each group's outstanding reservations.",
            ["group"],
            registry=r,
        )
        self._reservations_seen: object = None
        self._reserving_groups: set[str] = set()

    def observe_summary(self, summary: Summary) -> None:
        for status in PipelineStatus:
            self.pipelines.labels(status=status.value).set(summary.count(status))
        self.cpu.set(summary.total_cpu_percent)
        self.memory.set(summary.memory_mb_total)
        self.seq.set(summary.seq)
        limits = summary.limits_over(self._configured)
        self.cpu_limit.set(limits.max_cpu_percent)
        self.memory_limit.set(limits.max_memory_mb)
        self.limits_revision.set(limits.revision)
        self.limits_from_journal.set(1 if limits.source == "journal" else 0)
        self._observe_groups(summary.groups)
        self._observe_reservations(summary)

    def _observe_reservations(self, summary: Summary) -> None:
        """The reservation gauges of every group, set again only when the reservations changed
        (a new mapping) or a group came or went."""
        group_ids = {*summary.stored_groups, DEFAULT_GROUP}
        if summary.reservations is self._reservations_seen and self._reserving_groups == group_ids:
            return
        self._reservations_seen = summary.reservations
        gauges = (self.group_reservations, self.group_reserved_cpu, self.group_reserved_memory)
        for group_id in self._reserving_groups - group_ids:
            for gauge in gauges:
                gauge.remove(group_id)
        self._reserving_groups = group_ids
        count: defaultdict[str, int] = defaultdict(int)
        cpu: defaultdict[str, int] = defaultdict(int)
        memory: defaultdict[str, int] = defaultdict(int)
        for reservation in summary.reservations.values():  # one pass: few of them, few groups
            count[reservation.group_id] += 1
            cpu[reservation.group_id] += cpu_units(reservation.cpu_percent)
            memory[reservation.group_id] += reservation.memory_mb
        for group_id in group_ids:
            self.group_reservations.labels(group=group_id).set(count[group_id])
            self.group_reserved_cpu.labels(group=group_id).set(
                cpu[group_id] / (1 << CPU_SCALE_BITS)
            )
            self.group_reserved_memory.labels(group=group_id).set(memory[group_id])

    def _observe_groups(self, groups: Mapping[str, Group]) -> None:
        """The per-group gauges (at most ``MAX_GROUPS`` series each): only the groups that
        changed since the last batch are set again (a changed group is a new object)."""
        seen = self._groups_seen
        for group_id in [group_id for group_id in seen if group_id not in groups]:
            for gauge in (
                self.group_pipelines,
                self.group_cpu,
                self.group_memory,
                self.group_over_committed,
            ):
                gauge.remove(group_id)
            for dimension in QUOTA_DIMENSIONS:
                self._drop_quota(group_id, dimension)
            del seen[group_id]
        for group_id, group in groups.items():
            if seen.get(group_id) is group:
                continue
            seen[group_id] = group
            self.group_pipelines.labels(group=group_id).set(group.pipelines)
            self.group_cpu.labels(group=group_id).set(group.charged_cpu_percent)
            self.group_memory.labels(group=group_id).set(group.charged_memory_mb)
            self.group_over_committed.labels(group=group_id).set(1 if over_quota(group) else 0)
            quota = group.quota
            caps = (quota.max_cpu_percent, quota.max_memory_mb, quota.max_pipelines)
            for dimension, cap in zip(QUOTA_DIMENSIONS, caps, strict=True):
                if cap is None:
                    self._drop_quota(group_id, dimension)
                else:
                    self.group_quota.labels(group=group_id, dimension=dimension).set(cap)

    def _drop_quota(self, group_id: str, dimension: str) -> None:
        with contextlib.suppress(KeyError):  # no series: the dimension had no cap
            self.group_quota.remove(group_id, dimension)
