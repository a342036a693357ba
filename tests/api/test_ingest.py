"""Segment-spec ingestion over HTTP: 202 once stored, 422 naming the field, per-item batches."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from core.keys import Role
from core.tables import Event
from tests.conftest import auth


def _events(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Event)).one()


def test_track_is_stored_before_202(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    body = {
        "userId": "u1",
        "event": "Order Completed",
        "messageId": "a1",
        "properties": {"revenue": 5},
    }
    resp = client.post("/v1/track", json=body, headers=auth(role_keys[Role.service]))
    assert resp.status_code == 202 and resp.json() == {"success": True, "duplicate": False}
    assert _events(sqlite_engine) == 1


def test_duplicate_message_id_is_acknowledged_and_ignored(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    body = {"userId": "u1", "traits": {"email": "a@example.com"}, "messageId": "dup"}
    for _ in range(3):
        resp = client.post("/v1/identify", json=body, headers=auth(role_keys[Role.service]))
        assert resp.status_code == 202
    assert resp.json()["duplicate"] is True
    assert _events(sqlite_engine) == 1


def test_missing_event_name_gets_422_naming_the_field(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    resp = client.post("/v1/track", json={"userId": "u1"}, headers=auth(role_keys[Role.service]))
    assert resp.status_code == 422
    assert {"field": "body.event", "reason": "Field required"} in resp.json()["error"]["fields"]
    no_id = client.post("/v1/page", json={"name": "Home"}, headers=auth(role_keys[Role.service]))
    assert no_id.status_code == 422
    assert "userId or anonymousId is required" in no_id.json()["error"]["message"]
    assert _events(sqlite_engine) == 0


def test_batch_answers_per_item_and_writes_only_valid_ones(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    batch = [
        {"type": "track", "userId": "u1", "event": "Product Added", "messageId": "b1"},
        {"type": "track", "userId": "u1", "messageId": "b2"},
        {"type": "identify", "anonymousId": "x", "messageId": "b3", "traits": {}},
        {"type": "group", "userId": "u1", "messageId": "b4"},
        {"type": "track", "userId": "u1", "event": "Product Added", "messageId": "b1"},
    ]
    resp = client.post("/v1/batch", json={"batch": batch}, headers=auth(role_keys[Role.service]))
    assert resp.status_code == 202
    body = resp.json()
    assert [i["status"] for i in body["items"]] == [
        "accepted",
        "invalid",
        "accepted",
        "invalid",
        "duplicate",
    ]
    assert body["items"][1]["errors"][0]["field"] == "body.batch.1.event"
    assert _events(sqlite_engine) == 2


def test_batch_with_no_valid_item_is_422(client: TestClient, role_keys: dict[Role, str]) -> None:
    resp = client.post(
        "/v1/batch", json={"batch": [{"type": "track"}]}, headers=auth(role_keys[Role.service])
    )
    assert resp.status_code == 422


def test_marketer_may_not_ingest(client: TestClient, role_keys: dict[Role, str]) -> None:
    resp = client.post(
        "/v1/track", json={"userId": "u", "event": "E"}, headers=auth(role_keys[Role.marketer])
    )
    assert resp.status_code == 403


def test_batch_over_the_item_limit_is_413(client: TestClient, role_keys: dict[Role, str]) -> None:
    items = [{"type": "track", "userId": "u", "event": "E"}] * 2501
    resp = client.post("/v1/batch", json={"batch": items}, headers=auth(role_keys[Role.service]))
    assert resp.status_code == 413
    assert "at most 2500" in resp.json()["error"]["message"]
