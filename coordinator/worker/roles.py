"""The worker's role, and the one place that changes it together with what it shows.

Entering a role sets the role, the readiness gauge and the active gauge at once, so the HTTP
probes and ``/metrics`` can never disagree with what the worker does.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from coordinator.worker.metrics import Metrics

log = logging.getLogger("coordinator")


class Role(StrEnum):
    STARTING = "starting"
    RECOVERING = "recovering"
    STANDBY = "standby"
    TAKING_OVER = "taking-over"
    ACTIVE = "active"
    STOPPED = "stopped"


READY_ROLES = frozenset({Role.ACTIVE, Role.STANDBY})
"""Serving, or a standby whose recovery is complete (``/health/ready`` is 200)."""


class RoleState:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self.role = Role.STARTING

    @property
    def ready(self) -> bool:
        return self.role in READY_ROLES

    @property
    def active(self) -> bool:
        return self.role is Role.ACTIVE

    def enter(self, role: Role) -> None:
        if self.role is Role.STOPPED:
            return  # nothing leaves STOPPED: a late callback must not revive a stopping worker
        if role is not self.role:
            log.debug("msg=Role changed from=%s to=%s", self.role.value, role.value)
        self.role = role
        self._metrics.ready.set(1 if role in READY_ROLES else 0)
        self._metrics.active.set(1 if role is Role.ACTIVE else 0)
