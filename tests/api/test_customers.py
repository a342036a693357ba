"""GET /v1/customers/{id} and /timeline after ingestion and processing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cdp.pipeline import drain
from cdp.triggers import TriggerSet
from core.keys import Role
from tests.conftest import auth


def test_profile_and_timeline_by_any_known_id(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    service = auth(role_keys[Role.service])
    client.post(
        "/v1/identify",
        json={
            "userId": "u7",
            "traits": {"email": "Z@Example.com", "email_opt_in": True},
            "context": {"timezone": "Europe/Paris", "locale": "fr-FR"},
            "messageId": "i1",
        },
        headers=service,
    )
    client.post(
        "/v1/track",
        json={
            "userId": "u7",
            "event": "Order Completed",
            "messageId": "o1",
            "properties": {"revenue": 42.0},
        },
        headers=service,
    )
    drain(sqlite_engine, rules=TriggerSet())
    marketer = auth(role_keys[Role.marketer])
    resp = client.get("/v1/customers/z@example.com", headers=marketer)
    assert resp.status_code == 200
    body = resp.json()
    assert body["computed"]["order_value"] == 42.0
    assert body["consent"]["email"]["status"] == "subscribed"
    assert body["timezone"] == "Europe/Paris" and body["locale"] == "fr-FR"
    timeline = client.get("/v1/customers/u7/timeline", headers=marketer).json()
    assert [i["event"] for i in timeline["items"] if i["kind"] == "event"] == [
        "Order Completed",
        None,
    ]


def test_unknown_customer_is_404(client: TestClient, role_keys: dict[Role, str]) -> None:
    resp = client.get("/v1/customers/nobody", headers=auth(role_keys[Role.marketer]))
    assert resp.status_code == 404
