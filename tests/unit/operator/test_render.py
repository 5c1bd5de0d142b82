"""What the operator CLI shows people (``coordinator.operator.render``), rendered to plain text."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

from rich.console import Console, RenderableType

from coordinator.domain.model import (
    EffectiveLimits,
    HealthStatus,
    PipelineInfo,
    PipelineStatus,
    SystemHealth,
)
from coordinator.domain.replies import StateSummary, SystemStatus
from coordinator.operator import render

NOW = datetime(2026, 11, 27, 4, 8, 40, 25000, tzinfo=UTC)


def text(renderable: RenderableType) -> str:
    console = Console(record=True, width=160, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def cells(shown: str) -> dict[str, list[str]]:
    """Table rows by their first cell: ``│ CPU │ 35.5 % │`` -> ``{"CPU": ["35.5 %"]}``."""
    rows: dict[str, list[str]] = {}
    for line in shown.splitlines():
        row: list[str] = []
        for part in [*line.split("│")[1:], ""]:
            if part.strip():
                row.append(part.strip())
            elif row:  # the gap between two tables side by side, or the end of the line
                rows[row[0]] = row[1:]
                row = []
    return rows


def info(pipeline_id: str, status: PipelineStatus = PipelineStatus.RUNNING) -> PipelineInfo:
    return PipelineInfo(
        pipeline_id=pipeline_id,
        name=f"Pipeline {pipeline_id}",
        status=status,
        total_records=1_000_000,
        failed_records=5,
        cpu_percent=15.5,
        memory_mb=2048,
        registered_at=NOW - timedelta(hours=3),
        last_heartbeat=NOW - timedelta(seconds=12),
    )


def system(pipelines: dict[str, PipelineInfo] | None, stale: int = 0) -> SystemStatus:
    counts = dict.fromkeys(PipelineStatus, 0)
    counts[PipelineStatus.RUNNING] = 2
    counts[PipelineStatus.FAILED] = 1
    return SystemStatus(
        health=SystemHealth(
            status=HealthStatus.DEGRADED,
            total_pipelines=3,
            running_pipelines=2,
            failed_pipelines=1,
            total_cpu_percent=35.5,
            total_memory_mb=4096,
            last_updated=NOW - timedelta(seconds=3),
        ),
        count_by_status=counts,
        total_cpu_percent=35.5,
        total_memory_mb=4096,
        last_updated=NOW - timedelta(seconds=3),
        seq=17,
        limits=EffectiveLimits(),
        pipelines=pipelines,
        pipelines_omitted=pipelines is None,
        stale_pipelines=stale,
        stale_after_seconds=90.0,
    )


def test_ages_read_like_people_say_them() -> None:
    assert render.age(NOW - timedelta(seconds=4), NOW) == "4 s ago"
    assert render.age(NOW - timedelta(minutes=12), NOW) == "12 min ago"
    assert render.age(NOW - timedelta(hours=3), NOW) == "3 h ago"
    assert render.age(NOW - timedelta(days=2), NOW) == "2 d ago"
    assert render.age(NOW + timedelta(seconds=1), NOW) == "0 s ago"  # clocks a little apart
    assert render.age(None, NOW) == "-"


def test_the_pipelines_table_has_a_row_per_pipeline_with_readable_figures() -> None:
    shown = text(render.pipelines_table([info("p1"), info("p2", PipelineStatus.FAILED)], NOW))

    assert "Last heartbeat" in shown
    assert cells(shown)["p2"] == [
        "Pipeline p2",
        "failed",
        "1,000,000",
        "5",
        "15.5 %",
        "2,048 MB",
        "12 s ago",
    ]


def test_one_pipeline_in_detail() -> None:
    shown = text(render.pipeline_view(info("p1"), NOW))

    assert "1,000,000 (5 failed)" in shown
    assert "2026-11-27T01:08:40.025Z" in shown  # registered
    assert "2026-11-27T04:08:28.025Z (12 s ago)" in shown


def test_the_status_view_has_health_counts_and_room_left() -> None:
    shown = text(render.status_view(system(None, stale=2), NOW))

    assert "Health degraded   3 pipelines, 2 running, 1 failed   seq 17" in shown
    assert "2 stale (no heartbeat for over 90 s)" in shown
    rows = cells(shown)
    assert (rows["running"], rows["failed"], rows["total"]) == (["2"], ["1"], ["3"])
    assert rows["CPU"] == ["35.5 %", "80.0 %", "44.5 %"]
    assert rows["Memory"] == ["4,096 MB", "80,000 MB", "75,904 MB"]


def test_watch_shows_failed_and_paused_first_and_says_how_many_are_hidden() -> None:
    pipelines = {
        key: info(key, status)
        for key, status in [
            ("a", PipelineStatus.RUNNING),
            ("b", PipelineStatus.PAUSED),
            ("c", PipelineStatus.FAILED),
            ("d", PipelineStatus.RUNNING),
        ]
    }

    rows = render.watch_rows(pipelines.values(), 2)
    shown = text(render.watch_frame(system(pipelines), rows, NOW, problem="no reply"))

    assert [row.pipeline_id for row in rows] == ["c", "b"]
    assert "Pipelines (2 of 3)" in shown  # the registry holds 3 (``system``): 1 is hidden
    assert "Last refresh failed, showing older data: no reply" in shown
    assert "Ctrl-C stops" in shown


def test_watch_titles_the_table_plainly_when_every_pipeline_fits() -> None:
    pipelines = {key: info(key) for key in ("a", "b", "c")}

    shown = text(
        render.watch_frame(system(pipelines), render.watch_rows(pipelines.values(), 5), NOW)
    )

    assert [line.strip() for line in shown.splitlines()].count("Pipelines") == 1
    assert "Pipelines (" not in shown
    assert "Last refresh failed" not in shown


def test_messages_for_registration_and_checks() -> None:
    summary = StateSummary(
        seq=4,
        pipeline_id="p1",
        pipeline=info("p1"),
        total_pipelines=1,
        count_by_status={PipelineStatus.RUNNING: 1},
        total_cpu_percent=0.0,
        total_memory_mb=0,
        last_updated=NOW,
    )
    assert render.registered(summary) == "Registered p1 (Pipeline p1); 1 pipeline registered."
    emptied = summary.model_copy(update={"total_pipelines": 0})
    assert render.unregistered(emptied) == "Unregistered p1; 0 pipelines registered."
    assert render.resource_check(10.0, 4096, True).startswith("Available: 10.0 % CPU and 4,096 MB")
    assert render.resource_check(10.0, 4096, False).startswith("Not available")


def test_json_arrays_stream_the_wire_format() -> None:
    pieces = list(render.json_array([info("p1"), info("p2")]))

    listed = json.loads("".join(pieces))

    assert [item["pipelineId"] for item in listed] == ["p1", "p2"]
    assert listed[0]["memoryMB"] == 2048 and listed[0]["lastHeartbeat"].endswith("Z")
    assert "".join(render.json_array([])) == "[]"
