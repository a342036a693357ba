"""GET /v1/decide answers a placement; GET /v1/decisions/{id} explains exactly what was done."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.db import session_scope
from core.keys import Role
from core.tables import AuditEntry, Customer, Identity, Profile
from decisioning.learning import record_outcome
from tests.conftest import auth


def _seed_profile(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Customer(id="cust-web"))
        session.add(Identity(kind="user_id", value="user-42", customer_id="cust-web"))
        session.add(
            Profile(
                customer_id="cust-web",
                traits={"email": "web@example.com"},
                computed={
                    "churn_risk": 0.9,
                    "order_count": 4,
                    "monetary": 300,
                    "open_cart": {"items": 1, "value": 50},
                },
            )
        )


def _decide(client: TestClient, key: str, placement: str) -> dict:
    response = client.get(
        "/v1/decide", params={"customer_id": "user-42", "placement": placement}, headers=auth(key)
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_decide_answers_a_placement_and_the_decision_explains_it(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    _seed_profile(sqlite_engine)
    body = _decide(client, role_keys[Role.service], "cart_sidebar")
    assert body["customer_id"] == "cust-web"  # resolved from the userId
    explained = client.get(body["explanation_url"], headers=auth(role_keys[Role.marketer]))
    assert explained.status_code == 200
    decision = explained.json()
    assert decision["action_id"] == body["action_id"]
    assert decision["placement"] == "cart_sidebar"
    chosen = decision["explanation"]["chosen"]["action_id"]
    assert chosen == (body["action_id"] or "do_nothing")
    if body["holdout"]:
        assert body["action_id"] is None
    else:
        assert body["action_id"] == "banner_cart_sidebar"
    candidates = {c["action_id"]: c for c in decision["explanation"]["candidates"]}
    assert candidates["cart_reminder_email"]["passed"] is False
    assert decision["outcomes"] == []
    with Session(sqlite_engine) as session:
        kinds = [e.kind for e in session.exec(select(AuditEntry)).all()]
    assert "decision.made" in kinds


def test_outcomes_show_on_the_decision(
    client: TestClient, role_keys: dict[Role, str], sqlite_engine: Engine
) -> None:
    _seed_profile(sqlite_engine)
    body = _decide(client, role_keys[Role.service], "home_hero")
    with session_scope(sqlite_engine) as session:
        record_outcome(session, decision_id=body["decision_id"], reward=1.0, kind="click")
    decision = client.get(body["explanation_url"], headers=auth(role_keys[Role.marketer])).json()
    assert [o["kind"] for o in decision["outcomes"]] == ["click"]


def test_unknown_placement_is_a_422_naming_the_field(
    client: TestClient, role_keys: dict[Role, str]
) -> None:
    response = client.get(
        "/v1/decide",
        params={"customer_id": "anyone", "placement": "footer"},
        headers=auth(role_keys[Role.service]),
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "query.placement"


def test_missing_customer_id_is_a_422(client: TestClient, role_keys: dict[Role, str]) -> None:
    response = client.get(
        "/v1/decide", params={"placement": "home_hero"}, headers=auth(role_keys[Role.service])
    )
    assert response.status_code == 422
    assert "customer_id" in response.text


def test_unknown_decision_is_404(client: TestClient, role_keys: dict[Role, str]) -> None:
    response = client.get("/v1/decisions/nope", headers=auth(role_keys[Role.marketer]))
    assert response.status_code == 404


def test_unknown_visitor_still_gets_an_answer(
    client: TestClient, role_keys: dict[Role, str]
) -> None:
    response = client.get(
        "/v1/decide",
        params={"customer_id": "anon-1", "placement": "home_hero"},
        headers=auth(role_keys[Role.service]),
    )
    assert response.status_code == 200
    assert response.json()["action_id"] in (None, "banner_home_hero")
