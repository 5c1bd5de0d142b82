"""Runtime resource limits through a real broker: set and reset in the journal, the same on a
standby configured otherwise, after a take-over and after a recovery from a snapshot."""

from __future__ import annotations

import shutil

import pytest

from coordinator.client import CommandRefusedError
from coordinator.domain.model import EffectiveLimits, LimitsOverride
from coordinator.domain.replies import ErrorCode, RuntimeLimits
from tests.fixtures.workers import Deployment
from tests.integration.test_recovery import wait_snapshots_caught_up

pytestmark = pytest.mark.integration


def test_limits_set_in_the_journal_hold_on_a_standby_configured_otherwise(
    deployment: Deployment,
) -> None:
    first = deployment.worker("first", max_cpu_percent=80, max_memory_mb=8000).start()
    first.wait_serving()
    second = deployment.worker("second", max_cpu_percent=20, max_memory_mb=2000).start()
    second.wait_recovered()
    with deployment.client(timeout=30) as client:
        client.register("p1", "Pipeline 1")
        client.report_resources("p1", 40.0, 1000, confirm=True)
        assert client.system_status().limits == EffectiveLimits(
            max_cpu_percent=80.0, max_memory_mb=8000, source="configuration", revision=0
        )

        answer = client.set_limits(30.0, reason="night shift", command_id="limits-1")
        assert answer == RuntimeLimits(
            seq=3, limits=LimitsOverride(max_cpu_percent=30.0), revision=1
        )
        status = client.system_status()
        assert status.limits == EffectiveLimits(
            max_cpu_percent=30.0, max_memory_mb=8000, source="journal", revision=1
        )
        assert status.over_committed  # 40 % in use, p1 untouched
        assert status.pipelines is not None and status.pipelines["p1"].cpu_percent == 40.0
        assert client.check_resources(0.0, 0) is False
        # A retry of the same commandId gets the same answer and changes nothing.
        assert client.set_limits(30.0, reason="night shift", command_id="limits-1") == answer
        with pytest.raises(CommandRefusedError) as stale:
            client.set_limits(max_memory_mb=100, expected_revision=0)
        assert stale.value.code is ErrorCode.REVISION_CONFLICT

        first.kill()
        second.wait_serving(30)
        taken_over = client.system_status()
        # The CPU limit is the journal's; memory is still the configuration's, now the second's.
        assert taken_over.limits == EffectiveLimits(
            max_cpu_percent=30.0, max_memory_mb=2000, source="journal", revision=1
        )
        assert taken_over.seq == status.seq

        reset = client.reset_limits(expected_revision=1)
        assert reset == RuntimeLimits(seq=4, limits=None, revision=2)
        assert client.system_status().limits == EffectiveLimits(
            max_cpu_percent=20.0, max_memory_mb=2000, source="configuration", revision=2
        )


def test_limits_survive_a_recovery_from_a_snapshot(deployment: Deployment) -> None:
    worker = deployment.worker(snapshot_every=5).start().wait_serving()
    with deployment.client(timeout=30) as client:
        for index in range(6):
            client.register(f"p-{index}", f"Pipeline {index}")
        client.set_limits(12.5, 640, reason="before the snapshot")
        for index in range(6, 12):
            client.register(f"p-{index}", f"Pipeline {index}")
        before = client.system_status()
    wait_snapshots_caught_up(worker, before.seq, every=5)
    assert worker.stop() == 0

    shutil.rmtree(deployment.data_dir("worker"))
    worker.start()
    recovered = worker.wait_recovered()
    worker.wait_serving()

    assert recovered.group(1) == "snapshot"
    with deployment.client(timeout=30) as client:
        after = client.system_status()
    assert after.limits == EffectiveLimits(
        max_cpu_percent=12.5, max_memory_mb=640, source="journal", revision=1
    )
    assert after.model_dump(exclude={"pipelines"}) == before.model_dump(exclude={"pipelines"})
