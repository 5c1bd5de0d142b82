"""Every command call of the clients, once: its builder, and its line in ``CommandCalls``.

A builder makes the ``Call``: the command, how it goes out, and the reader that turns the value
of an accepted reply into the domain model the caller gets back. ``CommandCalls`` makes each one a
call of both clients (blocking on ``CoordinatorClient``, a coroutine on
``AsyncCoordinatorClient``). Nothing here touches Kafka; ``requests`` holds how a call travels.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Self, TypeVar, overload

from coordinator.client import group_calls, reservation_calls
from coordinator.client.requests import Call, Delivery, instance_of, instance_or_none
from coordinator.domain.commands import (
    CheckResourceAvailability,
    CommandModel,
    GetPipelineInfo,
    GetSystemStatus,
    ListPipelines,
    RegisterPipeline,
    ReportResourceUsage,
    ResetResourceLimits,
    SetResourceLimits,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import (
    PipelinePage,
    RuntimeLimits,
    StateSummary,
    SystemStatus,
)

if TYPE_CHECKING:
    from coordinator.client.shared import AwaitingCore, BlockingCore

T = TypeVar("T")
P = ParamSpec("P")


def _fire(command: CommandModel, confirm: bool) -> Call[None]:
    return Call(command, lambda _value: None, Delivery.CONFIRM if confirm else Delivery.SEND)


def status_of(status: PipelineStatus | str) -> PipelineStatus:
    """A pipeline status given in any case (``"RUNNING"``, ``PipelineStatus.RUNNING``)."""
    try:
        return PipelineStatus(str(status).lower())
    except ValueError:
        known = ", ".join(member.value for member in PipelineStatus)
        raise ValueError(f"unknown pipeline status {status!r}; one of: {known}") from None


# -- the calls --------------------------------------------------------------------------------


def register(
    pipeline_id: str,
    name: str,
    command_id: str | None = None,
    *,
    group: str | None = None,
    requested_cpu_percent: float | None = None,
    requested_memory_mb: int | None = None,
    priority: int | None = None,
    preemptible: bool | None = None,
    reservation_id: str | None = None,
) -> Call[StateSummary]:
    """Register a pipeline (into ``group``, with what it requests, or consuming the reservation
    ``reservation_id``); the reply is the state summary after it. One that does not fit raises
    ``CommandRefusedError`` with ``QUOTA_EXCEEDED``, whose ``error`` names the rule that binds."""
    command = RegisterPipeline(
        pipeline_id=pipeline_id,
        name=name,
        command_id=command_id,
        group=group,
        requested_cpu_percent=requested_cpu_percent,
        requested_memory_mb=requested_memory_mb,
        priority=priority,
        preemptible=preemptible,
        reservation_id=reservation_id,
    )
    return Call(command, instance_of(StateSummary))


def unregister(pipeline_id: str, command_id: str | None = None) -> Call[StateSummary]:
    """Remove a pipeline; the reply is the state summary after it (with its last info)."""
    command = UnregisterPipeline(pipeline_id=pipeline_id, command_id=command_id)
    return Call(command, instance_of(StateSummary))


def check_resources(cpu_percent: float, memory_mb: int) -> Call[bool]:
    """Whether the estimated usage fits under the limits."""
    command = CheckResourceAvailability(
        estimated_cpu_percent=cpu_percent, estimated_memory_mb=memory_mb
    )
    return Call(command, instance_of(bool))


def system_status() -> Call[SystemStatus]:
    """Health, counts, totals, limits, and the pipelines if they fit in one reply."""
    return Call(GetSystemStatus(), instance_of(SystemStatus))


def pipeline_info(pipeline_id: str) -> Call[PipelineInfo | None]:
    """One pipeline's info, or None if it is not registered."""
    return Call(GetPipelineInfo(pipeline_id=pipeline_id), instance_or_none(PipelineInfo))


def list_page(
    status: PipelineStatus | str | None = None,
    limit: int | None = None,
    after: str | None = None,
    *,
    group: str | None = None,
    selector: str | None = None,
    name_prefix: str | None = None,
) -> Call[PipelinePage]:
    """One page of pipelines in id order (only those in ``group``, matching the label
    ``selector`` and whose name starts with ``name_prefix``, when given); pass the page's
    ``next`` as ``after`` for the next."""
    wanted = status_of(status) if status is not None else None
    command = ListPipelines(
        status=wanted,
        limit=limit,
        after=after,
        group=group,
        label_selector=selector,
        name_prefix=name_prefix,
    )
    return Call(command, instance_of(PipelinePage))


