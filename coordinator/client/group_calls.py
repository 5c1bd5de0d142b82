"""The calls about pipeline groups and labels: their builders, for ``CommandCalls`` (see
``calls``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coordinator.client.requests import Call, instance_of, instance_or_none
from coordinator.domain.commands import (
    CheckResourceAvailability,
    CreateGroup,
    DeleteGroup,
    GetGroup,
    ListGroups,
    MovePipeline,
    SetGroupQuota,
    SetGroupState,
    SetPipelineLabels,
)
from coordinator.domain.model import GroupState, PipelineInfo
from coordinator.domain.replies import Availability, GroupInfo, GroupPage

UNCHANGED: Any = object()
"""A quota dimension left as it is (``None`` removes its cap)."""


def create_group(
    group_id: str, labels: Mapping[str, str] | None = None, command_id: str | None = None
) -> Call[GroupInfo]:
    """Create an open group without a quota; the reply is the group."""
    command = CreateGroup(
        group_id=group_id, labels=dict(labels) if labels else None, command_id=command_id
    )
    return Call(command, instance_of(GroupInfo))


def set_quota(
    group_id: str,
    *,
    max_cpu_percent: float | None = UNCHANGED,
    max_memory_mb: int | None = UNCHANGED,
    max_pipelines: int | None = UNCHANGED,
    expected_revision: int | None = None,
    reason: str | None = None,
    command_id: str | None = None,
) -> Call[GroupInfo]:
    """Set a group's quota: a dimension not given keeps its value, ``None`` removes its cap.
    A stale ``expected_revision`` raises ``CommandRefusedError`` with ``REVISION_CONFLICT``."""
    given: dict[str, Any] = {
        name: value
        for name, value in (
            ("max_cpu_percent", max_cpu_percent),
            ("max_memory_mb", max_memory_mb),
            ("max_pipelines", max_pipelines),
        )
        if value is not UNCHANGED
    }
    command = SetGroupQuota.model_validate(
        {
            "group_id": group_id,
            "expected_revision": expected_revision,
            "reason": reason,
            "command_id": command_id,
            **given,
        }
    )
    return Call(command, instance_of(GroupInfo))


def set_group_state(
    group_id: str,
    state: GroupState | str,
    *,
    expected_revision: int | None = None,
    command_id: str | None = None,
) -> Call[GroupInfo]:
    """Open or close a group (a closed one refuses new pipelines; its own stay)."""
    command = SetGroupState(
        group_id=group_id,
        state=GroupState(str(state).lower()),
        expected_revision=expected_revision,
        command_id=command_id,
    )
    return Call(command, instance_of(GroupInfo))


def delete_group(group_id: str, command_id: str | None = None) -> Call[None]:
    """Delete an empty group."""
    return Call(DeleteGroup(group_id=group_id, command_id=command_id), lambda _value: None)


def move_pipeline(
    pipeline_id: str, group_id: str, command_id: str | None = None
) -> Call[PipelineInfo]:
    """Move a pipeline to another group (checked against its quota); the reply is the pipeline."""
    command = MovePipeline(pipeline_id=pipeline_id, group_id=group_id, command_id=command_id)
    return Call(command, instance_of(PipelineInfo))


def group(group_id: str) -> Call[GroupInfo | None]:
    """One group, or None if there is none."""
    return Call(GetGroup(group_id=group_id), instance_or_none(GroupInfo))


def list_groups(limit: int | None = None, after: str | None = None) -> Call[GroupPage]:
    """One page of groups in id order; pass the page's ``next`` as ``after`` for the next."""
    return Call(ListGroups(limit=limit, after=after), instance_of(GroupPage))


def availability(
    cpu_percent: float,
    memory_mb: int,
    *,
    group: str | None = None,
    priority: int | None = None,
) -> Call[Availability]:
    """Whether the estimated usage fits (in ``group`` too, when given), the rule that binds if
    not, and the pipelines whose preemption would make room."""
    command = CheckResourceAvailability(
        estimated_cpu_percent=cpu_percent,
        estimated_memory_mb=memory_mb,
        group=group,
        detail=True,
        priority=priority,
    )
    return Call(command, instance_of(Availability))


def set_labels(
    pipeline_id: str, labels: Mapping[str, str], command_id: str | None = None
) -> Call[PipelineInfo]:
    """Replace a pipeline's labels; the reply is the pipeline after the change."""
    command = SetPipelineLabels(pipeline_id=pipeline_id, labels=dict(labels), command_id=command_id)
    return Call(command, instance_of(PipelineInfo))
