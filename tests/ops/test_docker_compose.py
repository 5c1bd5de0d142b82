"""docker-compose.yml cannot run here (no Docker engine); check it against the Compose
Specification's schema and against what the coordinator needs from it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from coordinator.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / ".cache" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


def problems(document: dict[str, Any], tmp_path: Path) -> list[str]:
    """What the Compose Specification finds wrong with ``document`` (empty when valid)."""
    if SCHEMA.exists():
        schema = json.loads(SCHEMA.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]
    if shutil.which("docker"):
        path = tmp_path / "compose.yml"
        path.write_text(yaml.safe_dump(document))
        result = subprocess.run(
            ["docker", "compose", "-f", str(path), "config", "-q"],
            capture_output=True,
            text=True,
            check=False,
        )
        return [result.stderr] if result.returncode else []
    pytest.fail("no Compose schema: run ./ops/setup.sh (needs Go) or install Docker")


def test_valid_against_the_compose_specification(compose: dict[str, Any], tmp_path: Path) -> None:
    assert problems(compose, tmp_path) == []


def test_a_schema_violation_is_caught(tmp_path: Path) -> None:
    broken = {"services": {"worker": {"image": "x", "ports": "6066:6066", "bogus": True}}}
    assert problems(broken, tmp_path)


def test_services_broker_worker_and_standby(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "topics", "worker", "standby"} <= set(services)
    assert re.fullmatch(r"apache/kafka:3\.9\.\d+", services["kafka"]["image"])

    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert kafka["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    assert kafka["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert "9092:9092" in services["kafka"]["ports"]

    workers = [services["worker"], services["standby"]]
    names = {w["environment"]["COORDINATOR_WORKER_NAME"] for w in workers}
    assert names == {"worker", "standby"}
    volumes = {w["volumes"][0].split(":")[0] for w in workers}
    assert len(volumes) == 2, "each worker needs its own data volume"
    host_ports = [p.split(":")[0] for w in workers for p in w["ports"]]
    assert len(host_ports) == len(set(host_ports))
    advertised = kafka["KAFKA_ADVERTISED_LISTENERS"]
    for service in [services["topics"], *workers]:
        broker = service["environment"]["COORDINATOR_BROKER"]
        assert broker in advertised, f"{broker} is not an advertised listener"
        assert (ROOT / service["build"] / "Dockerfile").exists()
    assert services["worker"]["depends_on"]["topics"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["topics"]["command"] == ["topics", "create"]


def test_every_coordinator_variable_is_a_setting(compose: dict[str, Any]) -> None:
    known = {f"COORDINATOR_{name.upper()}" for name in Settings.model_fields}
    used = {
        key
        for service in compose["services"].values()
        for key in (service.get("environment") or {})
        if key.startswith("COORDINATOR_")
    }
    assert used and used <= known, used - known
