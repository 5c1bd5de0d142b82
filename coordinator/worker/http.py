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


def _answered(
    view: Any,
    service: CoordinatorService,
    command: dict[str, Any] | str,
    not_found: tuple[str, str] | None = None,
) -> Any:
    """The answer of the query ``command`` as the JSON of its reply's value: 503 while the worker
    recovers, 400 naming what is wrong (``command`` may be that already), and with ``not_found``
    (a code and a message) 404 for a null answer."""
    if service.role in (Role.STARTING, Role.RECOVERING):
        return _problem(view, 503, "the worker is recovering")
    if isinstance(command, str):
        return _problem(view, 400, command)
    code, value = _decided(service, command)
    if code != 200:
        return _problem(view, code, value)
    if value is None and not_found is not None:
        error = {"code": not_found[0], "message": not_found[1]}
        return view.bytes(json.dumps({"error": error}).encode(), content_type=JSON, status=404)
    return view.bytes(value.to_json(), content_type=JSON)


def _query_command(
    command_type: str, query: Any, parameters: tuple[str, ...]
) -> dict[str, Any] | str:
    """The query command of a request's parameters (``limit`` read as an integer), or what is
    wrong with them."""
    command: dict[str, Any] = {"type": command_type}
    limit_text = query.get("limit")
    if "limit" in parameters and limit_text:
        try:
            command["limit"] = int(limit_text)
        except ValueError:
            return "limit must be an integer"
    for parameter in parameters:
        if parameter != "limit" and query.get(parameter) is not None:
            command[parameter] = query.get(parameter)
    return command


def _add_query_routes(app: faust.App, service: CoordinatorService) -> None:
    """The read views answered by the same rules as their queries on the commands topic."""

    @app.page("/pipelines")
    async def pipelines(view: Any, request: Any) -> Any:
        parameters = ("limit", "status", "after", "group", "labelSelector", "namePrefix")
        command = _query_command("ListPipelines", request.query, parameters)
        if not isinstance(command, str) and command.get("status") == "":
            del command["status"]
        return _answered(view, service, command)

    @app.page("/groups")
    async def groups(view: Any, request: Any) -> Any:
        return _answered(
            view, service, _query_command("ListGroups", request.query, ("limit", "after"))
        )

    @app.page("/groups/{group_id}")
    async def group(view: Any, request: Any, group_id: str) -> Any:
        missing = ("GROUP_NOT_FOUND", f"group {group_id!r} does not exist")
        return _answered(view, service, {"type": "GetGroup", "groupId": group_id}, missing)

    @app.page("/reservations")
    async def reservations(view: Any, request: Any) -> Any:
        return _answered(
            view, service, _query_command("ListReservations", request.query, ("group",))
        )


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

    _add_query_routes(app, service)