def update_status(
    pipeline_id: str,
    status: PipelineStatus | str,
    total_records: int,
    failed_records: int,
    command_id: str | None = None,
    *,
    confirm: bool = False,
) -> Call[None]:
    """A status report: fire and forget; with ``confirm=True``, wait for the outcome (a
    refusal raises)."""
    report = UpdatePipelineStatus(
        pipeline_id=pipeline_id,
        status=status_of(status),
        total_records=total_records,
        failed_records=failed_records,
        command_id=command_id,
    )
    return _fire(report, confirm)


def report_resources(
    pipeline_id: str,
    cpu_percent: float,
    memory_mb: int,
    command_id: str | None = None,
    *,
    confirm: bool = False,
) -> Call[None]:
    """A resource report (replacing the one before): fire and forget, or confirmed as above."""
    usage = ReportResourceUsage(
        pipeline_id=pipeline_id, cpu_percent=cpu_percent, memory_mb=memory_mb, command_id=command_id
    )
    return _fire(usage, confirm)


def set_limits(
    max_cpu_percent: float | None = None,
    max_memory_mb: int | None = None,
    *,
    expected_revision: int | None = None,
    reason: str | None = None,
    command_id: str | None = None,
) -> Call[RuntimeLimits]:
    """Set the runtime resource limits (a limit left out keeps its value); the reply is the
    runtime limits after it. A stale ``expected_revision`` raises ``CommandRefusedError`` with
    ``REVISION_CONFLICT``."""
    command = SetResourceLimits(
        max_cpu_percent=max_cpu_percent,
        max_memory_mb=max_memory_mb,
        expected_revision=expected_revision,
        reason=reason,
        command_id=command_id,
    )
    return Call(command, instance_of(RuntimeLimits))


def reset_limits(
    *,
    expected_revision: int | None = None,
    reason: str | None = None,
    command_id: str | None = None,
) -> Call[RuntimeLimits]:
    """Drop the runtime resource limits: the configured ones are in force again."""
    command = ResetResourceLimits(
        expected_revision=expected_revision, reason=reason, command_id=command_id
    )
    return Call(command, instance_of(RuntimeLimits))


class CallOf(Generic[P, T]):
    """A call of both clients, made from its builder: blocking on one, awaitable on the other."""

    def __init__(self, builder: Callable[P, Call[T]]) -> None:
        self.builder = builder
        functools.update_wrapper(self, builder)  # type: ignore[arg-type]  # name and docstring

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: BlockingCore, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AwaitingCore, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        # Each client binds it its own way (``BlockingCore._bind``, ``AwaitingCore._bind``).
        return self if client is None else client._bind(self.builder)


class CommandCalls:
    """Every command call of both clients, once: a new call is its builder above, and a line
    here."""

    register = CallOf(register)
    unregister = CallOf(unregister)
    update_status = CallOf(update_status)
    report_resources = CallOf(report_resources)
    check_resources = CallOf(check_resources)
    system_status = CallOf(system_status)
    pipeline_info = CallOf(pipeline_info)
    list_page = CallOf(list_page)
    set_limits = CallOf(set_limits)
    reset_limits = CallOf(reset_limits)
    availability = CallOf(group_calls.availability)
    create_group = CallOf(group_calls.create_group)
    set_quota = CallOf(group_calls.set_quota)
    set_group_state = CallOf(group_calls.set_group_state)
    delete_group = CallOf(group_calls.delete_group)
    move_pipeline = CallOf(group_calls.move_pipeline)
    group = CallOf(group_calls.group)
    list_groups = CallOf(group_calls.list_groups)
    set_labels = CallOf(group_calls.set_labels)
    reserve = CallOf(reservation_calls.reserve)
    release_reservation = CallOf(reservation_calls.release_reservation)
    reservations = CallOf(reservation_calls.reservations)
    request_preemption = CallOf(reservation_calls.request_preemption)


def barrier() -> Call[PipelinePage]:
    """A query sent right after a fire-and-forget command to learn whether it was refused.

    The commands topic has one partition and a client's reply topic too, so by the time this
    query's reply arrives, a refusal of the command before it has arrived as well.
    """
    return list_page(limit=1)


class Paging:
    """Where a listing of every pipeline is: the call for the next page, until there is none."""

    def __init__(
        self,
        status: PipelineStatus | str | None,
        page_size: int | None,
        group: str | None = None,
        selector: str | None = None,
        name_prefix: str | None = None,
    ) -> None:
        self.status = status
        self.page_size = page_size
        self.group = group
        self.selector = selector
        self.name_prefix = name_prefix
        self.after: str | None = None
        self.done = False

    def next_call(self) -> Call[PipelinePage] | None:
        if self.done:
            return None
        return list_page(
            self.status,
            self.page_size,
            self.after,
            group=self.group,
            selector=self.selector,
            name_prefix=self.name_prefix,
        )

    def take(self, page: PipelinePage) -> list[PipelineInfo]:
        """The page's pipelines; the next call asks for those after them."""
        self.after = page.next
        self.done = page.next is None
        return page.items
