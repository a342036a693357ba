"""Health, readiness, metrics, request ids, uniform errors and the audit endpoints."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core import audit
from core.db import session_scope
from core.keys import Role
from tests.conftest import auth


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


def test_request_id_is_echoed_or_assigned(client: TestClient) -> None:
    assert (
        client.get("/health", headers={"X-Request-ID": "abc123"}).headers["x-request-id"]
        == "abc123"
    )
    assert len(client.get("/health").headers["x-request-id"]) == 32


def test_metrics_count_requests(client: TestClient) -> None:
    client.get("/health")
    body = client.get("/metrics").text
    assert "cjo_http_requests_total" in body and 'route="/health"' in body


def test_401_and_403_are_distinct_json_errors(
    client: TestClient, role_keys: dict[Role, str]
) -> None:
    missing = client.get("/v1/audit/verify")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"
    assert missing.headers["www-authenticate"] == "Bearer"
    forbidden = client.get("/v1/audit/verify", headers=auth(role_keys[Role.marketer]))
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"
    assert "admin" in forbidden.json()["error"]["message"]


def test_422_names_the_field(client: TestClient, role_keys: dict[Role, str]) -> None:
    resp = client.get("/v1/audit?limit=0", headers=auth(role_keys[Role.admin]))
    assert resp.status_code == 422
    fields = resp.json()["error"]["fields"]
    assert fields[0]["field"] == "query.limit"
    assert "greater than or equal to 1" in fields[0]["reason"]


def test_oversized_body_gets_413(client: TestClient, role_keys: dict[Role, str]) -> None:
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
    resp = client.post("/v1/audit", content=b"x" * (limit + 1), headers=auth(role_keys[Role.admin]))
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"


def test_audit_verify_endpoint_reports_tampering(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    admin = auth(role_keys[Role.admin])
    ok = client.get("/v1/audit/verify", headers=admin).json()
    assert ok["ok"] is True and ok["chains"][0]["entries"] == 4  # four keys created
    with session_scope(sqlite_engine) as session:
        audit.append(session, actor="t", kind="t.x", payload={"a": 1}, customer_id="c1")
    listed = client.get("/v1/audit?customer_id=c1", headers=admin).json()["entries"]
    assert [e["kind"] for e in listed] == ["t.x"]
    with sqlite_engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET kind = 't.y' WHERE customer_id = 'c1'"))
    broken = client.get("/v1/audit/verify", headers=admin).json()
    assert broken["ok"] is False
    assert broken["chains"][0]["first_bad_seq"] == 5
