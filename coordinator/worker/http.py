"""The worker's HTTP endpoint (faust's web server): metrics, health probes and read-only views.

- ``/metrics``: Prometheus text format.
- ``/health/live``: 200 while the process serves HTTP at all.
- ``/health/ready``: 200 once recovery is complete and the worker is either serving or a
  standby following the journal; 503 (with the reason) while it recovers or takes over.
- ``/status``, ``/pipelines?status=&group=&labelSelector=&namePrefix=&limit=&after=``,
  ``/pipelines/{id}``, ``/groups?limit=&after=``, ``/groups/{id}``, ``/reservations?group=``:
  this worker's view of the state, in exactly the JSON of the ``GetSystemStatus``,
  ``ListPipelines``, ``GetPipelineInfo``, ``ListGroups``, ``GetGroup`` and ``ListReservations``
  replies (the queries are decided by the same rules as on the
  commands topic). A standby answers from the journal it has folded so far.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from coordinator.domain.codec import DecodeError, decode_command
from coordinator.domain.decider import Answered, Refused, decide
from coordinator.domain.queries import count_stale, marked_stale, stale_before, system_status
from coordinator.worker.processing import context_for
from coordinator.worker.roles import Role
from coordinator.worker.service import CoordinatorService

JSON = "application/json"


def _problem(view: Any, status: int, message: str) -> Any:
    body = json.dumps({"error": {"code": "INVALID_ARGUMENT", "message": message}}).encode()
    return view.bytes(body, content_type=JSON, status=status)


def _decided(service: CoordinatorService, command: dict[str, Any]) -> tuple[int, Any]:
    """The answer of a query decided against this worker's table, or a 400 naming what is
    wrong: the same rules as the command on the commands topic."""
    decoded = decode_command(json.dumps(command).encode())
    if isinstance(decoded, DecodeError):
        return 400, decoded.error.message
    decision = decide(decoded, service.table, context_for(service.settings, datetime.now(UTC)))
    if isinstance(decision, Refused):
        return 400, decision.error.message
    assert isinstance(decision, Answered)  # a query is answered or refused
    return 200, decision.value


def _add_group_routes(app: faust.App, service: CoordinatorService) -> None:
    @app.page("/groups")
    async def groups(view: Any, request: Any) -> Any:
        if service.role in (Role.STARTING, Role.RECOVERING):
            return _problem(view, 503, "the worker is recovering")
        limit_text = request.query.get("limit")
        try:
            limit = int(limit_text) if limit_text else None
        except ValueError:
            return _problem(view, 400, "limit must be an integer")
        command: dict[str, Any] = {"type": "ListGroups"}
        if limit is not None:
            command["limit"] = limit
        if request.query.get("after") is not None:
            command["after"] = request.query.get("after")
        code, value = _decided(service, command)
        if code != 200:
            return _problem(view, code, value)
        return view.bytes(value.to_json(), content_type=JSON)

    @app.page("/groups/{group_id}")
    async def group(view: Any, request: Any, group_id: str) -> Any:
        if service.role in (Role.STARTING, Role.RECOVERING):
            return _problem(view, 503, "the worker is recovering")
        code, value = _decided(service, {"type": "GetGroup", "groupId": group_id})
        if code != 200:
            return _problem(view, code, value)
        if value is None:
            body = {"code": "GROUP_NOT_FOUND", "message": f"group {group_id!r} does not exist"}
            return view.bytes(json.dumps({"error": body}).encode(), content_type=JSON, status=404)
        return view.bytes(value.to_json(), content_type=JSON)


def _add_reservation_route(app: faust.App, service: CoordinatorService) -> None:
    @app.page("/reservations")
    async def reservations(view: Any, request: Any) -> Any:
        if service.role in (Role.STARTING, Role.RECOVERING):
            return _problem(view, 503, "the worker is recovering")
        command: dict[str, Any] = {"type": "ListReservations"}
        if request.query.get("group") is not None:
            command["group"] = request.query.get("group")
        code, value = _decided(service, command)
        if code != 200:
            return _problem(view, code, value)
        return view.bytes(value.to_json(), content_type=JSON)


def add_routes(app: faust.App, service: CoordinatorService) -> None:
    settings = service.settings

    @app.page("/metrics")
    async def metrics(view: Any, request: Any) -> Any:
        table = service.table
        service.metrics.stale.set(count_stale(table, settings.stale_after))
        service.metrics.observe_summary(table.summary)
        lag = await service.commands_lag()
        # Only the active worker knows; a standby (or one that stepped down) reports none.
        service.metrics.lag.set(lag if lag is not None else 0)
        body = generate_latest(service.metrics.registry)
        return view.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health/live")
    async def live(view: Any, request: Any) -> Any:
        return view.bytes(b'{"live":true}', content_type=JSON)

    @app.page("/health/ready")
    async def ready(view: Any, request: Any) -> Any:
        body: dict[str, object] = {
            "ready": service.ready,
            "role": service.role.value,
            "seq": service.table.summary.seq,
            "worker": settings.worker_name,
        }
        if service.recovery is not None:
            body["recovery"] = {
                "source": service.recovery.source,
                "eventsReplayed": service.recovery.events_replayed,
                "seconds": round(service.recovery.seconds, 3),
            }
        status = 200 if service.ready else 503
        return view.bytes(
            json.dumps(body, separators=(",", ":")).encode(), content_type=JSON, status=status
        )

    @app.page("/status")
    async def status(view: Any, request: Any) -> Any:
        if service.role in (Role.STARTING, Role.RECOVERING):
            return _problem(view, 503, "the worker is recovering")
        table = service.table
        limits = table.summary.limits_over(settings.limits)
        value = system_status(table, limits, settings.max_reply_bytes, settings.stale_after)
        return view.bytes(value.to_json(), content_type=JSON)

    @app.page("/pipelines")
    async def pipelines(view: Any, request: Any) -> Any:
        if service.role in (Role.STARTING, Role.RECOVERING):
            return _problem(view, 503, "the worker is recovering")
        query = request.query
        limit_text = query.get("limit")
        try:
            limit = int(limit_text) if limit_text else None
        except ValueError:
            return _problem(view, 400, "limit must be an integer")
        command: dict[str, Any] = {"type": "ListPipelines", "limit": limit}
        for parameter in ("status", "after", "group", "labelSelector", "namePrefix"):
            if query.get(parameter) is not None:
                command[parameter] = query.get(parameter)
        if command.get("status") == "":
            del command["status"]
        code, value = _decided(
            service, {name: given for name, given in command.items() if given is not None}
        )
        if code != 200:
            return _problem(view, code, value)
        return view.bytes(value.to_json(), content_type=JSON)

    @app.page("/pipelines/{pipeline_id}")
    async def pipeline(view: Any, request: Any, pipeline_id: str) -> Any:
        if service.role in (Role.STARTING, Role.RECOVERING):
            return _problem(view, 503, "the worker is recovering")
        info = service.table.pipeline(pipeline_id)
        if info is None:
            body = json.dumps(
                {
                    "error": {
                        "code": "PIPELINE_NOT_FOUND",
                        "message": f"pipeline {pipeline_id!r} is not registered",
                    }
                }
            ).encode()
            return view.bytes(body, content_type=JSON, status=404)
        cutoff = stale_before(service.table, settings.stale_after)
        marked = marked_stale(info, cutoff)
        assert marked is not None
        return view.bytes(marked.to_json(), content_type=JSON)

    _add_group_routes(app, service)
    _add_reservation_route(app, service)
