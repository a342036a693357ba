"""The whole orchestrator, end to end on embedded parts: a signal becomes one real email.

Events go in through the HTTP API, the CDP processes them and fires a trigger, the journey
graph decides, writes creative (approved brand blocks: the LLM path is tested in tests/brand),
checks guardrails and enqueues; the dispatcher speaks SMTP to the capture server. A flagged
action waits in the review queue until a reviewer approves it through the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agents.journey import nodes as journey_nodes
from agents.journey.store import save_journey
from api.app import create_app
from cdp.identity import resolve_customer_id
from cdp.pipeline import drain, run_scheduler
from cli.services import EXAMPLES, Orchestrator, build_orchestrator
from core import audit
from core.clock import utcnow
from core.db import session_scope
from core.keys import Role, create_key
from core.settings import Settings
from core.tables import Decision, OutboxMessage, Review, TriggerFiring
from decisioning.holdout import get_decisioning_settings
from tests.conftest import auth
from tools.tables import CapturedEmail

pytestmark = pytest.mark.slow


def _daytime_zone() -> str:
    """An IANA zone where it is now about 13:00, so quiet hours never interfere."""
    offset = 13 - utcnow().hour
    offset = (offset + 12) % 24 - 12
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


@pytest.fixture
def orchestrator(
    tmp_path: Path, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Orchestrator]:
    monkeypatch.setenv("CJO_SMTP_CAPTURE_PORT", "0")
    # No global control group here: these customers must be treated (holdouts: tests/decisioning).
    monkeypatch.setenv("CJO_DECISIONING_GLOBAL_CONTROL_RATE", "0")
    get_decisioning_settings.cache_clear()
    settings = Settings(data_dir=tmp_path / "var", environment="test")
    orch = build_orchestrator(settings, sqlite_engine, use_llm=False)
    with session_scope(sqlite_engine) as session:  # the demo journeys, everyone treated
        for path in sorted((EXAMPLES / "journeys").glob("*.yaml")):
            text = re.sub(r"(?m)^holdout_pct: \d+$", "holdout_pct: 0", path.read_text())
            save_journey(session, text, actor="test")
    assert orch.channels.capture is not None
    orch.channels.capture.start()
    yield orch
    orch.channels.capture.stop()
    get_decisioning_settings.cache_clear()


def _client(orch: Orchestrator) -> TestClient:
    return TestClient(create_app(orch.settings, engine=orch.engine, run_migrations=False))


def _key(engine: Engine, role: Role) -> dict[str, str]:
    with session_scope(engine) as session:
        return auth(create_key(session, role=role, name=f"e2e-{role.value}").key)


def _identify(client: TestClient, service: dict[str, str], user: str) -> None:
    body = {
        "userId": user,
        "messageId": f"id-{user}",
        "traits": {"email": f"{user}@example.com", "first_name": "Robin", "email_opt_in": True},
        "context": {"timezone": _daytime_zone()},
    }
    assert client.post("/v1/identify", json=body, headers=service).status_code == 202


def _settle(orch: Orchestrator) -> None:
    drain(orch.engine)
    run_scheduler(orch.engine)
    orch.runner.run_until_idle()
    orch.dispatcher.run_until_idle()


def _abandon_cart(client: TestClient, service: dict[str, str], user: str) -> None:
    _identify(client, service, user)
    added = {
        "userId": user,
        "messageId": f"add-{user}",
        "event": "Product Added",
        "timestamp": (utcnow() - timedelta(minutes=70)).isoformat(),
        "properties": {"product_id": "sku-1", "price": 60.0, "quantity": 1},
    }
    assert client.post("/v1/track", json=added, headers=service).status_code == 202


def _control(client: TestClient, orch: Orchestrator, verb: str, **body: str) -> None:
    marketer = _key(orch.engine, Role.marketer)
    answer = client.post(f"/v1/controls/{verb}", json=body, headers=marketer)
    assert answer.status_code == 200, answer.text


def test_each_abandoned_cart_becomes_one_real_email(orchestrator: Orchestrator) -> None:
    orch = orchestrator
    client, service = _client(orch), _key(orch.engine, Role.service)
    for user in ("cart-1", "cart-2"):
        _abandon_cart(client, service, user)

    _settle(orch)
    _settle(orch)  # a second pass must not send again

    with Session(orch.engine) as session:
        firings = session.exec(select(TriggerFiring)).all()
        emails = session.exec(select(CapturedEmail).order_by(CapturedEmail.to)).all()
        sent = session.exec(select(OutboxMessage).where(OutboxMessage.status == "sent")).all()
        chain = audit.verify_chain(session)
    assert [f.trigger for f in firings] == ["cart_abandoned", "cart_abandoned"]
    assert len(sent) == 2
    assert [e.to for e in emails] == ["cart-1@example.com", "cart-2@example.com"]
    assert [e.deliveries for e in emails] == [1, 1]
    email = emails[0]
    assert email.subject
    headers = {k.lower(): v for k, v in email.headers.items()}
    assert headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
    assert "/u/" in headers["list-unsubscribe"]
    assert "14 Wharf Lane" in email.text and "{{unsubscribe_url}}" not in email.text
    assert {e.idempotency_key for e in emails} == {m.idempotency_key for m in sent}
    assert chain.ok and chain.entries > 10


REVIEWED_JOURNEY = """
slug: reviewed-cart
version: 1
name: Cart reminder, always reviewed
trigger: cart_abandoned
goal: {event: Order Completed, window: 3d}
holdout_pct: 0
review: {always: true}
steps:
  - id: reminder
    kind: action
    channels: [email]
    actions: [cart_reminder_email]
  - id: done
    kind: end
