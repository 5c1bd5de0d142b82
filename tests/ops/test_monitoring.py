"""The Prometheus scrape config, the alerting rules and the Grafana dashboard refer to what
exists; the rules are valid for promtool and fire as ``alerts_test.yml`` says."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from coordinator.worker.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "ops" / "monitoring"
ALERTS = MONITORING / "alerts.yml"
ALERTS_TEST = Path(__file__).with_name("alerts_test.yml")
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


def metrics_used(expressions: list[str]) -> set[str]:
    """The coordinator metrics that PromQL ``expressions`` read (a histogram by its name)."""
    return {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for expr in expressions
        for name in re.findall(r"\bcoordinator_[a-z_]+", expr)
    }


def test_every_metric_in_the_dashboard_exists() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = metrics_used(expressions)
    assert used <= exported_names(), used - exported_names()
    assert used >= DESIGN_DOCUMENT_METRICS


def alert_rules() -> dict[str, dict[str, Any]]:
    rules = yaml.safe_load(ALERTS.read_text())
    found = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert found, "no alerting rules"
    return found


def test_every_metric_in_the_alert_rules_exists() -> None:
    rules = alert_rules()
    for name, rule in rules.items():
        used = metrics_used([rule["expr"]])
        assert used, f"{name} reads no coordinator metric"
        assert used <= exported_names(), f"{name}: {used - exported_names()}"
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name


def test_the_alert_rules_cover_what_the_worker_reports() -> None:
    rules = alert_rules()
    unreadable = rules["CoordinatorUnreadableCommandRecords"]
    assert unreadable["expr"] == (
        'increase(coordinator_dead_letters_total{reason="UNREADABLE_RECORD"}[10m]) > 0'
    )
    assert unreadable["labels"] == {"severity": "warning"}
    summary = unreadable["annotations"]["summary"]
    assert "coordinator.deadletter" in summary and "source-offset" in summary, summary
    no_active = rules["CoordinatorNoActiveWorker"]
    assert str(no_active["expr"]).startswith("max(coordinator_active) < 1")
    assert (no_active["for"], no_active["labels"]) == ("1m", {"severity": "critical"})
    lag = rules["CoordinatorCommandsLagGrowing"]
    assert (lag["expr"], lag["for"]) == ("coordinator_commands_lag > 1000", "5m")
    not_ready = rules["CoordinatorWorkerNotReady"]
    assert (not_ready["expr"], not_ready["for"]) == ("coordinator_ready == 0", "5m")
    # Every alert has a case in the promtool unit tests.
    cases = yaml.safe_load(ALERTS_TEST.read_text())
    tested = {check["alertname"] for test in cases["tests"] for check in test["alert_rule_test"]}
    assert set(rules) <= tested, set(rules) - tested


def promtool() -> str:
    """The promtool binary: missing is a failure (``./ops/setup.sh`` installs it), never a skip."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not installed: run ./ops/setup.sh (as root it installs the Debian "
            "package prometheus), or install promtool by hand",
            pytrace=False,
        )
    return found


@pytest.mark.parametrize(
    "arguments",
    [
        ["check", "rules", str(ALERTS)],
        ["check", "config", str(MONITORING / "prometheus.yml")],
        ["test", "rules", str(ALERTS_TEST)],
    ],
    ids=["check-rules", "check-config", "test-rules"],
)
def test_promtool_accepts_the_rules(arguments: list[str]) -> None:
    done = subprocess.run(
        [promtool(), *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(arguments)}:\n{done.stdout}{done.stderr}"


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
    # Each rule file is mounted where the config names it (relative to the config's directory).
    mounts = {
        volume.split(":")[1]: volume.split(":")[0]
        for volume in compose["services"]["prometheus"]["volumes"]
    }
    assert scrape["rule_files"], "prometheus.yml loads no rule files"
    for rule_file in scrape["rule_files"]:
        source = mounts.get(f"/etc/prometheus/{rule_file}")
        assert source == f"./ops/monitoring/{rule_file}", (rule_file, mounts)
        assert (MONITORING / rule_file).is_file(), rule_file


def test_every_endpoint_and_metric_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for endpoint in ("/metrics", "/health/live", "/health/ready", "/status", "/pipelines"):
        assert f"`{endpoint}" in readme, endpoint
    for name in exported_names():
        assert name in readme, f"{name} is not in the README"
