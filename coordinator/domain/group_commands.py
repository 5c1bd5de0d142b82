"""The commands about pipeline groups: their definition, quota and state, moves between them, and
the queries that read them (docs/protocol.md, "Pipeline groups")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from coordinator.domain.command_base import CommandModel, Declaration, SuccessReply
from coordinator.domain.events import (
    GroupCreated,
    GroupDeleted,
    GroupQuotaChanged,
    GroupStateChanged,
    PipelineMoved,
)
from coordinator.domain.model import GroupStateField


class CreateGroup(CommandModel):
    declared = Declaration(
        "Create a pipeline group (open, without a quota).",
        SuccessReply.RESULT,
        emits=(GroupCreated,),
        answer="the group",
        refused_when="a group with the id exists (GROUP_ALREADY_EXISTS)",
    )

    type: Literal["CreateGroup"] = "CreateGroup"
    group_id: str
    labels: dict[str, str] | None = None


class SetGroupQuota(CommandModel):
    declared = Declaration(
        "Set a group's quota (a dimension left out keeps its value; null removes its cap).",
        SuccessReply.RESULT,
        emits=(GroupQuotaChanged,),
        answer="the group",
        refused_when=(
            "the group does not exist (GROUP_NOT_FOUND) or expectedRevision is not its "
            "revision (REVISION_CONFLICT)"
        ),
    )

    explicit_nulls = frozenset({"max_cpu_percent", "max_memory_mb", "max_pipelines"})

    type: Literal["SetGroupQuota"] = "SetGroupQuota"
    group_id: str
    max_cpu_percent: float | None = None
    max_memory_mb: int | None = Field(default=None, alias="maxMemoryMB")
    max_pipelines: int | None = None
    expected_revision: int | None = None
    reason: str | None = None


class SetGroupState(CommandModel):
    declared = Declaration(
        "Open or close a group: a closed group refuses new pipelines, its own stay.",
        SuccessReply.RESULT,
        emits=(GroupStateChanged,),
        answer="the group",
        refused_when="the group does not exist (GROUP_NOT_FOUND)",
    )

    type: Literal["SetGroupState"] = "SetGroupState"
    group_id: str
    state: GroupStateField
    expected_revision: int | None = None


class DeleteGroup(CommandModel):
    declared = Declaration(
        "Delete an empty group.",
        SuccessReply.RESULT,
        emits=(GroupDeleted,),
        answer="null",
        refused_when=(
            "the group does not exist (GROUP_NOT_FOUND), has pipelines (GROUP_NOT_EMPTY) or is "
            "the default group"
        ),
    )

    type: Literal["DeleteGroup"] = "DeleteGroup"
    group_id: str


class MovePipeline(CommandModel):
    declared = Declaration(
        "Move a pipeline to another group, checked against that group's quota.",
        SuccessReply.RESULT,
        emits=(PipelineMoved,),
        answer="the pipeline after the move",
        refused_when=(
            "the pipeline or the group does not exist, the group is closed (GROUP_CLOSED) or "
            "its quota would be exceeded (QUOTA_EXCEEDED)"
        ),
    )

    type: Literal["MovePipeline"] = "MovePipeline"
    pipeline_id: str
    group_id: str


class GetGroup(CommandModel):
    declared = Declaration(
        "Ask for one pipeline group.",
        SuccessReply.VALUE,
        answer="its quota, usage, counts by status, state and revision, or null if none",
    )

    type: Literal["GetGroup"] = "GetGroup"
    group_id: str


class ListGroups(CommandModel):
    declared = Declaration(
        "Ask for one page of groups in id order.",
        SuccessReply.VALUE,
        answer="the page: items, and next (pass it as after to get the following page)",
    )

    type: Literal["ListGroups"] = "ListGroups"
    limit: int | None = None
    after: str | None = None
