"""How events change the pipeline groups: a pipeline's charge and status count moving within its
group or between groups, and a group's own events (see ``state``, which applies them).

The default group's usage is not kept (``Summary.groups`` makes it from the totals less the other
groups'): the events of its pipelines, most events, change no group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_never

from coordinator.domain.change import Change, summary_after
from coordinator.domain.events import (
    AnyGroupEvent,
    GroupCreated,
    GroupDeleted,
    GroupQuotaChanged,
    GroupStateChanged,
)
from coordinator.domain.groups import charge_of, group_info
from coordinator.domain.model import (
    DEFAULT_GROUP,
    Group,
    PipelineInfo,
    PipelineStatus,
    Summary,
)
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
    """``charge_of(info)``, given ``report`` (its report in exact units, ``(0, 0)`` for no
    pipeline, which the caller has made already): ``report`` itself for a pipeline without
    requests, so that a caller can tell by identity that it is charged no more than it reports."""
    if info is None or (info.requested_cpu_percent is None and info.requested_memory_mb is None):
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
    stored: dict[str, Group],
    current: PipelineInfo | None,
    after: PipelineInfo | None,
    old_charge: Charge,
    new_charge: Charge,
) -> dict[str, Group]:
    """The summary's stored groups after a pipeline charged ``old_charge`` changed from
    ``current`` to ``after``, charged ``new_charge``: its charge and its status count move within
    its group, or from one group to the other.

    The default group's usage is implicit (``Summary.groups``: the totals less the other
    groups'), so a pipeline of the default group moves nothing here, and its events (most of
    them) return the very same mapping; an event in another group copies that group alone."""
    old = current.group if current is not None else None
    new = after.group if after is not None else None
    if old == DEFAULT_GROUP:
        old = None
    if new == DEFAULT_GROUP:
        new = None
    if old is None and new is None:
        return stored
    old_status = current.status if current is not None else None
    new_status = after.status if after is not None else None
    if old is not None and old == new:
        group = _known(stored, old)
        changed = _group_moved(group, old_charge, new_charge, old_status, new_status)
        if changed is group:
            return stored  # the same mapping: a summary that shares it changes nothing
        moved = dict(stored)
        moved[old] = changed
        return moved
    moved = dict(stored)
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
    stored = dict(before.stored_groups)
    after = next_group(stored.get(event.group_id), event)
    if after is None:
        stored.pop(event.group_id, None)
    else:
        stored[event.group_id] = after
    summary = summary_after(before, event.seq, event.timestamp, {"stored_groups": stored})
    # The group as the summary shows it: the default group's usage is made there.
    reply = group_info(summary.groups[event.group_id], summary) if after is not None else None
    return Change(None, None, summary, reply=reply)
