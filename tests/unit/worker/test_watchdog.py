"""The stalled-consumer watchdog asks for a restart only when commands wait and none arrive."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import NoReturn

import pytest

from coordinator.config import Settings
from coordinator.worker import watchdog as watchdog_module
from coordinator.worker.roles import Role
from coordinator.worker.service import CoordinatorService
from coordinator.worker.watchdog import EXIT_RESTART


class ExitedError(Exception):
    pass


def run_watchdog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lag: int | None) -> int | None:
    settings = Settings(data_dir=tmp_path, stall_restart_seconds=0.2)
    exits: list[int] = []

    def exit_now(code: int) -> NoReturn:
        exits.append(code)
        raise ExitedError

    coordinator = CoordinatorService(settings, exit_process=exit_now)
    coordinator.roles.enter(Role.ACTIVE)

    async def lag_now() -> int | None:
        return lag

    monkeypatch.setattr(coordinator, "commands_lag", lag_now)
    monkeypatch.setattr(watchdog_module, "WATCHDOG_SECONDS", 0.05)

    async def scenario() -> None:
        coordinator._last_progress = time.monotonic()
        with contextlib.suppress(ExitedError, TimeoutError):
            await asyncio.wait_for(coordinator._watchdog(), timeout=1.0)

    asyncio.run(scenario())
    coordinator.table.close()
    return exits[0] if exits else None


def test_restart_when_commands_wait_and_none_arrive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_watchdog(tmp_path, monkeypatch, lag=12) == EXIT_RESTART


def test_no_restart_when_nothing_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_watchdog(tmp_path, monkeypatch, lag=0) is None


def test_no_restart_when_the_lag_is_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_watchdog(tmp_path, monkeypatch, lag=None) is None
