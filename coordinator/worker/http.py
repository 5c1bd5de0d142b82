"""The worker's HTTP endpoint (faust's web server): metrics, health probes and read-only views.

- ``/metrics``: Prometheus text format.
- ``/health/live``: 200 while the process serves HTTP at all.
- ``/health/ready``: 200 once recovery is complete and the worker is either serving or a
  standby following the journal; 503 (with the reason) while it recovers or takes over.
- ``/status``, ``/pipelines?status=&limit=&after=``, ``/pipelines/{id}``: this worker's view of
  the state, in exactly the JSON of the ``GetSystemStatus``, ``ListPipelines`` and
  ``GetPipelineInfo`` replies. A standby answers from the journal it has folded so far.
"""

from __future__ import annotations

import json
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from coordinator.domain.model import PipelineStatus
from coordinator.domain.queries import count_stale, list_page, system_status
from coordinator.domain.validation import MAX_ID_LENGTH
from coordinator.worker.roles import Role
from coordinator.worker.service import CoordinatorService

JSON = "application/json"


def _problem(view: Any, status: int, message: str) -> Any:
    body = json.dumps({"error": {"code": "INVALID_ARGUMENT", "message": message}}).encode()
    return view.bytes(body, content_type=JSON, status=status)


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
        status_text = query.get("status")
        limit_text = query.get("limit")
        after = query.get("after")
        try:
            wanted = PipelineStatus(status_text.lower()) if status_text else None
        except ValueError:
            allowed = ", ".join(s.value for s in PipelineStatus)
            return _problem(view, 400, f"status must be one of {allowed}")
        try:
            limit = int(limit_text) if limit_text else None
        except ValueError:
            return _problem(view, 400, "limit must be an integer")
        if limit is not None and limit < 1:
            return _problem(view, 400, "limit must be at least 1")
        if after is not None and len(after) > MAX_ID_LENGTH:
            return _problem(view, 400, f"after must be at most {MAX_ID_LENGTH} characters")
        page = list_page(service.table, wanted, limit, after, settings.max_reply_bytes)
        return view.bytes(page.to_json(), content_type=JSON)

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
        return view.bytes(info.to_json(), content_type=JSON)
