"""Deployment settings: secrets from files, the DB password, pool sizing, PgBouncer mode, Temporal TLS."""

import pytest
from pydantic import ValidationError

from config import Settings
from db.engine import engines_from_settings
from temporal_client import tls_config


def test_a_secret_comes_from_its_file(tmp_path, monkeypatch):
    (tmp_path / "token").write_text("s3cret-from-a-file\n")
    monkeypatch.setenv("CUSTOMER_TOKEN_SECRET_FILE", str(tmp_path / "token"))
    monkeypatch.delenv("CUSTOMER_TOKEN_SECRET", raising=False)
    assert Settings().customer_token_secret.get_secret_value() == "s3cret-from-a-file"


def test_a_value_and_its_file_together_are_refused(tmp_path, monkeypatch):
    (tmp_path / "key").write_text("whsec_x")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_y")
    with pytest.raises(ValueError, match="not both"):
        Settings()


def test_an_unreadable_secret_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="SMTP_PASSWORD_FILE: cannot read"):
        Settings()


def test_an_empty_secret_file_means_not_configured(tmp_path, monkeypatch):
    (tmp_path / "empty").write_text("\n")
    monkeypatch.setenv("STRIPE_API_KEY_FILE", str(tmp_path / "empty"))
    assert Settings().stripe_api_key is None and Settings().payment_backend == "local"


def test_the_database_password_goes_into_the_url():
    settings = Settings(database_url="postgresql://orderflow@db:5432/orderflow", database_password="p@ss:/w",
                        database_read_url="postgresql://reader@replica:5432/orderflow")
    assert settings.database_urls == ("postgresql://orderflow:p%40ss%3A%2Fw@db:5432/orderflow",
                                      "postgresql://reader:p%40ss%3A%2Fw@replica:5432/orderflow")
    assert settings.database_url == settings.database_urls[0]  # migrations, CLI and adapters read this one
    kept = Settings(database_url="postgresql://a:own@db/x", database_password="other")
    assert kept.database_urls[0] == "postgresql://a:own@db/x"


async def test_engines_follow_pool_and_pgbouncer_settings():
    settings = Settings(database_url="postgresql://o@db/x", database_pool_size=7, database_max_overflow=3,
                        database_pgbouncer=True, database_read_url="postgresql://o@replica/x")
    primary, reads = engines_from_settings(settings)
    try:
        assert primary.pool.size() == 7 and primary.pool._max_overflow == 3
        assert reads is not primary and reads.url.host == "replica"
        assert settings.activity_slots == 20  # twice the pool: an activity holds no connection across a provider call
        assert Settings(database_url="postgresql://o@db/x", worker_activity_slots=15).activity_slots == 15
    finally:
        await primary.dispose()
        await reads.dispose()


async def test_without_a_replica_reads_share_the_primary():
    primary, reads = engines_from_settings(Settings(database_url="postgresql://o@db/x"))
    assert reads is primary
    await primary.dispose()


def test_temporal_tls_for_mtls_and_api_keys(tmp_path):
    assert tls_config(Settings()) is False
    (tmp_path / "ca.pem").write_bytes(b"CA")
    (tmp_path / "c.pem").write_bytes(b"CERT")
    (tmp_path / "k.pem").write_bytes(b"KEY")
    mtls = tls_config(Settings(temporal_tls_ca_file=tmp_path / "ca.pem", temporal_tls_cert_file=tmp_path / "c.pem",
                               temporal_tls_key_file=tmp_path / "k.pem"))
    assert (mtls.server_root_ca_cert, mtls.client_cert, mtls.client_private_key) == (b"CA", b"CERT", b"KEY")
    cloud = tls_config(Settings(temporal_api_key="key"))
    assert cloud.client_cert is None and cloud.server_root_ca_cert is None  # system CAs
    with pytest.raises(ValidationError, match="go together"):
        Settings(temporal_tls_cert_file=tmp_path / "c.pem")
