"""Settings, from ``COORDINATOR_*`` environment variables and an optional TOML file.

Defaults are the design document's (snapshot every 50 events, keep 2, 80 % CPU, 80000 MB) and a
local broker. Precedence: environment, then the file named by ``COORDINATOR_CONFIG_FILE``, then
defaults. Every field is documented in docs/operations.md (tests/ops/test_docs.py checks it).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from coordinator.domain.model import ResourceLimits
from coordinator.errors import ConfigurationError
from topics.definitions import DEFAULT_PREFIX, TopicNames

CONFIG_FILE_VARIABLE = "COORDINATOR_CONFIG_FILE"

KafkaConfig = dict[str, str | int | float | bool]
"""A librdkafka configuration, as confluent-kafka takes it."""


class Settings(BaseSettings):
    """Everything a worker, a client or a tool of the coordinator can be told."""

    model_config = SettingsConfigDict(env_prefix="COORDINATOR_", extra="ignore", frozen=True)

    broker: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    topic_prefix: str = Field(default=DEFAULT_PREFIX, description="Prefix of every topic name.")
    replication_factor: int = Field(
        default=-1, description="Replication factor for created topics; -1 = broker default."
    )
    data_dir: Path = Field(
        default_factory=lambda: Path.cwd() / ".data",
        description="Where runtime data (RocksDB state, broker files) lives.",
    )
    worker_name: str = Field(
        default="worker",
        description="Names this worker's state directory; give each worker on a host its own.",
    )

    max_cpu_percent: float = Field(default=80.0, description="CPU ceiling for resource checks.")
    max_memory_mb: int = Field(default=80000, description="Memory ceiling (MB) for checks.")
    snapshot_every: int = Field(default=50, ge=1, description="Events between snapshots.")
    snapshots_kept: int = Field(default=2, ge=1, description="Snapshots kept.")
    delete_events_on_snapshot: bool = Field(
        default=False,
        description="Delete events before the oldest kept snapshot (withDeleteEventsOnSnapshot).",
    )
    applied_capacity: int = Field(
        default=10_000, ge=0, description="Applied commandIds remembered for idempotent retries."
    )
    max_command_bytes: int = Field(
        default=64 * 1024, ge=256, description="Larger commands are dead-lettered."
    )
    max_reply_bytes: int = Field(
        default=900_000, ge=4096, description="No reply is larger (must fit the broker's limit)."
    )
    reply_topic_wait_ms: int = Field(
        default=1000, ge=0, description="How long to wait for a missing reply topic to appear."
    )
    stale_after_seconds: float = Field(
        default=90.0, gt=0, description="A pipeline silent for longer (journal time) is stale."
    )

    tick_interval_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How often the active worker looks for due reservations to expire (0: never).",
    )

    batch_max: int = Field(default=500, ge=1, description="Most commands applied in one batch.")
    session_timeout_ms: int = Field(
        default=6000, description="Consumer group session timeout: how fast a dead worker is seen."
    )
    heartbeat_interval_ms: int = Field(default=1500, description="Consumer group heartbeat.")
    transaction_timeout_ms: int = Field(default=30000, description="Writer transaction timeout.")
    stall_restart_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Exit (code 75) to be restarted when commands wait this long unconsumed.",
    )

    http_host: str = Field(default="127.0.0.1", description="Address of the HTTP endpoint.")
    http_port: int = Field(default=6066, description="Port of metrics, health and read views.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level."
    )
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        default="none",
        description="compression.type of the clients' command producer (the worker reads any).",
    )

    security_protocol: str | None = Field(
        default=None, description="Kafka security.protocol (PLAINTEXT, SSL, SASL_SSL, ...)."
    )
    sasl_mechanism: str | None = Field(default=None, description="SASL mechanism (PLAIN, ...).")
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    ssl_cafile: Path | None = Field(default=None, description="CA certificate file (PEM).")
    ssl_certfile: Path | None = Field(default=None, description="Client certificate (PEM).")
    ssl_keyfile: Path | None = Field(default=None, description="Client key (PEM).")

    @field_validator("compression", mode="before")
    @classmethod
    def _lower_codec(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            if not Path(config_file).is_file():
                raise ConfigurationError(f"{CONFIG_FILE_VARIABLE}={config_file}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def limits(self) -> ResourceLimits:
        return ResourceLimits(
            max_cpu_percent=self.max_cpu_percent, max_memory_mb=self.max_memory_mb
        )

    @property
    def stale_after(self) -> timedelta:
        return timedelta(seconds=self.stale_after_seconds)

    @property
    def worker_dir(self) -> Path:
        return self.data_dir / self.worker_name

    def kafka_security(self) -> KafkaConfig:
        """librdkafka security settings, passed through to every client."""
        config: KafkaConfig = {}
        if self.security_protocol:
            config["security.protocol"] = self.security_protocol
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile:
            config["ssl.ca.location"] = str(self.ssl_cafile)
        if self.ssl_certfile:
            config["ssl.certificate.location"] = str(self.ssl_certfile)
        if self.ssl_keyfile:
            config["ssl.key.location"] = str(self.ssl_keyfile)
        return config

    def kafka_base(self) -> KafkaConfig:
        return {
            "bootstrap.servers": self.broker,
            # librdkafka backs off up to 10 s between reconnects by default: a broker that comes
            # back after an outage would go unnoticed for that long.
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 1000,
            **self.kafka_security(),
        }
