"""Small factories that put a realistic console scene in the core tables (tests only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from core import audit
from core.clock import utcnow
from core.db import session_scope
from core.domain import GuardrailReport, PlannedAction, Verdict
from core.keys import Role, create_key
from core.tables import (
    Customer,
    Decision,
    Event,
    Identity,
    Journey,
    JourneyRun,
    OutboxMessage,
    Profile,
    Review,
    TriggerFiring,
)
from guardrails.review import create_review

JOURNEY_YAML = """\
slug: cart-recovery
version: 1
name: Cart recovery
trigger: cart_abandoned
goal: {event: Order Completed, window: 3d}
steps:
  - id: reminder_email
    kind: action
    channels: [email]
    actions: [cart_reminder]
  - id: wait_1d
    kind: wait
    duration: 1d
  - id: still_open
    kind: branch
    rules:
      - when: {field: profile.computed.open_cart.value, op: gte, value: 50}
        goto: nudge_sms
    default: done
  - id: nudge_sms
    kind: action
    channels: [sms]
    actions: [cart_nudge_sms]
  - id: done
    kind: end
"""

EMAIL = {
    "subject": "You left something in your cart",
    "preheader": "Your basket is waiting",
    "body_text": "Hi Ada, your trail shoes are still in your cart.\n\n"
    "{{physical_address}} · Unsubscribe: {{unsubscribe_url}}",
    "body_html": "<h1 style='font-family:sans-serif'>Still thinking it over?</h1>"
    "<p>Hi Ada, your <b>trail shoes</b> are still in your cart.</p>"
    "<p><a href='https://shop.example.com/cart'>Back to my cart</a></p>"
    "<p style='color:#666;font-size:12px'>{{physical_address}} · "
    "<a href='{{unsubscribe_url}}'>Unsubscribe</a></p>",
    "cta_text": "Back to my cart",
    "cta_url": "https://shop.example.com/cart",
}


@dataclass
class Scene:
    keys: dict[Role, str]
    customer_id: str
    review_id: str
    sms_review_id: str
    decision_id: str


def make_review(
    session: Any,
    *,
    customer_id: str,
    decision_id: str | None,
    channel: str = "email",
    content: dict[str, Any] | None = None,
    minutes_left: int = 45,
) -> Review:
    """A pending review, opened by the real review service (as a journey's escalation does)."""
    content = content or dict(EMAIL)
    report = GuardrailReport.of(
        [Verdict.escalate("offer_claims", "discount_claim_unverified")], risk_score=0.62
    )
    action = PlannedAction(
        customer_id=customer_id,
        channel=channel,
        action_id="cart_reminder",
        journey_slug="cart-recovery",
        decision_id=decision_id,
        content=content,
        recipient="ada@example.com" if channel == "email" else "+447700900123",
    )
    row = create_review(
        session, action=action, report=report, thread_id=None, actor="agent:journey"
    )
    row.expires_at = utcnow() + timedelta(minutes=minutes_left)
    session.add(row)
    session.flush()
    return row


def seed(engine: Engine) -> Scene:
    """One customer with history, a journey, a decision, two pending reviews, one sent email."""
    now = utcnow()
    cid = "cus_ada"
    with session_scope(engine) as s:
        keys = {role: create_key(s, role=role, name=f"console-{role.value}").key for role in Role}
        s.add(Customer(id=cid))
        s.add(Customer(id="anon_7f3", merged_into=cid))
        s.add(Identity(kind="user_id", value="ada-1815", customer_id=cid))
        s.add(Identity(kind="email", value="ada@example.com", customer_id=cid))
        s.add(Identity(kind="anonymous_id", value="anon_7f3", customer_id="anon_7f3"))
        s.add(
            Profile(
                customer_id=cid,
                traits={"email": "ada@example.com", "first_name": "Ada"},
                computed={"lifecycle_stage": "active", "churn_risk": 0.31, "order_count": 3},
                consent={"email": {"status": "subscribed", "basis": "express"}},
                timezone="Europe/London",
            )
        )
        for i, (name, props) in enumerate(
            [("Product Viewed", {"sku": "trail-42"}), ("Product Added", {"sku": "trail-42"})]
        ):
            s.add(
                Event(
                    message_id=f"m{i}",
                    type="track",
                    event=name,
                    user_id="ada-1815",
                    customer_id=cid,
                    timestamp=now - timedelta(hours=3 - i),
                    properties=props,
                )
            )
        s.add(Journey(slug="cart-recovery", name="Cart recovery", definition=JOURNEY_YAML))
        s.add(
            JourneyRun(
                journey_slug="cart-recovery",
                customer_id=cid,
                trigger_key="cart:1",
                thread_id="cart-recovery:cus_ada:1",
                status="waiting_review",
                step="escalate",
            )
        )
        s.add(
            TriggerFiring(
                trigger="cart_abandoned",
                journey_slug="cart-recovery",
                customer_id=cid,
                dedup_key="cart:cus_ada:1",
            )
        )
        decision = Decision(
            customer_id=cid,
            journey_slug="cart-recovery",
            trigger="cart_abandoned",
            action_id="cart_reminder",
            channel="email",
            explanation={
                "policy_arm": "model",
                "preferred_channel": {"channel": "email", "reason": "opened 4 of last 5"},
                "chosen": {"action_id": "cart_reminder", "reason": "highest_score"},
                "candidates": [
                    {"action_id": "cart_reminder", "channel": "email", "passed": True,
                     "score": 0.41, "p_response": 0.12, "filters": [],
                     "top_features": [{"feature": "open_cart_value", "contribution": 0.31}]},
                    {"action_id": "discount_10", "channel": "email", "passed": False,
                     "filters": [{"check": "margin_floor", "passed": False,
                                  "reason": "discount would break the margin floor"}]},
                    {"action_id": "nothing", "channel": None, "passed": True, "score": 0.0},
                ],
            },
        )  # fmt: skip
        s.add(decision)
        s.add(Decision(customer_id="cus_bob", action_id=None, holdout=True))
        s.flush()
        review = make_review(s, customer_id=cid, decision_id=decision.id)
        sms = make_review(
            s,
            customer_id=cid,
            decision_id=None,
            channel="sms",
            content={"text": "Ada, your trail shoes are waiting. Reply STOP to opt out."},
            minutes_left=-5,
        )
        s.add(
            OutboxMessage(
                idempotency_key="seed-sent-1",
                channel="email",
                customer_id=cid,
                journey_slug="welcome",
                payload={"to": "ada@example.com", "content": {"subject": "Welcome to the shop"}},
                status="sent",
                sent_at=now - timedelta(days=2),
            )
        )
        audit.append(
            s,
            actor="agent:journey",
            kind="guardrail.checked",
            customer_id=cid,
            journey_id="cart-recovery",
            payload={
                "stage": "plan",
                "channel": "sms",
                "report": {
                    "outcome": "block",
                    "verdicts": [
                        {"check": "consent", "outcome": "block", "reasons": ["no_sms_consent"]}
                    ],
                },
            },
        )
        audit.append(
            s, actor="agent:journey", kind="creative.written", customer_id=cid,
            payload={"tokens": 412, "model": "local"},
        )  # fmt: skip
        return Scene(keys, cid, review.id, sms.id, decision.id)
