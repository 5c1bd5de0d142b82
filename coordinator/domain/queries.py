"""The design document's state helpers, as pure functions over any ``StateView``.

``getPipeline``, ``listPipelines`` (with a status filter, and here with paging), ``countByStatus``,
``hasResourcesAvailable`` and ``getSystemHealth``, plus the ``GetSystemStatus`` answer. Replies are
sized against a byte budget so that none exceeds the broker's maximum message size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic_core import to_json

from coordinator.domain.model import (
    EffectiveLimits,
    HealthStatus,
    PipelineInfo,
    PipelineStatus,
    ResourceLimits,
    SystemHealth,
)
from coordinator.domain.replies import PipelinePage, SystemStatus
from coordinator.domain.selector import Selector
from coordinator.domain.view import StateView
from coordinator.domain.wire import replaced

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
DEFAULT_MAX_REPLY_BYTES = 900_000
"""Leaves room under Kafka's default 1 MiB ``max.message.bytes`` for the envelope and headers."""
_ENVELOPE_BYTES = 1024
"""Room kept for a reply's envelope (ids, type, separators) besides the items it carries."""


@dataclass(frozen=True, slots=True)
class PipelineFilter:
    """Which pipelines a listing wants: all the conditions given hold."""

    status: PipelineStatus | None = None
    group: str | None = None
    selector: Selector | None = None
    name_prefix: str | None = None

    def matches(self, info: PipelineInfo) -> bool:
        return (
            (self.status is None or info.status == self.status)
            and (self.group is None or info.group == self.group)
            and (self.name_prefix is None or info.name.startswith(self.name_prefix))
            and (self.selector is None or self.selector.matches(info.labels))
        )


def _matching(view: StateView, where: PipelineFilter, after: str | None) -> Iterator[PipelineInfo]:
    for info in view.pipelines_from(after):
        if where.matches(info):
            yield info


def stale_before(view: StateView, stale_after: timedelta | None) -> datetime | None:
    """The instant before which a last heartbeat is stale (journal time), if a threshold is set."""
    now = view.summary.last_updated
    return None if now is None or stale_after is None else now - stale_after


def _marked(info: PipelineInfo, cutoff: datetime | None) -> PipelineInfo:
    if cutoff is None or info.last_heartbeat >= cutoff:
        return info
    return replaced(info, {"stale": True})


def marked_stale(info: PipelineInfo | None, cutoff: datetime | None) -> PipelineInfo | None:
    """``info`` as an answer shows it: ``stale`` when its last heartbeat is before ``cutoff``."""
    return None if info is None else _marked(info, cutoff)


def list_all(view: StateView, status: PipelineStatus | None = None) -> list[PipelineInfo]:
    """Every pipeline (optionally only those in ``status``), ordered by ``pipelineId``."""
    return list(_matching(view, PipelineFilter(status), None))


