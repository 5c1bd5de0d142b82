"""The pipeline side: register on start, report on a timer, unregister at the end.

The design document's "Integration with PipelineAggregate", for a Python pipeline process::

    with PipelineReporter("pipeline-123", "User Events Pipeline") as reporter:
        for batch in source:
            ...
            reporter.add_records(len(batch), failed=errors)

On start the pipeline is registered (one registered before, e.g. by the previous run of a
restarted process, is fine: ``PIPELINE_ALREADY_REGISTERED`` is not an error here) and its status
is sent at once; then a status update every ``status_interval`` seconds (30) and a resource
report (process CPU % and RSS MB, from psutil) every ``resource_interval`` seconds (60). On a
clean exit the pipeline is unregistered; when the block raises, a final ``failed`` status is
sent first. Status and record counts come from ``set_status``/``add_records``/``set_records``,
or from a ``progress`` callable asked at each update. ``set_status`` sends an update at once.

Errors while reporting are logged and reporting goes on: a coordinator that is down for a while
must not stop the pipeline. Errors while starting (no broker, no worker) are raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from coordinator.client.aio import AsyncCoordinatorClient
from coordinator.client.calls import status_of
from coordinator.client.errors import ClientError, CommandRefusedError
from coordinator.client.resources import ProcessResources, ResourceSample
from coordinator.client.sync import CoordinatorClient
from coordinator.config import Settings
from coordinator.domain.model import PipelineStatus
from coordinator.domain.replies import ErrorCode

log = logging.getLogger(__name__)

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


class _Reporting:
    """What both reporters share: the pipeline's progress, what is due when, and the messages."""

    def __init__(
        self,
        pipeline_id: str,
        name: str,
        *,
        status_interval: float,
        resource_interval: float,
        status: PipelineStatus | str,
        progress: Callable[[], Progress] | None,
        resources: Callable[[], ResourceSample] | None,
        unregister_on_exit: bool,
    ) -> None:
        if status_interval <= 0 or resource_interval <= 0:
            raise ValueError("status_interval and resource_interval must be positive")
        self.pipeline_id = pipeline_id
        self.name = name
        self.status_interval = status_interval
        self.resource_interval = resource_interval
        self.unregister_on_exit = unregister_on_exit
        self._progress_source = progress
        self._resources = resources if resources is not None else ProcessResources().sample
        self._lock = threading.Lock()
        self._status = status_of(status)
        self._total = 0
        self._failed = 0
        self._status_due = 0.0
        self._resources_due = 0.0
        self.sent_status = 0
        """Status updates sent so far (for tests and diagnostics)."""
        self.sent_resources = 0
        """Resource reports sent so far."""

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

    def _due(self, now: float) -> tuple[bool, bool]:
        """Whether a status update and a resource report are due; moves their next times on."""
        with self._lock:
            status = now >= self._status_due
            resources = now >= self._resources_due
            if status:
                self._status_due = now + self.status_interval
            if resources:
                self._resources_due = now + self.resource_interval
            return status, resources

    def _seconds_to_next(self, now: float) -> float:
        with self._lock:
            return max(0.0, min(self._status_due, self._resources_due) - now)

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

    def _report_failed(self, what: str, error: Exception) -> None:
        log.warning("msg=%s failed pipelineId=%s error=%s", what, self.pipeline_id, error)


class PipelineReporter(_Reporting):
    """Registers a pipeline, reports for it from a background thread, and unregisters it.

    Use as a context manager, or call ``start()`` and ``stop(failed=...)``. Give it a
    ``CoordinatorClient`` to share one (it is then not closed here), or ``settings`` (default:
    from ``COORDINATOR_*``). With ``unregister_on_exit=False`` the pipeline stays registered
    and the final status (``stopped``, or ``failed``) is sent instead.
    """

    def __init__(
        self,
        pipeline_id: str,
        name: str,
        *,
        client: CoordinatorClient | None = None,
        settings: Settings | None = None,
        status_interval: float = STATUS_INTERVAL,
        resource_interval: float = RESOURCE_INTERVAL,
        status: PipelineStatus | str = PipelineStatus.RUNNING,
        progress: Callable[[], Progress] | None = None,
        resources: Callable[[], ResourceSample] | None = None,
        unregister_on_exit: bool = True,
    ) -> None:
        super().__init__(
            pipeline_id,
            name,
            status_interval=status_interval,
            resource_interval=resource_interval,
            status=status,
            progress=progress,
            resources=resources,
            unregister_on_exit=unregister_on_exit,
        )
        self._owns_client = client is None
        self.client = (
            client if client is not None else CoordinatorClient(settings, label="reporter")
        )
        self._stop = threading.Event()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PipelineReporter:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop(failed=is_failure(error))

    def start(self) -> PipelineReporter:
        """Register (or find registered), send the status, and start reporting."""
        try:
            try:
                self.client.register(self.pipeline_id, self.name)
                self._registered()
            except CommandRefusedError as refused:
                self._registration_refused(refused)
            self._send_status()
            self._begin(time.monotonic())
        except BaseException:
            if self._owns_client:
                self.client.close()
            raise
        self._thread = threading.Thread(
            target=self._run, name=f"reporter-{self.pipeline_id}", daemon=True
        )
        self._thread.start()
        return self

    def _wake(self) -> None:
        self._wakeup.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            status, resources = self._due(time.monotonic())
            try:
                if status:
                    self._send_status()
                if resources:
                    self._send_resources()
            except Exception:  # a user's callable (progress, resources) must not end reporting
                log.exception("msg=Reporting failed pipelineId=%s", self.pipeline_id)
            self._wakeup.wait(self._seconds_to_next(time.monotonic()))
            self._wakeup.clear()

    def _send_status(self, progress: Progress | None = None) -> None:
        current = progress if progress is not None else self.progress()
        try:
            self.client.update_status(
                self.pipeline_id, current.status, current.total_records, current.failed_records
            )
            self.sent_status += 1
        except (ClientError, ValueError) as exc:
            self._report_failed("Status update", exc)

    def _send_resources(self) -> None:
        try:
            sample = self._resources()
            self.client.report_resources(self.pipeline_id, sample.cpu_percent, sample.memory_mb)
            self.sent_resources += 1
        except (ClientError, ValueError, OSError) as exc:
            self._report_failed("Resource report", exc)

    def stop(self, failed: bool = False) -> None:
        """Stop reporting; send ``failed`` if so; unregister (unless told not to). Idempotent."""
        if self._thread is None:
            return
        self._stop.set()
        self._wakeup.set()
        self._thread.join()
        self._thread = None
        try:
            if failed or not self.unregister_on_exit:
                self._send_status(self._final_progress(failed))
            if self.unregister_on_exit:
                self._unregister()
        finally:
            if self._owns_client:
                self.client.close()

    def _unregister(self) -> None:
        try:
            self.client.unregister(self.pipeline_id)
            log.info("msg=Pipeline unregistered pipelineId=%s", self.pipeline_id)
        except CommandRefusedError as refused:
            if refused.code is not ErrorCode.PIPELINE_NOT_FOUND:
                self._report_failed("Unregistration", refused)
        except ClientError as exc:
            self._report_failed("Unregistration", exc)


