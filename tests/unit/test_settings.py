"""Settings: CJO_ environment, safe defaults, refusal of insecure production settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from core.settings import Settings


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CJO_DATA_DIR", str(tmp_path))
    s = Settings()
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'cjo.db').resolve()}"
    assert s.host == "127.0.0.1" and s.port == 8000
    assert s.stream_url is None and s.smtp_url is None and s.llm_base_url is None


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CJO_DATABASE_URL", "postgres://u@db:5432/cjo")
    monkeypatch.setenv("CJO_PORT", "9000")
    monkeypatch.setenv("CJO_STREAM_URL", "nats://127.0.0.1:4222")
    s = Settings()
    assert s.resolved_database_url == "postgresql+psycopg://u@db:5432/cjo"
    assert s.port == 9000 and s.stream_url == "nats://127.0.0.1:4222"


def test_default_admin_key_refused_on_public_address() -> None:
    with pytest.raises(ValueError, match="CJO_ADMIN_KEY"):
        Settings(host="0.0.0.0", admin_key="cjo-dev-admin")


def test_short_admin_key_refused_in_production() -> None:
    with pytest.raises(ValueError):
        Settings(environment="production", admin_key="short", database_url="postgresql://u@h/db")


def test_production_requires_postgres() -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        Settings(environment="production")


def test_dev_key_allowed_on_loopback() -> None:
    assert Settings(host="127.0.0.1", admin_key="cjo-dev-admin").admin_key == "cjo-dev-admin"


def test_invalid_port_is_rejected() -> None:
    with pytest.raises(ValueError, match="port"):
        Settings(port=70000)


def test_short_audit_key_refused_on_public_address() -> None:
    with pytest.raises(ValueError, match="CJO_AUDIT_KEY"):
        Settings(host="0.0.0.0", audit_key=SecretStr("short"))
    assert Settings(host="0.0.0.0", audit_key=SecretStr("k" * 32)).audit_key is not None


def test_overrides_are_validated_again() -> None:
    base = Settings(admin_key="cjo-dev-admin")
    with pytest.raises(ValueError, match="CJO_ADMIN_KEY"):
        base.with_overrides(host="0.0.0.0")
    with pytest.raises(ValueError, match="port"):
        base.with_overrides(port=0)
    assert base.with_overrides(host=None, port=8001).port == 8001
