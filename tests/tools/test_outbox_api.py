"""GET /v1/outbox and the capture inbox, as a marketer sees them."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from core.keys import Role
from tests.conftest import auth
from tests.tools.factories import add_message, email_payload, make_registry
from tools.dispatcher import Dispatcher


def test_outbox_lists_sent_and_held_messages_and_the_captured_email(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine, tmp_path: Path
) -> None:
    registry = make_registry(sqlite_engine, tmp_path)
    assert registry.capture is not None
    registry.capture.start()
    try:
        add_message(sqlite_engine, "email", email_payload(), "api", customer_id="c1")
        add_message(sqlite_engine, "sms", {"to": "+14155550100", "text": "hi"}, "api")
        Dispatcher(sqlite_engine, registry).run_until_idle()
    finally:
        registry.capture.stop()
    headers = auth(role_keys[Role.marketer])

    answer = client.get("/v1/outbox", params={"channel": "email"}, headers=headers).json()
    assert answer["counts"] == {"sent": 1}
    assert answer["messages"][0]["customer_id"] == "c1"
    assert answer["captured"][0]["subject"] == "We miss you"

    emails = client.get("/v1/outbox/emails", headers=headers).json()["emails"]
    detail = client.get(f"/v1/outbox/emails/{emails[0]['id']}", headers=headers).json()
    assert "multipart/alternative" in detail["raw"]
    sms = client.get("/v1/outbox", params={"channel": "sms"}, headers=headers).json()
    assert sms["sandbox"][0]["request"]["form"]["To"] == "+14155550100"


def test_unknown_channel_or_status_is_a_422_naming_the_field(
    client: TestClient, role_keys: dict[Role, str]
) -> None:
    headers = auth(role_keys[Role.marketer])
    response = client.get("/v1/outbox", params={"channel": "fax"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "query.channel"
    response = client.get("/v1/outbox", params={"status": "lost"}, headers=headers)
    assert response.json()["error"]["fields"][0]["field"] == "query.status"


def test_reviewers_may_not_read_the_outbox(client: TestClient, role_keys: dict[Role, str]) -> None:
    response = client.get("/v1/outbox/emails", headers=auth(role_keys[Role.reviewer]))
    assert response.status_code == 403
