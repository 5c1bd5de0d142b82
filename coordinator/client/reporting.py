"""What both pipeline reporters share: the pipeline's progress, what is due when, the messages.

``PipelineReporter`` (a thread) and ``AsyncPipelineReporter`` (a task) in ``reporter`` differ only
in how they wait and send; the options they take, the progress they report and the schedule are
here.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from coordinator.client.calls import status_of
from coordinator.client.errors import ClientError, CommandRefusedError
from coordinator.client.resources import ProcessResources, ResourceSample
from coordinator.config import Settings
from coordinator.domain.model import PipelineInfo, PipelineStatus, PreemptionRequest
from coordinator.domain.replies import ErrorCode

log = logging.getLogger("coordinator.client.reporter")

C = TypeVar("C")

STATUS_INTERVAL = 30.0
RESOURCE_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class Progress:
    """What a status update says: the pipeline's status and its record counts so far."""

    status: PipelineStatus
    total_records: int = 0
    failed_records: int = 0


def is_failure(error: BaseException | None) -> bool:
    """An exception means the pipeline failed; Ctrl-C, exit and cancellation mean it stopped."""
    return isinstance(error, Exception)


class Reporting(Generic[C]):
    """What both reporters share: the pipeline's progress, what is due when, and the messages.

    ``C`` is the client it sends with. Give it a client to share one (it is then not closed
    here), or ``settings`` for the one it makes (default: from ``COORDINATOR_*``).
    """

    def __init__(
        self,
        pipeline_id: str,
        name: str,
        *,
        client: C | None = None,
        settings: Settings | None = None,
        status_interval: float = STATUS_INTERVAL,
        resource_interval: float = RESOURCE_INTERVAL,
        status: PipelineStatus | str = PipelineStatus.RUNNING,
        progress: Callable[[], Progress] | None = None,
        resources: Callable[[], ResourceSample] | None = None,
        unregister_on_exit: bool = True,
        on_preemption: Callable[[PreemptionRequest], object] | None = None,
        preemption_interval: float | None = None,
    ) -> None:
        if status_interval <= 0 or resource_interval <= 0:
            raise ValueError("status_interval and resource_interval must be positive")
        if preemption_interval is not None and preemption_interval <= 0:
            raise ValueError("preemption_interval must be positive")
        self.pipeline_id = pipeline_id
        self.name = name
        self.status_interval = status_interval
        self.resource_interval = resource_interval
        self.unregister_on_exit = unregister_on_exit
        self._owns_client = client is None
        self.client: C = client if client is not None else self._new_client(settings)
        self._progress_source = progress
        self._resources = resources if resources is not None else ProcessResources().sample
        self._lock = threading.Lock()
        self._status = status_of(status)
        self._total = 0
        self._failed = 0
        self._status_due = 0.0
        self._resources_due = 0.0
        self.on_preemption = on_preemption
        """Called (in the reporting thread or task; awaited if it returns an awaitable) with each
        new request that the pipeline give way (``RequestPreemption``)."""
        self.preemption_interval = (
            preemption_interval if preemption_interval is not None else status_interval
        )
        self._preemption_due = math.inf
        self._preemption_seen: PreemptionRequest | None = None
        self.sent_status = 0
        """Status updates sent so far (for tests and diagnostics)."""
        self.sent_resources = 0
        """Resource reports sent so far."""
        self._init_waiting()

    def _new_client(self, settings: Settings | None) -> C:
        raise NotImplementedError

    def _init_waiting(self) -> None:
        """Set up what the reporting loop waits on."""

    # -- what the pipeline tells the reporter --------------------------------------------------

    def set_status(self, status: PipelineStatus | str) -> None:
        """The pipeline's status changed: it is sent at once (and with every update after)."""
        with self._lock:
            self._status = status_of(status)
            self._status_due = 0.0
        self._wake()

    def add_records(self, total: int, failed: int = 0) -> None:
        """``total`` more records processed, ``failed`` of them failed."""
        if total < 0 or failed < 0 or failed > total:
            raise ValueError(f"need 0 <= failed <= total, got total={total} failed={failed}")
        with self._lock:
            self._total += total
            self._failed += failed

    def set_records(self, total: int, failed: int = 0) -> None:
        """The record counts so far, as the pipeline counts them."""
        if total < 0 or failed < 0 or failed > total:
            raise ValueError(f"need 0 <= failed <= total, got total={total} failed={failed}")
        with self._lock:
            self._total = total
            self._failed = failed

    def progress(self) -> Progress:
        """What the next status update says: the ``progress`` callable's answer if one was
        given, else what ``set_status``/``add_records``/``set_records`` said."""
        if self._progress_source is not None:
            return self._progress_source()
        return self._own_progress()

    def _own_progress(self) -> Progress:
        with self._lock:
            return Progress(self._status, self._total, self._failed)

    def _wake(self) -> None:
        """Make the reporting loop look at what is due now."""

    # -- the schedule ---------------------------------------------------------------------------

    def _begin(self, now: float) -> None:
        self._status_due = now + self.status_interval
        self._resources_due = now + self.resource_interval
        if self.on_preemption is not None:
            self._preemption_due = now  # a request made while the pipeline was down, too

    def _due(self, now: float) -> tuple[bool, bool, bool]:
        """Whether a status update, a resource report and a look for a preemption request are
        due; moves their next times on."""
        with self._lock:
            status = now >= self._status_due
            resources = now >= self._resources_due
            preemption = now >= self._preemption_due
            if status:
                self._status_due = now + self.status_interval
            if resources:
                self._resources_due = now + self.resource_interval
            if preemption:
                self._preemption_due = now + self.preemption_interval
            return status, resources, preemption

    def _seconds_to_next(self, now: float) -> float:
        with self._lock:
            return max(0.0, min(self._status_due, self._resources_due, self._preemption_due) - now)

    def _new_request(self, info: PipelineInfo | None) -> PreemptionRequest | None:
        """The pipeline's preemption request, if it is one not handed to ``on_preemption``
        yet."""
        request = info.preemption_requested if info is not None else None
        if request is None or request == self._preemption_seen:
            return None
        self._preemption_seen = request
        log.info(
            "msg=Preemption requested pipelineId=%s forPipelineId=%s reason=%s",
            self.pipeline_id,
            request.for_pipeline_id or "-",
            request.reason,
        )
        return request

    def _final_progress(self, failed: bool) -> Progress:
        try:
            current = self.progress()
        except Exception:  # the last word must not raise over the pipeline's own exception
            log.exception("msg=Progress unavailable pipelineId=%s", self.pipeline_id)
            current = self._own_progress()
        if not failed:
            return Progress(PipelineStatus.STOPPED, current.total_records, current.failed_records)
        return Progress(PipelineStatus.FAILED, current.total_records, current.failed_records)

    def _registered(self) -> None:
        log.info("msg=Pipeline registered pipelineId=%s name=%s", self.pipeline_id, self.name)

    def _registration_refused(self, refused: CommandRefusedError) -> None:
        """Registered before (a restarted process) is fine; any other refusal is not."""
        if refused.code is not ErrorCode.PIPELINE_ALREADY_REGISTERED:
            raise refused
        log.info("msg=Pipeline already registered pipelineId=%s", self.pipeline_id)

    def _unregistration_failed(self, error: ClientError) -> None:
        """Unregistered already (by an operator, say) is fine; other errors are logged."""
        if isinstance(error, CommandRefusedError) and error.code is ErrorCode.PIPELINE_NOT_FOUND:
            return
        self._report_failed("Unregistration", error)

    def _report_failed(self, what: str, error: Exception) -> None:
        log.warning("msg=%s failed pipelineId=%s error=%s", what, self.pipeline_id, error)
