"""How the operator CLI shows replies to people: rich tables and one-line messages.

Pure: every function takes the domain's models (and the current time, for ages) and returns a
renderable or a string; nothing here talks to Kafka or prints. ``--json`` output does not come
from here: it is the models' own ``to_json()``, the wire format.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from coordinator.domain.model import HealthStatus, PipelineInfo, PipelineStatus, Reservation
from coordinator.domain.replies import (
    Availability,
    GroupInfo,
    RuntimeLimits,
    StateSummary,
    SystemStatus,
)
from coordinator.domain.wire import WireModel, format_timestamp

STATUS_STYLES: dict[PipelineStatus, str] = {
    PipelineStatus.RUNNING: "green",
    PipelineStatus.FAILED: "bold red",
    PipelineStatus.PAUSED: "yellow",
    PipelineStatus.CONFIGURED: "cyan",
    PipelineStatus.STOPPED: "dim",
}
HEALTH_STYLES: dict[HealthStatus, str] = {
    HealthStatus.HEALTHY: "bold green",
    HealthStatus.DEGRADED: "bold yellow",
    HealthStatus.CRITICAL: "bold red",
    HealthStatus.IDLE: "dim",
}
_ATTENTION = (PipelineStatus.FAILED, PipelineStatus.PAUSED)
"""Shown first where rows are limited: what an operator must look at."""


# -- small formats ----------------------------------------------------------------------------


def records(count: int) -> str:
    return f"{count:,}"


def percent(value: float) -> str:
    return f"{value:.1f} %"


def megabytes(value: int) -> str:
    return f"{value:,} MB"


def moment(value: datetime | None) -> str:
    return format_timestamp(value) if value is not None else "-"


def age(value: datetime | None, now: datetime) -> str:
    """How long ago, roughly: ``4 s ago``, ``12 min ago``, ``3 h ago``, ``2 d ago``."""
    if value is None:
        return "-"
    seconds = max(0.0, (now - value).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"


def status_text(status: PipelineStatus) -> Text:
    return Text(status.value, style=STATUS_STYLES[status])


def health_text(health: HealthStatus) -> Text:
    return Text(health.value, style=HEALTH_STYLES[health])


# -- messages ---------------------------------------------------------------------------------


def _registry(summary: StateSummary) -> str:
    noun = "pipeline" if summary.total_pipelines == 1 else "pipelines"
    return f"{summary.total_pipelines} {noun} registered"


def registered(summary: StateSummary) -> str:
    name = summary.pipeline.name if summary.pipeline is not None else "?"
    return f"Registered {summary.pipeline_id} ({name}); {_registry(summary)}."


def unregistered(summary: StateSummary) -> str:
    return f"Unregistered {summary.pipeline_id}; {_registry(summary)}."


def runtime_limits(limits: RuntimeLimits) -> str:
    """What ``coordinator limits set`` and ``reset`` print."""
    override = limits.limits
    if override is None:
        return (
            "Runtime limits dropped: the configured limits are in force "
            f"(revision {limits.revision})."
        )
    cpu = "configured" if override.max_cpu_percent is None else percent(override.max_cpu_percent)
    memory = "configured" if override.max_memory_mb is None else megabytes(override.max_memory_mb)
    return f"Runtime limits set: CPU {cpu}, memory {memory} (revision {limits.revision})."


def resource_check(cpu_percent: float, memory_mb: int, available: bool) -> str:
    estimate = f"{percent(cpu_percent)} CPU and {megabytes(memory_mb)}"
    if available:
        return f"Available: {estimate} fit within the limits."
    return f"Not available: {estimate} would exceed the limits (see `coordinator status`)."


def availability(cpu_percent: float, memory_mb: int, answer: Availability) -> str:
    """What ``coordinator check --group`` prints: whether it fits, else the rule that binds."""
    estimate = f"{percent(cpu_percent)} CPU and {megabytes(memory_mb)}"
    binding = answer.binding
    if answer.available or binding is None:
        return f"Available: {estimate} fit."
    where = f"group {binding.group_id}" if binding.scope == "group" else "the limits in force"
    text = (
        f"Not available: {where}, {binding.dimension}: requested {binding.requested}, "
        f"used {binding.used}, limited {binding.limit}."
    )
    if answer.fits_after_preemption:
        text += f" Preempting {', '.join(answer.preemption_candidates)} would make it fit."
    return text


def _of(used: str, cap: str | None) -> str:
    return used if cap is None else f"{used} / {cap}"


# -- tables -----------------------------------------------------------------------------------


def groups_table(groups: Iterable[GroupInfo]) -> Table:
    """Groups with their usage against their quota (``used / cap``)."""
    table = Table(title_justify="left", header_style="bold")
    table.add_column("Group", no_wrap=True)
    table.add_column("State")
    table.add_column("Pipelines", justify="right")
    table.add_column("CPU", justify="right")
    table.add_column("Memory", justify="right")
    table.add_column("Reserved", justify="right")
    table.add_column("Revision", justify="right")
    table.add_column("Labels")
    for info in groups:
        quota = info.quota
        state = Text(str(info.state), style="yellow" if info.state == "closed" else "green")
        if info.over_committed:
            state.append(" OVER-COMMITTED", style="bold red")
        table.add_row(
            info.group_id,
            state,
            _of(
                records(info.usage.pipelines),
                None if quota.max_pipelines is None else records(quota.max_pipelines),
            ),
            _of(
                percent(info.usage.cpu_percent),
                None if quota.max_cpu_percent is None else percent(quota.max_cpu_percent),
            ),
            _of(
                megabytes(info.usage.memory_mb),
                None if quota.max_memory_mb is None else megabytes(quota.max_memory_mb),
            ),
            _reserved(info),
            str(info.revision),
            ",".join(f"{key}={value}" for key, value in sorted(info.labels.items())),
        )
    return table


def _reserved(info: GroupInfo) -> str:
    held = info.reserved
    if held.pipelines == 0:
        return "-"
    return f"{held.pipelines}: {percent(held.cpu_percent)}, {megabytes(held.memory_mb)}"


def reservations_table(reservations: Iterable[Reservation], now: datetime) -> Table:
    """Outstanding reservations, with the time each has left."""
    table = Table(title_justify="left", header_style="bold")
    table.add_column("Reservation", no_wrap=True)
    table.add_column("Group")
    table.add_column("CPU", justify="right")
    table.add_column("Memory", justify="right")
    table.add_column("Expires", justify="right")
    for reservation in reservations:
        left = (reservation.expires_at - now).total_seconds()
        table.add_row(
            reservation.reservation_id,
            reservation.group_id,
            percent(reservation.cpu_percent),
            megabytes(reservation.memory_mb),
            f"{moment(reservation.expires_at)} ({'due' if left <= 0 else f'in {left:.0f} s'})",
        )
    return table


def pipelines_table(
    items: Iterable[PipelineInfo], now: datetime, title: str | None = None
) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("ID", no_wrap=True)
    table.add_column("Name")
    table.add_column("Status")
    table.add_column("Records", justify="right")
    table.add_column("Failed", justify="right")
    table.add_column("CPU", justify="right")
    table.add_column("Memory", justify="right")
    table.add_column("Last heartbeat", justify="right")
    for info in items:
        table.add_row(
            info.pipeline_id,
            info.name,
            status_text(info.status),
            records(info.total_records),
            records(info.failed_records),
            percent(info.cpu_percent),
            megabytes(info.memory_mb),
            age(info.last_heartbeat, now),
        )
    return table


def pipeline_view(info: PipelineInfo, now: datetime) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Pipeline", info.pipeline_id)
    table.add_row("Name", info.name)
    table.add_row("Status", status_text(info.status))
    table.add_row(
        "Records", f"{records(info.total_records)} ({records(info.failed_records)} failed)"
    )
    table.add_row("CPU", percent(info.cpu_percent))
    table.add_row("Memory", megabytes(info.memory_mb))
    table.add_row("Registered", moment(info.registered_at))
    table.add_row(
        "Last heartbeat", f"{moment(info.last_heartbeat)} ({age(info.last_heartbeat, now)})"
    )
    table.add_row("Group", info.group)
    request = info.preemption_requested
    if request is not None:
        wanted_by = f" for {request.for_pipeline_id}" if request.for_pipeline_id else ""
        table.add_row(
            "Preemption",
            Text(
                f"requested {moment(request.requested_at)}{wanted_by}: {request.reason}", "yellow"
            ),
        )
    return table


def _counts(status: SystemStatus) -> Table:
    table = Table(title="Pipelines by status", title_justify="left", header_style="bold")
    table.add_column("Status")
    table.add_column("Count", justify="right")
    for kind in PipelineStatus:
        table.add_row(status_text(kind), records(status.count_by_status.get(kind, 0)))
    table.add_row(Text("total", style="bold"), records(status.health.total_pipelines))
    return table


def _resources(status: SystemStatus) -> Table:
    limits = status.limits
    where = (
        f"runtime limits, revision {limits.revision}"
        if limits.source == "journal"
        else "configured limits"
    )
    table = Table(
        title="Resources",
        title_justify="left",
        header_style="bold",
        caption=f"{where}{'; OVER-COMMITTED' if status.over_committed else ''}",
        caption_justify="left",
        caption_style="red" if status.over_committed else "dim",
    )
    table.add_column("")
    table.add_column("In use", justify="right")
    table.add_column("Limit", justify="right")
    table.add_column("Free", justify="right")
    cpu_free = max(0.0, limits.max_cpu_percent - status.total_cpu_percent)
    memory_free = max(0, limits.max_memory_mb - status.total_memory_mb)
    table.add_row(
        "CPU",
        percent(status.total_cpu_percent),
        percent(limits.max_cpu_percent),
        percent(cpu_free),
    )
    table.add_row(
        "Memory",
        megabytes(status.total_memory_mb),
        megabytes(limits.max_memory_mb),
        megabytes(memory_free),
    )
    return table


def status_view(status: SystemStatus, now: datetime) -> Group:
    """Health, counts by status, totals against the limits (``coordinator status``)."""
    health = status.health
    headline = Text.assemble(
        ("Health ", "bold"),
        health_text(health.status),
        f"   {health.total_pipelines} pipelines, {health.running_pipelines} running, "
        f"{health.failed_pipelines} failed   seq {status.seq}   updated "
        f"{moment(status.last_updated)} ({age(status.last_updated, now)})",
    )
    parts: list[RenderableType] = [headline]
    if status.stale_pipelines:
        after = status.stale_after_seconds
        window = f" (no heartbeat for over {after:g} s)" if after is not None else ""
        parts.append(Text(f"{status.stale_pipelines} stale{window}", style="yellow"))
    parts.extend(["", Columns([_counts(status), _resources(status)], padding=(0, 4))])
    return Group(*parts)


def watch_rows(pipelines: Iterable[PipelineInfo], rows: int) -> list[PipelineInfo]:
    """At most ``rows`` pipelines: failed and paused first, then by id."""

    def order(info: PipelineInfo) -> tuple[int, str]:
        rank = _ATTENTION.index(info.status) if info.status in _ATTENTION else len(_ATTENTION)
        return rank, info.pipeline_id

    return sorted(pipelines, key=order)[:rows]


def watch_frame(
    status: SystemStatus,
    pipelines: list[PipelineInfo],
    now: datetime,
    problem: str | None = None,
) -> Group:
    """One refresh of ``coordinator watch``: the status, then the pipelines that fit."""
    shown = len(pipelines)
    total = status.health.total_pipelines
    title = f"Pipelines ({shown} of {total})" if shown < total else "Pipelines"
    parts: list[RenderableType] = []
    if problem is not None:
        parts.append(Text(f"Last refresh failed, showing older data: {problem}", style="red"))
    parts.extend([status_view(status, now), "", pipelines_table(pipelines, now, title)])
    parts.append(Text(f"Refreshed {moment(now)}. Ctrl-C stops.", style="dim"))
    return Group(*parts)


# -- JSON -------------------------------------------------------------------------------------


def json_array(items: Iterable[WireModel]) -> Iterator[str]:
    """A JSON array of wire models, in pieces, so that a long listing streams out."""
    yield "["
    for index, item in enumerate(items):
        yield ("," if index else "") + item.to_json().decode()
    yield "]"
