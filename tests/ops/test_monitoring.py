"""The Prometheus scrape config and the Grafana dashboard refer to what exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import generate_latest

from coordinator.worker.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "ops" / "monitoring"
DESIGN_DOCUMENT_METRICS = {
    "coordinator_pipelines_total",
    "coordinator_cpu_percent_total",
    "coordinator_memory_mb_total",
    "coordinator_registrations_total",
    "coordinator_unregistrations_total",
    "coordinator_status_updates_total",
}


def exported_names() -> set[str]:
    text = generate_latest(Metrics().registry).decode()
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))


def test_the_design_document_metrics_are_exported_under_their_names() -> None:
    assert exported_names() >= DESIGN_DOCUMENT_METRICS


def test_every_metric_in_the_dashboard_exists() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for expr in expressions
        for name in re.findall(r"\bcoordinator_[a-z_]+", expr)
    }
    assert used <= exported_names(), used - exported_names()
    assert used >= DESIGN_DOCUMENT_METRICS


def test_prometheus_scrapes_every_worker_of_the_compose_file() -> None:
    scrape = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = {
        t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    workers = {
        name
        for name, service in compose["services"].items()
        if service.get("command") == ["worker"]
    }
    assert {f"{name}:6066" for name in workers} == targets
    for service in ("prometheus", "grafana"):
        for volume in compose["services"][service]["volumes"]:
            assert (ROOT / volume.split(":")[0]).exists(), volume


def test_every_endpoint_and_metric_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for endpoint in ("/metrics", "/health/live", "/health/ready", "/status", "/pipelines"):
        assert f"`{endpoint}" in readme, endpoint
    for name in exported_names():
        assert name in readme, f"{name} is not in the README"
