"""Settings come from COORDINATOR_* variables, then a TOML file, then the design defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.config import Settings
from coordinator.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("COORDINATOR_"):
            monkeypatch.delenv(name)


def test_design_document_defaults() -> None:
    settings = Settings()
    assert settings.broker == "127.0.0.1:9092"
    assert (settings.snapshot_every, settings.snapshots_kept) == (50, 2)
    assert settings.limits.max_cpu_percent == 80.0
    assert settings.limits.max_memory_mb == 80000
    assert settings.topics.commands == "coordinator.commands"


def test_a_config_file_sets_limits_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "coordinator.toml"
    config.write_text('max_cpu_percent = 60.5\nmax_memory_mb = 1000\ntopic_prefix = "file"\n')
    monkeypatch.setenv("COORDINATOR_CONFIG_FILE", str(config))
    monkeypatch.setenv("COORDINATOR_TOPIC_PREFIX", "env")

    settings = Settings()

    assert settings.limits.max_cpu_percent == 60.5
    assert settings.limits.max_memory_mb == 1000
    assert settings.topic_prefix == "env"


def test_a_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COORDINATOR_CONFIG_FILE", "/nonexistent/coordinator.toml")
    with pytest.raises(ConfigurationError, match="no such file"):
        Settings()


def test_security_settings_pass_through_and_the_password_is_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COORDINATOR_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("COORDINATOR_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("COORDINATOR_SASL_USERNAME", "svc")
    monkeypatch.setenv("COORDINATOR_SASL_PASSWORD", "s3cret")

    settings = Settings()

    assert settings.kafka_base()["sasl.password"] == "s3cret"
    assert settings.kafka_base()["security.protocol"] == "SASL_SSL"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
