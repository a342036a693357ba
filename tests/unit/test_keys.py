"""API keys: create, list and revoke (audited); `cjo keys` prints no secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.main import app as cjo
from core.db import make_engine, session_scope
from core.keys import KeyLookupError, Role, create_key, find_key, list_keys, revoke_key
from core.settings import get_settings
from core.tables import AuditEntry


def test_revoked_key_is_no_longer_found_and_revocation_is_audited(engine: Engine) -> None:
    with session_scope(engine) as session:
        created = create_key(session, role=Role.service, name="shop")
    with session_scope(engine) as session:
        row, revoked_now = revoke_key(session, created.id, actor="test")
        assert revoked_now and row.revoked_at is not None
    with Session(engine) as session:
        assert find_key(session, created.key) is None
        kinds = [e.kind for e in session.exec(select(AuditEntry)).all()]
    assert kinds == ["api_key.created", "api_key.revoked"]
    with session_scope(engine) as session:  # again: nothing changes, nothing audited
        assert revoke_key(session, created.id)[1] is False
    with Session(engine) as session:
        assert len(session.exec(select(AuditEntry)).all()) == 2


def test_revoke_by_prefix_or_whole_key_and_refuse_ambiguous_or_unknown(engine: Engine) -> None:
    with session_scope(engine) as session:
        a = create_key(session, role=Role.marketer, key="cjo_mar_AAAAAAAAAAAAAAAAAAAAAAAA")
        b = create_key(session, role=Role.marketer, key="cjo_mar_AAAbbbbbbbbbbbbbbbbbbbbb")
    with session_scope(engine) as session, pytest.raises(KeyLookupError, match="matches 2 keys"):
        revoke_key(session, "cjo_mar_AAA")
    with session_scope(engine) as session, pytest.raises(KeyLookupError, match="at least 10"):
        revoke_key(session, "cjo_mar")
    with session_scope(engine) as session:
        assert revoke_key(session, "cjo_mar_AAAA")[0].id == a.id  # the 12-character prefix
        assert revoke_key(session, b.key)[0].id == b.id
    with session_scope(engine) as session, pytest.raises(KeyLookupError) as err:
        revoke_key(session, "cjo_mar_ZZZZZZZZZZZZZZZZZZZ-unknown-secret")
    assert "unknown-secret" not in str(err.value)  # a mistyped key is not echoed


def test_a_revoked_key_cannot_be_created_again(engine: Engine) -> None:
    with session_scope(engine) as session:
        created = create_key(session, role=Role.admin, key="cjo-bootstrap-admin-key-0123456789")
        revoke_key(session, created.id)
    with session_scope(engine) as session, pytest.raises(KeyLookupError, match="was revoked"):
        create_key(session, role=Role.admin, key="cjo-bootstrap-admin-key-0123456789")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CJO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CJO_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_cli_lists_without_secrets_and_revokes(data_dir: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(cjo, ["keys", "create", "--role", "service", "--name", "shop"])
    assert created.exit_code == 0, created.output
    key = created.output.strip()
    listed = runner.invoke(cjo, ["keys", "list"])
    assert listed.exit_code == 0 and key[:12] in listed.output and "shop" in listed.output
    assert key not in listed.output and "active" in listed.output
    revoked = runner.invoke(cjo, ["keys", "revoke", key[:12]])
    assert revoked.exit_code == 0 and "revoked key" in revoked.output
    again = runner.invoke(cjo, ["keys", "list", "--json"])
    assert '"revoked_at": null' not in again.output and key not in again.output
    unknown = runner.invoke(cjo, ["keys", "revoke", "no-such-key-id"])
    assert unknown.exit_code == 1
    engine = make_engine(f"sqlite:///{data_dir / 'cjo.db'}")
    with Session(engine) as session:
        assert [k.revoked_at is not None for k in list_keys(session)] == [True]
        kinds = [e.kind for e in session.exec(select(AuditEntry)).all()]
    engine.dispose()
    assert kinds == ["api_key.created", "api_key.revoked"]
