"""Kill switch over HTTP: pause a channel, see it in force, resume; bad bodies get 422."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.journey.store import save_journey
from core import controls
from core.db import session_scope
from core.keys import Role
from tests.conftest import auth

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "journeys"


def test_pause_channel_then_resume(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    who = auth(role_keys[Role.marketer])
    body = {"scope": "channel", "target": "sms", "reason": "carrier incident"}
    r = client.post("/v1/controls/pause", headers=who, json=body)
    assert r.status_code == 200 and r.json()["control"]["paused"] is True
    with Session(sqlite_engine) as s:
        assert controls.is_paused(s, channel="sms")
        assert not controls.is_paused(s, channel="email")
    assert client.get("/v1/controls", headers=who).json()["active"][0]["target"] == "sms"
    client.post("/v1/controls/resume", headers=who, json={"scope": "channel", "target": "sms"})
    with Session(sqlite_engine) as s:
        assert not controls.is_paused(s, channel="sms")


def _add_winback(engine: Engine) -> None:
    with session_scope(engine) as session:
        save_journey(session, (EXAMPLES / "winback.yaml").read_text(), actor="test")


def test_pause_all_and_journey(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    _add_winback(sqlite_engine)
    who = auth(role_keys[Role.marketer])
    assert client.post("/v1/controls/pause", headers=who, json={"scope": "all"}).status_code == 200
    r = client.post(
        "/v1/controls/pause", headers=who, json={"scope": "journey", "target": " winback "}
    )
    assert {c["scope"] for c in r.json()["active"]} == {"all", "journey"}
    with Session(sqlite_engine) as s:  # the stripped slug is what is paused
        assert controls.is_paused(s, journey_slug="winback")


def test_a_pause_that_would_pause_nothing_is_422_on_the_target(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    who = auth(role_keys[Role.marketer])
    for body in (
        {"scope": "journey", "target": "no-such-journey"},
        {"scope": "all", "target": "email"},
        {"scope": "channel", "target": "fax"},
    ):
        r = client.post("/v1/controls/pause", headers=who, json=body)
        assert r.status_code == 422, body
        assert [f["field"] for f in r.json()["error"]["fields"]] == ["body.target"], r.text
    with Session(sqlite_engine) as s:
        assert controls.active_pauses(s) == []


def test_bad_scope_or_target_is_422(client: TestClient, role_keys: dict[Role, str]) -> None:
    who = auth(role_keys[Role.marketer])
    for body in ({"scope": "planet"}, {"scope": "channel", "target": "fax"}, {"scope": "journey"}):
        r = client.post("/v1/controls/pause", headers=who, json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["fields"]
