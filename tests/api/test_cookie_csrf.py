"""A /v1 write signed in by the console cookie must come from the console (same Origin, or the
console's CSRF token); Bearer-key API clients and cookie reads are unaffected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.deps import csrf_token
from core import controls
from core.keys import Role
from core.tables import AuditEntry
from tests.conftest import auth

PAUSE = {"scope": "channel", "target": "sms", "reason": "carrier incident"}
OURS = "http://testserver"


@pytest.fixture
def signed_in(client: TestClient, role_keys: dict[Role, str]) -> Iterator[TestClient]:
    client.cookies.set("cjo_key", role_keys[Role.marketer])
    yield client
    client.cookies.clear()


def _paused(engine: Engine) -> bool:
    with Session(engine) as session:
        return controls.is_paused(session, channel="sms")


def _audit_len(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(AuditEntry)).one()


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {},  # neither Origin nor Referer: cannot tell, so refused
        {"X-CSRF-Token": "0" * 40},
    ],
)
def test_cross_site_cookie_write_is_refused_and_writes_nothing(
    signed_in: TestClient, sqlite_engine: Engine, headers: dict[str, str]
) -> None:
    before = _audit_len(sqlite_engine)
    resp = signed_in.post("/v1/controls/pause", json=PAUSE, headers=headers)
    assert resp.status_code == 403
    assert "cross-site request refused" in resp.json()["error"]["message"]
    assert not _paused(sqlite_engine) and _audit_len(sqlite_engine) == before


@pytest.mark.parametrize("how", ["origin", "referer", "token"])
def test_console_cookie_write_from_the_console_is_allowed(
    signed_in: TestClient, sqlite_engine: Engine, role_keys: dict[Role, str], how: str
) -> None:
    headers = {
        "origin": {"Origin": OURS},
        "referer": {"Referer": f"{OURS}/console/chat"},
        "token": {"X-CSRF-Token": csrf_token(role_keys[Role.marketer])},
    }[how]
    resp = signed_in.post("/v1/controls/pause", json=PAUSE, headers=headers)
    assert resp.status_code == 200 and _paused(sqlite_engine)


def test_bearer_clients_and_cookie_reads_need_no_origin(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    bearer = client.post("/v1/controls/pause", json=PAUSE, headers=auth(role_keys[Role.marketer]))
    assert bearer.status_code == 200 and _paused(sqlite_engine)
    client.cookies.set("cjo_key", role_keys[Role.marketer])
    try:
        assert client.get("/v1/controls").status_code == 200
    finally:
        client.cookies.clear()
