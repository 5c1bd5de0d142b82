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

Give ``on_preemption`` to hear when someone asks the pipeline to give way (``RequestPreemption``,
``coordinator preempt``): the reporter looks at the pipeline's info at start and every
``preemption_interval`` seconds (default: ``status_interval``) and calls it once per new request
with the ``PreemptionRequest`` (who it is for, and why). The coordinator stops nothing; what to
do (drain and stop, shrink) is the pipeline's to decide.

Errors while reporting are logged and reporting goes on: a coordinator that is down for a while
must not stop the pipeline. Errors while starting (no broker, no worker) are raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from types import TracebackType

from coordinator.client.aio import AsyncCoordinatorClient
from coordinator.client.errors import ClientError, CommandRefusedError
from coordinator.client.reporting import (
    RESOURCE_INTERVAL,
    STATUS_INTERVAL,
    Progress,
    Reporting,
    is_failure,
)
from coordinator.client.sync import CoordinatorClient
from coordinator.config import Settings

__all__ = [
    "RESOURCE_INTERVAL",
    "STATUS_INTERVAL",
    "AsyncPipelineReporter",
    "PipelineReporter",
    "Progress",
]

log = logging.getLogger(__name__)


class PipelineReporter(Reporting[CoordinatorClient]):
    """Registers a pipeline, reports for it from a background thread, and unregisters it.

    Use as a context manager, or call ``start()`` and ``stop(failed=...)``. Give it a
    ``CoordinatorClient`` to share one (it is then not closed here), or ``settings`` (default:
    from ``COORDINATOR_*``). With ``unregister_on_exit=False`` the pipeline stays registered
    and the final status (``stopped``, or ``failed``) is sent instead.
    """

    def _new_client(self, settings: Settings | None) -> CoordinatorClient:
        return CoordinatorClient(settings, label="reporter")

    def _init_waiting(self) -> None:
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
            status, resources, preemption = self._due(time.monotonic())
            try:
                if status:
                    self._send_status()
                if resources:
                    self._send_resources()
                if preemption:
                    self._look_for_preemption()
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

    def _look_for_preemption(self) -> None:
        try:
            request = self._new_request(self.client.pipeline_info(self.pipeline_id))
        except ClientError as exc:
            self._report_failed("Preemption look-up", exc)
            return
        if request is not None and self.on_preemption is not None:
            self.on_preemption(request)

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
        except ClientError as exc:
            self._unregistration_failed(exc)
        else:
            log.info("msg=Pipeline unregistered pipelineId=%s", self.pipeline_id)


class AsyncPipelineReporter(Reporting[AsyncCoordinatorClient]):
    """``PipelineReporter`` for asyncio: reports from a task. Use ``async with``.

    ``set_status``, ``add_records`` and ``set_records`` may be called from any thread.
    """

    def _new_client(self, settings: Settings | None) -> AsyncCoordinatorClient:
        return AsyncCoordinatorClient(settings, label="reporter")

    def _init_waiting(self) -> None:
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
            status, resources, preemption = self._due(time.monotonic())
            try:
                if status:
                    await self._send_status()
                if resources:
                    await self._send_resources()
                if preemption:
                    await self._look_for_preemption()
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

    async def _look_for_preemption(self) -> None:
        try:
            request = self._new_request(await self.client.pipeline_info(self.pipeline_id))
        except ClientError as exc:
            self._report_failed("Preemption look-up", exc)
            return
        if request is not None and self.on_preemption is not None:
            answer = self.on_preemption(request)
            if inspect.isawaitable(answer):
                await answer

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
        except ClientError as exc:
            self._unregistration_failed(exc)
        else:
            log.info("msg=Pipeline unregistered pipelineId=%s", self.pipeline_id)
