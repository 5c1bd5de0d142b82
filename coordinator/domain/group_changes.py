"""How events change the pipeline groups: a pipeline's charge and status count moving within its
group or between groups, and a group's own events (see ``state``, which applies them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_never

from coordinator.domain.change import Change
from coordinator.domain.events import (
    AnyGroupEvent,
    GroupCreated,
    GroupDeleted,
    GroupQuotaChanged,
    GroupStateChanged,
)
from coordinator.domain.groups import charge_of, group_info
from coordinator.domain.model import Group, PipelineInfo, PipelineStatus, Summary, latest
from coordinator.domain.wire import replaced


def counts_moved(
    counts: Mapping[PipelineStatus, int],
    before: PipelineStatus | None,
    after: PipelineStatus | None,
) -> dict[PipelineStatus, int]:
    moved = dict(counts)
    if before is not None:
        moved[before] = moved.get(before, 0) - 1
    if after is not None:
        moved[after] = moved.get(after, 0) + 1
    return moved


Charge = tuple[int, int]
"""A pipeline's charge or report: (CPU in exact units, memory in MB)."""


def charge_given(info: PipelineInfo | None, report: Charge) -> Charge:
    """``charge_of(info)``, given ``report`` (its report in exact units, which the caller has
    made already): the same unless the pipeline requested more than it reports."""
    if info is None:
        return 0, 0
    if info.requested_cpu_percent is None and info.requested_memory_mb is None:
        return report
    return charge_of(info)


def _group_moved(
    group: Group,
    old_charge: Charge,
    new_charge: Charge,
    old_status: PipelineStatus | None,
    new_status: PipelineStatus | None,
) -> Group:
    """``group`` with a pipeline's charge and status count moved from the old ones to the new
    (a pipeline that joins or leaves it has no old or no new ones: ``(0, 0)`` and None)."""
    if old_charge == new_charge and old_status == new_status:
        return group  # a status report of the same status: nothing to move
    update: dict[str, object] = {
        "charged_cpu": group.charged_cpu - old_charge[0] + new_charge[0],
        "charged_memory_mb": group.charged_memory_mb - old_charge[1] + new_charge[1],
    }
    if old_status != new_status:
        update["count_by_status"] = counts_moved(group.count_by_status, old_status, new_status)
    return replaced(group, update)


def groups_moved(
    groups: dict[str, Group],
    current: PipelineInfo | None,
    after: PipelineInfo | None,
    old_report: Charge,
    new_report: Charge,
) -> dict[str, Group]:
    """The groups after a pipeline changed from ``current`` to ``after``: its charge and its
    status count move within its group, or from one group to the other.

    ``old_report`` and ``new_report`` are the two reports in exact units (``(0, 0)`` for no
    pipeline), which ``state`` has made for the totals: a pipeline without requests is charged
    its report, so the common event (a report or a status in the default group) converts no
    float again. A status report of the same status copies nothing (the summary keeps the very
    same mapping); any other event copies only the groups it moves."""
    old = current.group if current is not None else None
    new = after.group if after is not None else None
    old_charge = charge_given(current, old_report)
    new_charge = charge_given(after, new_report)
    old_status = current.status if current is not None else None
    new_status = after.status if after is not None else None
    if old is not None and old == new:
        group = _known(groups, old)
        changed = _group_moved(group, old_charge, new_charge, old_status, new_status)
        if changed is group:
            return groups  # the same mapping: a summary that shares it changes nothing
        moved = dict(groups)
        moved[old] = changed
        return moved
    moved = dict(groups)
    if old is not None:
        moved[old] = _group_moved(_known(moved, old), old_charge, (0, 0), old_status, None)
    if new is not None:
        moved[new] = _group_moved(_known(moved, new), (0, 0), new_charge, None, new_status)
    return moved


def _known(groups: Mapping[str, Group], group_id: str) -> Group:
    """A group of the state; one that a journal names without having created it (not written
    by this coordinator) is made on the spot, so that folding never fails."""
    group = groups.get(group_id)
    return group if group is not None else Group(group_id=group_id)


def next_group(current: Group | None, event: AnyGroupEvent) -> Group | None:
    match event:
        case GroupCreated():
            return Group(
                group_id=event.group_id,
                labels=event.labels,
                revision=event.revision,
                created_at=event.timestamp,
            )
        case GroupQuotaChanged():
            base = current if current is not None else Group(group_id=event.group_id)
            return replaced(base, {"quota": event.quota, "revision": event.revision})
        case GroupStateChanged():
            base = current if current is not None else Group(group_id=event.group_id)
            return replaced(base, {"state": event.state, "revision": event.revision})
        case GroupDeleted():
            return None
        case _:
            assert_never(event)


def group_change(before: Summary, event: AnyGroupEvent) -> Change:
    """The change a group's own event makes: the summary's groups, and the group as the reply."""
    groups = dict(before.groups)
    after = next_group(groups.get(event.group_id), event)
    if after is None:
        groups.pop(event.group_id, None)
    else:
        groups[event.group_id] = after
    summary = replaced(
        before,
        {
            "seq": event.seq,
            "groups": groups,
            "last_updated": latest(event.timestamp, before.last_updated),
        },
    )
    reply = group_info(after) if after is not None else None
    return Change(None, None, summary, reply=reply)
