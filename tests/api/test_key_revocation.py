"""A revoked API key stops working on /v1 and in the console within the key cache's lifetime."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.deps import KeyCache, Principal
from core.db import session_scope
from core.keys import Role, find_key, revoke_key
from tests.conftest import auth


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fake_clock(client: TestClient) -> FakeClock:
    clock = FakeClock()
    cache: KeyCache = client.app.state.key_cache  # type: ignore[attr-defined]
    cache.clock = clock
    return clock


def _revoke(engine: Engine, key: str) -> None:
    with session_scope(engine) as session:
        row = find_key(session, key)
        assert row is not None
        revoke_key(session, row.id, actor="test")


def test_revoked_key_gets_401_on_v1_once_the_cache_lapses(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    clock = _fake_clock(client)
    admin = auth(role_keys[Role.admin])
    assert client.get("/v1/audit/verify", headers=admin).status_code == 200  # cached now
    _revoke(sqlite_engine, role_keys[Role.admin])
    clock.now += 1  # still inside the cache's few seconds
    assert client.get("/v1/audit/verify", headers=admin).status_code == 200
    clock.now += 5
    refused = client.get("/v1/audit/verify", headers=admin)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "unknown or revoked API key"


def test_revoked_key_signs_the_console_out(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    clock = _fake_clock(client)
    client.follow_redirects = False
    signed_in = client.post("/console/login", data={"key": role_keys[Role.reviewer]})
    assert signed_in.status_code == 303
    assert client.get("/console/reviews").status_code == 200
    _revoke(sqlite_engine, role_keys[Role.reviewer])
    clock.now += 6
    page = client.get("/console/reviews")
    assert page.status_code == 303 and page.headers["location"] == "/console/login"
    again = client.post("/console/login", data={"key": role_keys[Role.reviewer]})
    assert again.status_code == 401


def test_key_cache_entries_expire_after_their_ttl() -> None:
    clock = FakeClock()
    cache = KeyCache(ttl=5.0, max_entries=2, clock=clock)
    p = Principal(key_id="k1", role=Role.service)
    cache.put("h1", p)
    assert cache.get("h1") == p
    clock.now += 5.0
    assert cache.get("h1") is None
    cache.put("h1", p)
    cache.put("h2", p)
    cache.put("h3", p)  # full of live entries: not cached, looked up next time
    assert cache.get("h3") is None and cache.get("h1") == p
    clock.now += 10
    cache.put("h3", p)  # expired entries make room
    assert cache.get("h3") == p
