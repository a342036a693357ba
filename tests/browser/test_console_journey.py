"""End to end through the real packages: a journey escalates, a reviewer approves in the browser,
the journey resumes, the outbox dispatcher sends over SMTP, and the capture inbox shows the email.

Only the decision and the copy are scripted (no model, no trained policy); the orchestrator's
wiring, journey graph, profile reader, guardrails, review service, outbox, dispatcher (with its
send-time checks) and SMTP capture server are the real ones.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from core.clock import utcnow
from core.db import session_scope
from core.domain import Creative, DecisionContext, DecisionOutcome, ProfileView
from core.keys import Role
from core.settings import Settings
from core.tables import Customer, Decision, OutboxMessage, Profile, Review, TriggerFiring
from tests.browser.conftest import LiveServer, login, screenshot

runner_mod = pytest.importorskip("agents.journey.runner", reason="agents/ not in this build")
wiring = pytest.importorskip("agents.journey.wiring", reason="agents/ not in this build")
store = pytest.importorskip("agents.journey.store", reason="agents/ not in this build")
dispatcher_mod = pytest.importorskip("tools.dispatcher", reason="tools/ not in this build")
channels_mod = pytest.importorskip("tools.channels", reason="tools/ not in this build")

pytestmark = pytest.mark.browser

SLUG = "console-e2e"
JOURNEY = f"""\
slug: {SLUG}
version: 1
name: Console end to end
trigger: cart_abandoned
goal: {{event: Order Completed, window: 3d}}
holdout_pct: 0
steps:
  - id: reminder
    kind: action
    channels: [email]
    actions: [cart_reminder]
  - id: done
    kind: end
"""
SUBJECT = "Grace, your basket is waiting"


def _midday_zone(now: datetime) -> str:
    """An Etc/GMT zone where it is about noon now, so quiet hours never hold the test email."""
    offset = max(-12, min(12, now.hour - 12))  # Etc/GMT+N is N hours *behind* UTC
    return f"Etc/GMT{'+' if offset >= 0 else '-'}{abs(offset)}"


def _decide(session: Session, profile: ProfileView, ctx: DecisionContext, now: datetime) -> Any:
    row = Decision(
        customer_id=profile.customer_id,
        journey_slug=ctx.journey_slug,
        run_id=ctx.run_id,
        trigger=ctx.trigger,
        action_id="cart_reminder",
        channel="email",
        explanation={"chosen": {"action_id": "cart_reminder", "reason": "scripted_for_test"}},
    )
    session.add(row)
    session.flush()
    return DecisionOutcome(
        decision_id=row.id,
        customer_id=profile.customer_id,
        action_id="cart_reminder",
        channel="email",
        needs_review=True,  # what sends it to the human queue
        score=0.4,
    )


def _write(session: Session, profile: ProfileView, decision: DecisionOutcome) -> Creative:
    text = (
        "Hi Grace, your running jacket is still in your basket.\n"
        "https://shop.example.com/cart\n{{physical_address}} - unsubscribe: {{unsubscribe_url}}"
    )
    html = (
        "<p>Hi Grace, your <b>running jacket</b> is still in your basket.</p>"
        "<p><a href='https://shop.example.com/cart'>Open my basket</a></p>"
        "<p>{{physical_address}} - <a href='{{unsubscribe_url}}'>unsubscribe</a></p>"
    )
    content = {
        "subject": SUBJECT,
        "body_text": text,
        "body_html": html,
        "cta_text": "Open my basket",
        "cta_url": "https://shop.example.com/cart",
    }
    return Creative(channel="email", content=content, conformance_score=0.9, source="fallback")


def _context(engine: Any, settings: Settings) -> Any:
    """The orchestrator's own JourneyContext, with the decision scripted and the copy fixed."""
    context = wiring.build_context(engine, settings, write_creative=_write)
    return dataclasses.replace(context, decide=_decide)


@pytest.fixture
def journey_world(live_server: LiveServer, tmp_path: Any) -> Iterator[dict[str, Any]]:
    engine = live_server.engine
    now = utcnow()
    cid = f"cus_grace_{uuid.uuid4().hex[:6]}"
    settings = Settings(data_dir=tmp_path / "var", environment="test")
    with session_scope(engine) as s:
        store.save_journey(s, JOURNEY, actor="test")
        s.add(Customer(id=cid))
        s.add(
            Profile(
                customer_id=cid,
                traits={"email": "grace@example.com", "first_name": "Grace"},
                consent={"email": {"status": "subscribed", "basis": "express",
                                   "since": (now - timedelta(days=30)).isoformat()}},
                timezone=_midday_zone(now),
            )
        )  # fmt: skip
        s.add(TriggerFiring(trigger="cart_abandoned", journey_slug=SLUG, customer_id=cid,
                            dedup_key=f"{SLUG}:{cid}"))  # fmt: skip
    runner = runner_mod.JourneyRunner(context=_context(engine, settings), settings=settings)
    registry = channels_mod.build_registry(
        settings, engine, channels_mod.ChannelConfig(smtp_capture_port=0)
    )
    assert registry.capture is not None
    registry.capture.start()
    yield {"cid": cid, "runner": runner,
           "dispatcher": dispatcher_mod.Dispatcher(engine, registry,
                                                   pre_send=wiring.make_pre_send())}  # fmt: skip
    registry.capture.stop()


def test_approval_in_the_browser_resumes_the_journey_and_the_email_reaches_the_inbox(
    page: Any, live_server: LiveServer, journey_world: dict[str, Any]
) -> None:
    engine, cid = live_server.engine, journey_world["cid"]
    journey_world["runner"].run_until_idle()
    with Session(engine) as session:
        review = session.exec(select(Review).where(Review.customer_id == cid)).one()
    assert review.status == "pending" and review.thread_id

    login(page, live_server, live_server.scene.keys[Role.reviewer])
    card = page.locator(f"#review-{review.id}")
    expect(card.get_by_test_id("email-preview")).to_contain_text(SUBJECT)
    card.get_by_test_id("approve").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Approved")

    journey_world["runner"].run_until_idle()  # the run resumes and enqueues the email
    stats = journey_world["dispatcher"].run_until_idle()
    assert stats.sent == 1
    with Session(engine) as session:
        sent = session.exec(select(OutboxMessage).where(OutboxMessage.customer_id == cid)).one()
    assert sent.status == "sent"

    page.context.clear_cookies()
    login(page, live_server, live_server.scene.keys[Role.marketer])
    page.goto(f"{live_server.url}/console/outbox?channel=email")
    expect(page.get_by_test_id("inbox")).to_contain_text(SUBJECT)
    screenshot(page, "outbox-capture-inbox")
