"""The benchmark harness starts and renders its table (the benchmarks themselves are not run:
they are not tests, see BENCHMARKS.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.journal import check_command_templates, check_event_templates
from bench.report import Row, Target, render_markdown, render_text
from bench.stats import percentile

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_every_measurement() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for name in ("throughput", "latency", "recovery", "memory", "heartbeat", "stall"):
        assert name in result.stdout
    assert "--quick" in result.stdout


def test_an_unknown_measurement_is_refused_before_anything_starts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "speed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown measurement speed" in result.stderr


def test_the_table_puts_each_figure_beside_its_baseline() -> None:
    rows = [
        Row(
            "throughput",
            "updates",
            1250.0,
            "cmd/s",
            5000.0,
            "plain loop",
            (Target(">= 0.25x baseline", True),),
        ),
        Row("latency", "p99", 31.5, "ms", 12.0, "echo", (Target("p99 <= 20 ms", False),)),
        Row("memory", "RSS, 0 pipelines", 90.0, "MB"),
        Row("recovery", "(b) snapshot + tail", 4.2, "s", 1.0, targets=(Target("<= 10 s", None),)),
    ]
    text = render_text(rows)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["measurement", "figure", "value"]
    assert "1,250 cmd/s" in lines[2] and "5,000 cmd/s (plain loop)" in lines[2]
    assert "0.25x" in lines[2] and lines[2].rstrip().endswith("met")
    assert "2.62x" in lines[3] and lines[3].rstrip().endswith("missed")
    assert lines[4].rstrip().endswith("-")
    assert lines[5].rstrip().endswith("n/a")

    markdown = render_markdown(rows).splitlines()
    assert markdown[1].startswith("| --- |")
    assert len(markdown) == 2 + len(rows)
    assert all(line.count(" | ") == 6 for line in markdown)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([3.0], 0.99) == 3.0


def test_the_synthetic_load_is_what_clients_and_the_worker_write() -> None:
    check_command_templates()
    check_event_templates()


def test_the_hot_path_measurement_runs_the_worker_batch_code() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.hotpath", "--pipelines", "50", "--updates", "600", "-r1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures = re.search(
        r"worker batch code ([\d,]+) updates/s .* baseline .* ([\d,]+)/s .* ratio ([\d.]+)x",
        result.stdout,
    )
    assert figures, result.stdout
    worker, baseline = (int(figures.group(n).replace(",", "")) for n in (1, 2))
    assert worker > 0 and baseline > 0


def test_the_fold_measurement_runs_the_recovery_fold() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.fold", "--pipelines", "50", "--events", "600"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures = re.search(
        r"worker fold ([\d,]+) events/s .* baseline json.loads ([\d,]+)/s; ratio ([\d.]+)x",
        result.stdout,
    )
    assert figures, result.stdout
    worker, baseline = (int(figures.group(n).replace(",", "")) for n in (1, 2))
    assert worker > 0 and baseline > 0