def list_page(
    view: StateView,
    status: PipelineStatus | None = None,
    limit: int | None = None,
    after: str | None = None,
    max_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    *,
    where: PipelineFilter | None = None,
    cutoff: datetime | None = None,
) -> PipelinePage:
    """One page of pipelines after the cursor ``after``, at most ``limit`` (capped) and
    ``max_bytes`` of JSON. ``next`` is the cursor for the following page, or None at the end.
    Pipelines whose last heartbeat is before ``cutoff`` are shown ``stale``."""
    wanted = min(limit if limit is not None else DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    items: list[PipelineInfo] = []
    used = _ENVELOPE_BYTES
    wanted_ones = where if where is not None else PipelineFilter(status)
    for found in _matching(view, wanted_ones, after):
        info = _marked(found, cutoff)
        size = len(info.to_json()) + 1
        if len(items) >= wanted or (items and used + size > max_bytes):
            return PipelinePage(items=items, next=items[-1].pipeline_id)
        items.append(info)
        used += size
    return PipelinePage(items=items, next=None)


def count_by_status(view: StateView) -> dict[PipelineStatus, int]:
    return dict(view.summary.count_by_status)


def has_resources_available(
    view: StateView,
    estimated_cpu: float,
    estimated_memory: int,
    limits: ResourceLimits | None = None,
) -> bool:
    """``totalCpuPercent + estimatedCpu <= maxCpuPercent`` and the same for memory."""
    ceiling = limits if limits is not None else ResourceLimits()
    summary = view.summary
    cpu_fits = summary.total_cpu_percent + estimated_cpu <= ceiling.max_cpu_percent
    memory_fits = summary.memory_mb_total + estimated_memory <= ceiling.max_memory_mb
    return cpu_fits and memory_fits


def health_status(total: int, failed: int) -> HealthStatus:
    """Idle with no pipelines; critical when at least half failed; degraded when any failed."""
    if total == 0:
        return HealthStatus.IDLE
    if failed * 2 >= total:
        return HealthStatus.CRITICAL
    if failed > 0:
        return HealthStatus.DEGRADED
    return HealthStatus.HEALTHY


def system_health(view: StateView) -> SystemHealth:
    summary = view.summary
    total = summary.total_pipelines
    failed = summary.count(PipelineStatus.FAILED)
    return SystemHealth(
        status=health_status(total, failed),
        total_pipelines=total,
        running_pipelines=summary.count(PipelineStatus.RUNNING),
        failed_pipelines=failed,
        total_cpu_percent=summary.total_cpu_percent,
        total_memory_mb=summary.memory_mb_total,
        last_updated=summary.last_updated,
    )


def count_stale(view: StateView, stale_after: timedelta) -> int:
    """How many pipelines' last heartbeat is older than ``stale_after`` in journal time.

    Journal time is the timestamp of the newest event, so replaying the journal gives the same
    answer whenever it is replayed. A stale pipeline keeps its recorded status.
    """
    now = view.summary.last_updated
    return 0 if now is None else view.count_stale(now - stale_after)


def over_committed(view: StateView, limits: ResourceLimits) -> bool:
    """Usage above a limit in force: a limit lowered below it (running pipelines are never
    touched), so nothing new fits until usage drops."""
    summary = view.summary
    return (
        summary.total_cpu_percent > limits.max_cpu_percent
        or summary.memory_mb_total > limits.max_memory_mb
    )


def system_status(
    view: StateView,
    limits: EffectiveLimits | None = None,
    max_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    stale_after: timedelta | None = None,
) -> SystemStatus:
    """The answer to ``GetSystemStatus``; ``pipelines`` only if they fit in ``max_bytes``."""
    summary = view.summary
    in_force = limits if limits is not None else EffectiveLimits()
    included: dict[str, PipelineInfo] = {}
    omitted = False
    used = _ENVELOPE_BYTES * 2
    cutoff = stale_before(view, stale_after)
    for found in view.pipelines_from(None):
        info = _marked(found, cutoff)
        # The map key is the id as JSON: count its bytes (quotes, escapes, multi-byte
        # characters), not its characters, or a registry of non-ASCII ids overshoots.
        used += len(info.to_json()) + len(to_json(info.pipeline_id)) + 8
        if used > max_bytes:
            omitted = True
            break
        included[info.pipeline_id] = info
    return SystemStatus(
        health=system_health(view),
        count_by_status=dict(summary.count_by_status),
        total_cpu_percent=summary.total_cpu_percent,
        total_memory_mb=summary.memory_mb_total,
        last_updated=summary.last_updated,
        seq=summary.seq,
        limits=in_force,
        over_committed=over_committed(view, in_force),
        pipelines=None if omitted else included,
        pipelines_omitted=omitted,
        stale_pipelines=count_stale(view, stale_after) if stale_after is not None else 0,
        stale_after_seconds=stale_after.total_seconds() if stale_after is not None else None,
    )
