"""Segment-spec ingestion over HTTP: 202 once stored, 422 naming the field, per-item batches."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from cdp.pipeline import process_pending
from core.keys import Role
from core.tables import Event, Identity, Profile
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
        {"type": "group", "userId": "u1", "messageId": "b4"},  # no groupId
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
    assert body["items"][3]["errors"][0]["field"] == "body.batch.3.groupId"
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


def _stored(engine: Engine, message_id: str) -> Event:
    with Session(engine) as session:
        return session.exec(select(Event).where(Event.message_id == message_id)).one()


def test_page_endpoint_fixes_the_type_whatever_the_body_says(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    body: dict[str, Any] = {"type": "identify", "userId": "u1", "messageId": "p1", "name": "Home"}
    body["traits"] = {"email": "mallory@example.com"}
    resp = client.post("/v1/page", json=body, headers=auth(role_keys[Role.service]))
    assert resp.status_code == 202
    stored = _stored(sqlite_engine, "p1")
    assert (stored.type, stored.event, stored.traits) == ("page", "Home", {})


def test_screen_and_group_calls_are_stored_as_events(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    service = auth(role_keys[Role.service])
    screen = {"userId": "u1", "messageId": "s1", "name": "Cart", "properties": {"items": 2}}
    assert client.post("/v1/screen", json=screen, headers=service).status_code == 202
    group = {
        "userId": "u1",
        "messageId": "g1",
        "groupId": 42,
        "traits": {"name": "Acme Inc", "email": "billing@acme.example", "plan": "team"},
    }
    assert client.post("/v1/group", json=group, headers=service).status_code == 202
    stored_screen, stored_group = _stored(sqlite_engine, "s1"), _stored(sqlite_engine, "g1")
    assert (stored_screen.type, stored_screen.event) == ("screen", "Cart")
    assert stored_screen.properties == {"items": 2}
    assert stored_group.type == "group" and stored_group.traits == {}
    assert stored_group.properties == {"groupId": "42", "traits": group["traits"]}


def test_group_traits_stay_on_the_event_not_the_profile(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    service = auth(role_keys[Role.service])
    person = {"userId": "u9", "messageId": "i9", "traits": {"name": "Ada"}}
    assert client.post("/v1/identify", json=person, headers=service).status_code == 202
    traits = {"name": "Acme", "email": "billing@acme.example"}
    group = {"userId": "u9", "messageId": "g9", "groupId": "acme", "traits": traits}
    assert client.post("/v1/group", json=group, headers=service).status_code == 202
    process_pending(sqlite_engine)
    with Session(sqlite_engine) as session:
        stored = session.exec(select(Event).where(Event.message_id == "g9")).one()
        profile = session.get(Profile, stored.customer_id)
        emails = session.exec(select(Identity).where(Identity.kind == "email")).all()
    assert stored.processed_at is not None
    assert profile is not None and profile.traits.get("name") == "Ada"
    assert "email" not in profile.traits and emails == []


def test_missing_group_id_is_422_naming_the_field(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    resp = client.post("/v1/group", json={"userId": "u1"}, headers=auth(role_keys[Role.service]))
    assert resp.status_code == 422
    assert {"field": "body.groupId", "reason": "Field required"} in resp.json()["error"]["fields"]
    assert _events(sqlite_engine) == 0


def test_batch_accepts_screen_and_group_messages(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    batch = [
        {"type": "screen", "userId": "u1", "name": "Home", "messageId": "bs1"},
        {"type": "group", "userId": "u1", "groupId": "g", "messageId": "bg1"},
    ]
    resp = client.post("/v1/batch", json={"batch": batch}, headers=auth(role_keys[Role.service]))
    assert resp.status_code == 202 and resp.json()["accepted"] == 2
    assert _stored(sqlite_engine, "bs1").type == "screen"
    assert _stored(sqlite_engine, "bg1").type == "group"


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"n": value}
    return value


BAD_TRACKS = [
    ({"timestamp": "9999-12-31T23:59:59Z"}, "body.timestamp"),
    ({"timestamp": "9999-12-31T23:00:00-05:00"}, "body.timestamp"),
    ({"timestamp": "0001-01-01T01:00:00+05:00"}, "body.timestamp"),
    ({"sentAt": "1969-12-31T23:59:59Z"}, "body.sentAt"),
    ({"properties": {"revenue": 1e300}}, "body.properties"),
    ({"properties": {"quantity": 2**63}}, "body.properties"),  # u64, not i64
    ({"properties": _nested(300)}, "body.properties"),
    ({"context": {"ip\u0000": "1.2.3.4"}}, "body.context"),
    ({"userId": "u\u0000"}, "body.userId"),
    ({"userId": "   "}, "body.userId"),
    ({"event": "Order\u0000Completed"}, "body.event"),
]


@pytest.mark.parametrize(("change", "field"), BAD_TRACKS)
def test_values_cjo_cannot_store_or_compute_with_are_422_naming_the_field(
    client: TestClient,
    role_keys: dict[Role, str],
    sqlite_engine: Engine,
    change: dict[str, Any],
    field: str,
) -> None:
    body = {"userId": "u1", "event": "Order Completed", **change}
    resp = client.post("/v1/track", json=body, headers=auth(role_keys[Role.service]))
    assert resp.status_code == 422, resp.text
    assert field in [f["field"] for f in resp.json()["error"]["fields"]]
    assert _events(sqlite_engine) == 0


def test_a_batch_keeps_its_good_items_when_one_cannot_be_stored(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    good = {"type": "track", "userId": "u1", "event": "Viewed", "messageId": "ok-1"}
    deep = {"type": "track", "userId": "u1", "event": "Viewed", "properties": _nested(300)}
    late = {"type": "track", "userId": "u1", "event": "Viewed", "timestamp": "9999-12-31T23Z"}
    resp = client.post(
        "/v1/batch", json={"batch": [good, deep, late]}, headers=auth(role_keys[Role.service])
    )
    assert resp.status_code == 202, resp.text
    items = resp.json()["items"]
    assert [r["status"] for r in items] == ["accepted", "invalid", "invalid"]
    assert items[1]["errors"][0]["field"] == "body.batch.1.properties"
    assert items[2]["errors"][0]["field"] == "body.batch.2.timestamp"
    assert _events(sqlite_engine) == 1
    assert process_pending(sqlite_engine) == 1
