"""Fixtures of the service tests: a service on an event loop, with the rig of ``service_rig``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from coordinator.config import Settings
from coordinator.worker import service as service_module
from coordinator.worker.service import CoordinatorService
from tests.unit.worker.service_rig import Rig, exit_recorder


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Callable[[Callable[[Rig], Awaitable[None]]], None]]:
    """Runs ``body(rig)`` on an event loop, with a fresh service, and cleans up after it."""
    opened: list[CoordinatorService] = []

    def run(body: Callable[[Rig], Awaitable[None]]) -> None:
        async def main() -> None:
            exits: list[int] = []
            service = CoordinatorService(
                Settings(data_dir=tmp_path, topic_prefix="servicetest"),
                exit_process=exit_recorder(exits),
            )
            opened.append(service)
            try:
                await body(Rig(service, exits))
            finally:
                for task in list(service._background):
                    task.cancel()
                await asyncio.gather(*service._background, return_exceptions=True)

        asyncio.run(main())

    yield run
    for service in opened:
        service.table.close()
        service._threads.shutdown()


@pytest.fixture
def no_retake_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_module, "RETAKE_DELAY_SECONDS", 0.0)