"""


def _flagged(orch: Orchestrator, client: TestClient, user: str) -> Review:
    service = _key(orch.engine, Role.service)
    _identify(client, service, user)
    added = {
        "userId": user,
        "messageId": f"add-{user}",
        "event": "Product Added",
        "properties": {"product_id": "sku-2", "price": 80.0},
    }
    assert client.post("/v1/track", json=added, headers=service).status_code == 202
    drain(orch.engine)
    with session_scope(orch.engine) as session:
        customer_id = resolve_customer_id(session, user)
        assert customer_id is not None
        save_journey(session, REVIEWED_JOURNEY, actor="test")
        session.add(
            TriggerFiring(
                trigger="cart_abandoned",
                journey_slug="reviewed-cart",
                customer_id=customer_id,
                dedup_key=f"test:{user}",
            )
        )
    _settle(orch)
    with Session(orch.engine) as session:
        review = session.exec(select(Review).where(Review.customer_id == customer_id)).one()
        assert session.exec(select(CapturedEmail)).all() == []
    assert review.status == "pending"
    return review


def test_flagged_action_waits_for_review_then_sends_exactly_once(
    orchestrator: Orchestrator, sqlite_engine: Engine
) -> None:
    orch = orchestrator
    client = _client(orch)
    review = _flagged(orch, client, "vip-1")
    reviewer = _key(orch.engine, Role.reviewer)
    listed = client.get("/v1/reviews?status=pending", headers=reviewer).json()
    assert [r["id"] for r in listed["reviews"]] == [review.id]

    approve = {"content_hash": review.content_hash}
    ok = client.post(f"/v1/reviews/{review.id}/approve", json=approve, headers=reviewer)
    assert ok.status_code == 200
    again = client.post(f"/v1/reviews/{review.id}/approve", json=approve, headers=reviewer)
    assert again.status_code == 409

    _settle(orch)
    _settle(orch)
    with Session(orch.engine) as session:
        emails = session.exec(select(CapturedEmail)).all()
    assert [e.to for e in emails] == ["vip-1@example.com"]


def test_rejected_action_is_never_sent(orchestrator: Orchestrator) -> None:
    orch = orchestrator
    client = _client(orch)
    review = _flagged(orch, client, "vip-2")
    reviewer = _key(orch.engine, Role.reviewer)
    rejected = client.post(
        f"/v1/reviews/{review.id}/reject", json={"reason": "off-brand"}, headers=reviewer
    )
    assert rejected.status_code == 200
    _settle(orch)
    with Session(orch.engine) as session:
        assert session.exec(select(CapturedEmail)).all() == []
        assert session.exec(select(OutboxMessage)).all() == []


def test_paused_email_channel_sends_nothing_until_resumed_and_loses_nothing(
    orchestrator: Orchestrator,
) -> None:
    orch = orchestrator
    client, service = _client(orch), _key(orch.engine, Role.service)
    _control(client, orch, "pause", scope="channel", target="email", reason="test")
    _abandon_cart(client, service, "paused-1")
    _settle(orch)
    _settle(orch)
    with Session(orch.engine) as session:
        assert session.exec(select(CapturedEmail)).all() == []
        assert session.exec(select(Review)).all() == []  # a pause is not a review item
        [held] = session.exec(select(OutboxMessage)).all()
    assert held.status == "held"

    _control(client, orch, "resume", scope="channel", target="email")
    _settle(orch)
    _settle(orch)
    with Session(orch.engine) as session:
        emails = session.exec(select(CapturedEmail)).all()
        [sent] = session.exec(select(OutboxMessage)).all()
    assert [e.to for e in emails] == ["paused-1@example.com"]
    assert [e.deliveries for e in emails] == [1]
    assert sent.status == "sent" and emails[0].idempotency_key == sent.idempotency_key


def test_review_approved_while_journey_paused_is_sent_once_after_resume(
    orchestrator: Orchestrator,
) -> None:
    orch = orchestrator
    client = _client(orch)
    review = _flagged(orch, client, "vip-3")
    _control(client, orch, "pause", scope="journey", target="reviewed-cart")
    reviewer = _key(orch.engine, Role.reviewer)
    approve = {"content_hash": review.content_hash}
    ok = client.post(f"/v1/reviews/{review.id}/approve", json=approve, headers=reviewer)
    assert ok.status_code == 200
    _settle(orch)
    _settle(orch)
    with Session(orch.engine) as session:
        assert session.exec(select(CapturedEmail)).all() == []
        [held] = session.exec(select(OutboxMessage)).all()
    assert held.status == "held"

    _control(client, orch, "resume", scope="journey", target="reviewed-cart")
    _settle(orch)
    _settle(orch)
    with Session(orch.engine) as session:
        emails = session.exec(select(CapturedEmail)).all()
    assert [e.to for e in emails] == ["vip-3@example.com"]
    assert [e.deliveries for e in emails] == [1]


HELD_OUT_JOURNEY = REVIEWED_JOURNEY.replace("slug: reviewed-cart", "slug: held-out-cart").replace(
    "holdout_pct: 0", "holdout_pct: 50"
)


def test_journey_control_customer_gets_nothing_but_a_held_out_decision(
    orchestrator: Orchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journey's own control arm is recorded on a decision row, saying what treatment
    would have chosen, so lift is measured on every decision, and nothing is sent."""
    # this customer falls in the control half (the hash split itself: tests/graph)
    monkeypatch.setattr(journey_nodes, "holdout_arm", lambda slug, customer, pct: "control")
    orch = orchestrator
    client, service = _client(orch), _key(orch.engine, Role.service)
    _identify(client, service, "ctl-1")
    added = {
        "userId": "ctl-1",
        "messageId": "add-ctl-1",
        "event": "Product Added",
        "properties": {"product_id": "sku-2", "price": 80.0},
    }
    assert client.post("/v1/track", json=added, headers=service).status_code == 202
    drain(orch.engine)
    with session_scope(orch.engine) as session:
        customer_id = resolve_customer_id(session, "ctl-1")
        assert customer_id is not None
        save_journey(session, HELD_OUT_JOURNEY, actor="test")
        session.add(
            TriggerFiring(
                trigger="cart_abandoned",
                journey_slug="held-out-cart",
                customer_id=customer_id,
                dedup_key="test:ctl-1",
            )
        )
    _settle(orch)
    with Session(orch.engine) as session:
        decisions = session.exec(select(Decision).where(Decision.customer_id == customer_id)).all()
        outbox = session.exec(select(OutboxMessage)).all()
    assert outbox == []
    assert len(decisions) == 1
    held = decisions[0]
    assert held.holdout is True and held.action_id is None
    chosen = held.explanation["chosen"]
    assert chosen["reason"] == "journey_holdout"
    assert chosen["would_have_chosen"] == "cart_reminder_email"
