"""POST /v1/chat streams a turn as server-sent events, with the caller's authority."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core import controls
from core.keys import Role
from core.tables import AuditEntry
from tests.chat.conftest import seed
from tests.conftest import auth


def _events(text: str) -> list[dict[str, Any]]:
    out = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        out.append({"event": lines["event"], **json.loads(lines["data"])})
    return out


@pytest.fixture
def chat_client(client: TestClient, sqlite_engine: Engine) -> TestClient:
    seed(sqlite_engine)
    client.app.state.chat_llm = None  # type: ignore[attr-defined]  # router + rules only
    return client


def test_streams_tool_call_result_and_reply(chat_client: TestClient, role_keys) -> None:
    response = chat_client.post(
        "/v1/chat",
        json={"message": "how many customers are at risk of churning this week?"},
        headers=auth(role_keys[Role.marketer]),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "tool_call" and "tool_result" in kinds and "token" in kinds
    assert kinds[-2:] == ["message", "done"]
    assert events[-2]["text"].startswith("2 customers")
    assert events[-1]["conversation_id"] == response.headers["x-conversation-id"]


def test_confirmation_round_trip_over_http(
    chat_client: TestClient, role_keys, sqlite_engine: Engine
) -> None:
    headers = auth(role_keys[Role.marketer])
    first = _events(
        chat_client.post("/v1/chat", json={"message": "pause everything"}, headers=headers).text
    )
    asked = next(e for e in first if e["event"] == "confirm")
    with Session(sqlite_engine) as s:
        assert not controls.is_paused(s, channel="email")
    body = {"message": "yes", "conversation_id": asked["conversation_id"], "confirm": True}
    second = _events(chat_client.post("/v1/chat", json=body, headers=headers).text)
    assert "Paused all sending" in second[-2]["text"]
    with Session(sqlite_engine) as s:
        assert controls.is_paused(s, channel="email")
        entry = s.exec(select(AuditEntry).where(AuditEntry.kind == "chat.tool_called")).one()
    assert entry.subject_id is not None
    assert entry.subject_id.endswith(":" + asked["conversation_id"])


def test_another_key_cannot_continue_a_conversation(chat_client: TestClient, role_keys) -> None:
    first = chat_client.post(
        "/v1/chat", json={"message": "pause everything"}, headers=auth(role_keys[Role.marketer])
    )
    conversation = first.headers["x-conversation-id"]
    body = {"message": "yes", "conversation_id": conversation, "confirm": True}
    other = _events(
        chat_client.post("/v1/chat", json=body, headers=auth(role_keys[Role.admin])).text
    )
    assert not any(e["event"] == "tool_result" for e in other)


def test_bad_body_names_the_field(chat_client: TestClient, role_keys) -> None:
    response = chat_client.post(
        "/v1/chat", json={"message": ""}, headers=auth(role_keys[Role.marketer])
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "body.message"


def test_reviewers_cannot_use_the_marketer_chat(chat_client: TestClient, role_keys) -> None:
    response = chat_client.post(
        "/v1/chat", json={"message": "hi"}, headers=auth(role_keys[Role.reviewer])
    )
    assert response.status_code == 403
