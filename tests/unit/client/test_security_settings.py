"""Kafka security settings reach librdkafka: it checks them when a client is made (no broker
is contacted here), and a setting it refuses becomes a ``ClientError`` saying which."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.client import AsyncCoordinatorClient, ClientError, CoordinatorClient
from coordinator.config import Settings

NOWHERE = "127.0.0.1:1"


def test_a_protocol_librdkafka_does_not_know_is_refused_by_it() -> None:
    with pytest.raises(ClientError, match=r'Invalid value "BOGUS".*"security\.protocol"'):
        CoordinatorClient(Settings(broker=NOWHERE, security_protocol="BOGUS"))


def test_the_ssl_ca_file_is_read_by_librdkafka(tmp_path: Path) -> None:
    not_a_certificate = tmp_path / "ca.pem"
    not_a_certificate.write_text("not a certificate")
    settings = Settings(broker=NOWHERE, security_protocol="SSL", ssl_cafile=not_a_certificate)

    with pytest.raises(ClientError, match=r"ssl\.ca\.location failed"):
        AsyncCoordinatorClient(settings)


def test_the_sasl_mechanism_is_checked_by_librdkafka() -> None:
    settings = Settings(
        broker=NOWHERE,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="BOGUS",
        sasl_username="pipelines",
        sasl_password="secret",  # type: ignore[arg-type]
    )

    with pytest.raises(ClientError, match="Unsupported SASL mechanism: BOGUS"):
        CoordinatorClient(settings)
