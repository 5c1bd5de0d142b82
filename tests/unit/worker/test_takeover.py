"""The take-over's Kafka steps: the writer is closed on every failure, the offset is the later."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from coordinator.worker import takeover
from coordinator.worker.threads import WorkerThreads


class FakeJournalWriter:
    def __init__(self, settings: Any, client_id: str, fail_start: bool = False) -> None:
        self.client_id = client_id
        self.calls: list[str] = []
        self.fail_start = fail_start
        self.write_error: Exception | None = None

    def start(self) -> None:
        self.calls.append("start")
        if self.fail_start:
            raise RuntimeError("broker away")

    def write(self, records: list[Any], next_offset: int | None) -> int | None:
        self.calls.append(f"write {len(records)} {next_offset}")
        if self.write_error is not None:
            raise self.write_error
        return next_offset

    def close(self) -> None:
        self.calls.append("close")


def table_at(command_offset: int) -> Any:
    return SimpleNamespace(meta=SimpleNamespace(command_offset=command_offset))


def open_with(
    monkeypatch: pytest.MonkeyPatch,
    *,
    committed: int | None,
    journal_offset: int,
    fail: str = "",
) -> tuple[takeover.OpenedJournal | BaseException, FakeJournalWriter]:
    made: list[FakeJournalWriter] = []

    def make(settings: Any, client_id: str) -> FakeJournalWriter:
        made.append(FakeJournalWriter(settings, client_id, fail_start=fail == "start"))
        return made[-1]

    def catch_up(settings: Any, table: Any) -> int:
        if fail == "catch-up":
            raise RuntimeError("journal unreadable")
        return 7

    def progress(settings: Any) -> int | None:
        return committed

    monkeypatch.setattr(takeover, "JournalWriter", make)
    monkeypatch.setattr(takeover, "catch_up_to_end", catch_up)
    monkeypatch.setattr(takeover, "read_progress", progress)
    threads = WorkerThreads()
    try:
        opened: takeover.OpenedJournal | BaseException = asyncio.run(
            takeover.open_journal(SimpleNamespace(), table_at(journal_offset), threads, "w-1")
        )
    except RuntimeError as exc:
        opened = exc
    finally:
        threads.shutdown()
    return opened, made[0]


def test_a_take_over_serves_from_the_progress_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    opened, writer = open_with(monkeypatch, committed=120, journal_offset=99)

    assert isinstance(opened, takeover.OpenedJournal)
    assert (opened.next_offset, opened.replayed) == (120, 7)
    assert opened.writer is writer  # type: ignore[comparison-overlap]
    assert writer.calls == ["start"]


def test_a_progress_offset_behind_the_journal_gives_way_to_the_journal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened, _ = open_with(monkeypatch, committed=50, journal_offset=99)
    assert isinstance(opened, takeover.OpenedJournal)
    assert opened.next_offset == 100

    opened, _ = open_with(monkeypatch, committed=None, journal_offset=-1)
    assert isinstance(opened, takeover.OpenedJournal)
    assert opened.next_offset == 0


@pytest.mark.parametrize("fail", ["start", "catch-up"])
def test_a_failed_take_over_closes_its_writer(monkeypatch: pytest.MonkeyPatch, fail: str) -> None:
    opened, writer = open_with(monkeypatch, committed=1, journal_offset=0, fail=fail)

    assert isinstance(opened, RuntimeError)
    assert writer.calls[-1] == "close"


def test_a_kept_writer_resumes_with_one_empty_transaction() -> None:
    writer = FakeJournalWriter(None, "w-1")
    threads = WorkerThreads()
    try:
        resumed = asyncio.run(takeover.resume_journal(writer, threads, 42))  # type: ignore[arg-type]
    finally:
        threads.shutdown()

    assert resumed is True
    assert writer.calls == ["write 0 42"]


def test_a_fenced_kept_writer_is_closed_and_the_take_over_goes_in_full() -> None:
    writer = FakeJournalWriter(None, "w-1")
    writer.write_error = RuntimeError("fenced")
    threads = WorkerThreads()
    try:
        resumed = asyncio.run(takeover.resume_journal(writer, threads, 42))  # type: ignore[arg-type]
    finally:
        threads.shutdown()

    assert resumed is False
    assert writer.calls == ["write 0 42", "close"]