class AsyncPipelineReporter(_Reporting):
    """``PipelineReporter`` for asyncio: reports from a task. Use ``async with``.

    ``set_status``, ``add_records`` and ``set_records`` may be called from any thread.
    """

    def __init__(
        self,
        pipeline_id: str,
        name: str,
        *,
        client: AsyncCoordinatorClient | None = None,
        settings: Settings | None = None,
        status_interval: float = STATUS_INTERVAL,
        resource_interval: float = RESOURCE_INTERVAL,
        status: PipelineStatus | str = PipelineStatus.RUNNING,
        progress: Callable[[], Progress] | None = None,
        resources: Callable[[], ResourceSample] | None = None,
        unregister_on_exit: bool = True,
    ) -> None:
        super().__init__(
            pipeline_id,
            name,
            status_interval=status_interval,
            resource_interval=resource_interval,
            status=status,
            progress=progress,
            resources=resources,
            unregister_on_exit=unregister_on_exit,
        )
        self._owns_client = client is None
        self.client = (
            client if client is not None else AsyncCoordinatorClient(settings, label="reporter")
        )
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup = asyncio.Event()
        self._stopping = False

    async def __aenter__(self) -> AsyncPipelineReporter:
        return await self.start()

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        await self.stop(failed=is_failure(error))

    async def start(self) -> AsyncPipelineReporter:
        """Register (or find registered), send the status, and start reporting."""
        try:
            try:
                await self.client.register(self.pipeline_id, self.name)
                self._registered()
            except CommandRefusedError as refused:
                self._registration_refused(refused)
            await self._send_status()
            self._begin(time.monotonic())
        except BaseException:
            if self._owns_client:
                await self.client.close()
            raise
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=f"reporter-{self.pipeline_id}")
        return self

    def _wake(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wakeup.set)

    async def _run(self) -> None:
        while not self._stopping:
            status, resources = self._due(time.monotonic())
            try:
                if status:
                    await self._send_status()
                if resources:
                    await self._send_resources()
            except Exception:  # a user's callable (progress, resources) must not end reporting
                log.exception("msg=Reporting failed pipelineId=%s", self.pipeline_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._seconds_to_next(time.monotonic()))
            self._wakeup.clear()

    async def _send_status(self, progress: Progress | None = None) -> None:
        current = progress if progress is not None else self.progress()
        try:
            await self.client.update_status(
                self.pipeline_id, current.status, current.total_records, current.failed_records
            )
            self.sent_status += 1
        except (ClientError, ValueError) as exc:
            self._report_failed("Status update", exc)

    async def _send_resources(self) -> None:
        try:
            sample = self._resources()
            await self.client.report_resources(
                self.pipeline_id, sample.cpu_percent, sample.memory_mb
            )
            self.sent_resources += 1
        except (ClientError, ValueError, OSError) as exc:
            self._report_failed("Resource report", exc)

    async def stop(self, failed: bool = False) -> None:
        """Stop reporting; send ``failed`` if so; unregister (unless told not to). Idempotent."""
        if self._task is None:
            return
        task, self._task = self._task, None
        # Not cancelled: a report being sent is finished first (its wait is bounded).
        self._stopping = True
        self._wakeup.set()
        await task
        try:
            if failed or not self.unregister_on_exit:
                await self._send_status(self._final_progress(failed))
            if self.unregister_on_exit:
                await self._unregister()
        finally:
            if self._owns_client:
                await self.client.close()

    async def _unregister(self) -> None:
        try:
            await self.client.unregister(self.pipeline_id)
            log.info("msg=Pipeline unregistered pipelineId=%s", self.pipeline_id)
        except CommandRefusedError as refused:
            if refused.code is not ErrorCode.PIPELINE_NOT_FOUND:
                self._report_failed("Unregistration", refused)
        except ClientError as exc:
            self._report_failed("Unregistration", exc)
