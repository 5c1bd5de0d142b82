"""The reporter's behaviour against a recording stand-in for the client (no Kafka): what it
sends on start, on its timers, on ``set_status``, at a clean or failed exit, and after errors."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from coordinator.client import (
    AsyncPipelineReporter,
    CommandRefusedError,
    DeliveryError,
    PipelineReporter,
    ProcessResources,
    Progress,
    ResourceSample,
)
from coordinator.domain.model import PipelineInfo, PipelineStatus, PreemptionRequest
from coordinator.domain.replies import ErrorCode, ErrorInfo, error_reply

FAST: dict[str, Any] = {
    "status_interval": 0.05,
    "resource_interval": 0.08,
    "resources": lambda: ResourceSample(cpu_percent=5.0, memory_mb=64),
}


T0 = datetime(2026, 11, 27, 3, 52, 48, 480000, tzinfo=UTC)
INFO = PipelineInfo(
    pipeline_id="p1",
    name="P",
    status=PipelineStatus.RUNNING,
    total_records=0,
    failed_records=0,
    cpu_percent=0.0,
    memory_mb=0,
    registered_at=T0,
    last_heartbeat=T0,
)


def refused(code: ErrorCode) -> CommandRefusedError:
    return CommandRefusedError(error_reply("c", "c", "x", ErrorInfo(code=code, message="no")))


class Recorder:
    """Stands in for ``CoordinatorClient``: records every call, raises what it is told to."""

    def __init__(self, fail: dict[str, Exception] | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = dict(fail or {})
        self.lock = threading.Lock()
        self.info: PipelineInfo | None = None
        """What ``pipeline_info`` answers (set it to show a preemption request)."""

    def ask_to_give_way(self, reason: str) -> PreemptionRequest:
        request = PreemptionRequest(requested_at=T0, for_pipeline_id="vip", reason=reason)
        with self.lock:
            self.info = INFO.model_copy(update={"preemption_requested": request})
        return request

    def _record(self, *call: Any) -> None:
        with self.lock:
            self.calls.append(call)
        error = self.fail.pop(call[0], None)
        if error is not None:
            raise error

    def register(self, pipeline_id: str, name: str) -> None:
        self._record("register", pipeline_id, name)

    def unregister(self, pipeline_id: str) -> None:
        self._record("unregister", pipeline_id)

    def update_status(self, pipeline_id: str, status: Any, total: int, failed: int) -> None:
        self._record("status", str(status), total, failed)

    def report_resources(self, pipeline_id: str, cpu: float, memory: int) -> None:
        self._record("resources", cpu, memory)

    def pipeline_info(self, pipeline_id: str) -> PipelineInfo | None:
        self._record("info", pipeline_id)
        with self.lock:
            return self.info

    def close(self) -> None:
        self._record("close")

    def kinds(self) -> list[str]:
        with self.lock:
            return [call[0] for call in self.calls]


class AsyncRecorder(Recorder):
    async def register(self, pipeline_id: str, name: str) -> None:  # type: ignore[override]
        super().register(pipeline_id, name)

    async def unregister(self, pipeline_id: str) -> None:  # type: ignore[override]
        super().unregister(pipeline_id)

    async def update_status(self, *args: Any) -> None:  # type: ignore[override]
        super().update_status(*args)

    async def report_resources(self, *args: Any) -> None:  # type: ignore[override]
        super().report_resources(*args)

    async def pipeline_info(self, pipeline_id: str) -> PipelineInfo | None:  # type: ignore[override]
        return super().pipeline_info(pipeline_id)

    async def close(self) -> None:  # type: ignore[override]
        super().close()


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.01)


def test_start_registers_and_sends_the_status_at_once() -> None:
    client = Recorder()

    with PipelineReporter("p1", "Pipeline 1", client=client, status_interval=60) as reporter:  # type: ignore[arg-type]
        assert client.calls == [("register", "p1", "Pipeline 1"), ("status", "running", 0, 0)]
        assert reporter.sent_status == 1

    assert client.calls[-1] == ("unregister", "p1")
    assert "close" not in client.kinds()  # a client given is the caller's to close


def test_timers_send_status_updates_and_resource_reports() -> None:
    client = Recorder()

    with PipelineReporter("p1", "P", client=client, **FAST) as reporter:  # type: ignore[arg-type]
        reporter.add_records(10, failed=1)
        reporter.add_records(5)
        wait_until(lambda: reporter.sent_status >= 4 and reporter.sent_resources >= 2)

    assert ("status", "running", 15, 1) in client.calls
    assert ("resources", 5.0, 64) in client.calls
    assert client.kinds()[-1] == "unregister"


def test_set_status_is_sent_without_waiting_for_the_timer() -> None:
    client = Recorder()

    with PipelineReporter("p1", "P", client=client, status_interval=60) as reporter:  # type: ignore[arg-type]
        reporter.set_status("PAUSED")
        wait_until(lambda: reporter.sent_status == 2)

    assert client.calls[2] == ("status", "paused", 0, 0)


def test_an_exception_sends_failed_then_unregisters() -> None:
    client = Recorder()

    with pytest.raises(KeyError):
        with PipelineReporter("p1", "P", client=client, status_interval=60) as reporter:  # type: ignore[arg-type]
            reporter.set_records(100, 7)
            raise KeyError("boom")

    assert client.calls[-2:] == [("status", "failed", 100, 7), ("unregister", "p1")]


def test_ctrl_c_is_a_stop_not_a_failure() -> None:
    client = Recorder()

    with pytest.raises(KeyboardInterrupt):
        with PipelineReporter("p1", "P", client=client, status_interval=60):  # type: ignore[arg-type]
            raise KeyboardInterrupt

    assert "failed" not in [call[1] for call in client.calls if call[0] == "status"]
    assert client.kinds()[-1] == "unregister"


def test_already_registered_is_fine_and_other_refusals_are_not() -> None:
    again = Recorder({"register": refused(ErrorCode.PIPELINE_ALREADY_REGISTERED)})
    with PipelineReporter("p1", "P", client=again, status_interval=60):  # type: ignore[arg-type]
        pass
    assert again.kinds() == ["register", "status", "unregister"]

    invalid = Recorder({"register": refused(ErrorCode.INVALID_ARGUMENT)})
    reporter = PipelineReporter("p1", "P", client=invalid)  # type: ignore[arg-type]
    with pytest.raises(CommandRefusedError):
        reporter.start()
    assert invalid.kinds() == ["register"]


def test_reporting_goes_on_after_errors() -> None:
    client = Recorder({"status": DeliveryError("broker away"), "unregister": DeliveryError("x")})
    calls = iter([RuntimeError("sampler broke")])

    def resources() -> ResourceSample:
        error = next(calls, None)
        if error is not None:
            raise error
        return ResourceSample(1.0, 2)

    with PipelineReporter(  # type: ignore[arg-type]
        "p1", "P", client=client, status_interval=0.05, resource_interval=0.05, resources=resources
    ) as reporter:
        wait_until(lambda: reporter.sent_status >= 2 and reporter.sent_resources >= 1)

    # The start-up status and the unregistration failed (the recorder raised for each, once)
    # and neither raised here; the unregistration was tried, at the end, once.
    assert client.fail == {}
    assert client.kinds()[:2] == ["register", "status"]
    assert client.kinds()[-1] == "unregister"
    assert client.kinds().count("unregister") == 1


def test_a_progress_callable_is_asked_at_each_update_and_kept_registered_at_exit() -> None:
    client = Recorder()
    counter = iter(range(1000))

    def progress() -> Progress:
        return Progress(PipelineStatus.RUNNING, next(counter) * 10)

    with PipelineReporter(  # type: ignore[arg-type]
        "p1", "P", client=client, progress=progress, unregister_on_exit=False, **FAST
    ) as reporter:
        wait_until(lambda: reporter.sent_status >= 3)

    statuses = [call for call in client.calls if call[0] == "status"]
    assert [call[2] for call in statuses[:3]] == [0, 10, 20]
    assert statuses[-1][1] == "stopped" and "unregister" not in client.kinds()


def test_record_counts_are_checked() -> None:
    reporter = PipelineReporter("p1", "P", client=Recorder())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="failed <= total"):
        reporter.add_records(1, failed=2)
    with pytest.raises(ValueError, match="positive"):
        PipelineReporter("p1", "P", client=Recorder(), status_interval=0)  # type: ignore[arg-type]


def test_the_async_reporter_does_the_same_from_a_task() -> None:
    client = AsyncRecorder()

    async def run() -> None:
        async with AsyncPipelineReporter("a1", "A", client=client, **FAST) as reporter:  # type: ignore[arg-type]
            reporter.add_records(3)
            while reporter.sent_resources < 2:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(reporter.set_status, "paused")
            sent = reporter.sent_status
            while reporter.sent_status == sent:
                await asyncio.sleep(0.01)
            raise LookupError("bad input")

    with pytest.raises(LookupError):
        asyncio.run(run())

    assert client.calls[:2] == [("register", "a1", "A"), ("status", "running", 0, 0)]
    assert ("status", "paused", 3, 0) in client.calls
    assert client.calls[-2:] == [("status", "failed", 3, 0), ("unregister", "a1")]


def test_process_resources_are_a_share_of_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = iter([0.0, 250.0, 50.0])
    process = SimpleNamespace(
        cpu_percent=lambda interval: next(busy),
        memory_info=lambda: SimpleNamespace(rss=300 * 1024 * 1024 + 5),
    )
    monkeypatch.setattr(psutil, "cpu_count", lambda: 2)

    sampler = ProcessResources(process)  # type: ignore[arg-type]

    assert sampler.sample() == ResourceSample(cpu_percent=100.0, memory_mb=300)
    assert sampler.sample() == ResourceSample(cpu_percent=25.0, memory_mb=300)


def test_this_process_can_be_measured() -> None:
    sample = ProcessResources().sample()

    assert 0.0 <= sample.cpu_percent <= 100.0
    assert sample.memory_mb > 10


def test_on_preemption_hears_each_new_request_once() -> None:
    client = Recorder()
    heard: list[PreemptionRequest] = []
    first = client.ask_to_give_way("made while the pipeline was down")

    with PipelineReporter(
        "p1",
        "P",
        client=client,  # type: ignore[arg-type]
        status_interval=60,
        preemption_interval=0.02,
        on_preemption=heard.append,
    ):
        wait_until(lambda: len(heard) == 1)
        looks = client.kinds().count("info")
        wait_until(lambda: client.kinds().count("info") >= looks + 3)  # looked again: nothing new
        assert heard == [first]
        second = client.ask_to_give_way("room for vip")
        wait_until(lambda: len(heard) == 2)

    assert heard == [first, second]
    assert heard[1].for_pipeline_id == "vip"


def test_without_on_preemption_nothing_is_looked_up() -> None:
    client = Recorder()

    with PipelineReporter("p1", "P", client=client, **FAST) as reporter:  # type: ignore[arg-type]
        wait_until(lambda: reporter.sent_status >= 3)

    assert "info" not in client.kinds()


def test_the_async_reporter_awaits_an_async_on_preemption() -> None:
    client = AsyncRecorder()
    heard: list[str] = []

    async def give_way(request: PreemptionRequest) -> None:
        await asyncio.sleep(0)
        heard.append(request.reason)

    async def run() -> None:
        async with AsyncPipelineReporter(
            "a1",
            "A",
            client=client,  # type: ignore[arg-type]
            status_interval=60,
            preemption_interval=0.02,
            on_preemption=give_way,
        ):
            client.ask_to_give_way("room")
            while not heard:
                await asyncio.sleep(0.01)

    asyncio.run(run())
    assert heard == ["room"]
