"""Small factories for guardrail tests: a consenting customer and a compliant email."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from core.db import session_scope
from core.domain import PlannedAction, ProfileView
from core.tables import Customer, Profile

# 15:00 in New York (EST, UTC-5) on a Tuesday.
AFTERNOON_NY = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)


def profile(**overrides: Any) -> ProfileView:
    data: dict[str, Any] = {
        "customer_id": "cus_ada",
        "traits": {"email": "ada@example.org", "phone": "+1 212 555 0142", "country": "US"},
        "computed": {"tier": "silver"},
        "consent": {
            "email": {"status": "subscribed", "basis": "express", "since": "2025-01-01T00:00:00Z"},
            "sms": {"status": "subscribed", "basis": "express", "since": "2025-01-01T00:00:00Z"},
            "push": {"status": "subscribed", "basis": "express", "since": "2025-01-01T00:00:00Z"},
        },
        "timezone": "America/New_York",
        "locale": "en-US",
    }
    data.update(overrides)
    return ProfileView(**data)


def email_content(**overrides: Any) -> dict[str, Any]:
    content: dict[str, Any] = {
        "subject": "Your cart is still waiting, Ada",
        "preheader": "The walking boots you picked are in stock",
        "body_text": (
            "Hi Ada, the Trailhead boots are still in your cart. Take 10% off today.\n"
            "Shop now: https://shop.example.com/cart\n"
            "Unsubscribe: {{unsubscribe_url}}\n{{physical_address}}"
        ),
        "cta_text": "Back to my cart",
        "cta_url": "https://shop.example.com/cart",
    }
    content.update(overrides)
    return content


def email_action(**overrides: Any) -> PlannedAction:
    data: dict[str, Any] = {
        "customer_id": "cus_ada",
        "channel": "email",
        "action_id": "cart_reminder",
        "journey_slug": "cart-abandon",
        "run_id": "run_1",
        "step": "remind",
        "decision_id": "dec_1",
        "content": email_content(),
        "offer": {"discount_pct": 10, "value": 12.0},
        "recipient": "ada@example.org",
        "conformance_score": 0.85,
        "model_confidence": 0.8,
    }
    data.update(overrides)
    return PlannedAction(**data)


def send_headers() -> dict[str, str]:
    return {
        "List-Unsubscribe": "<https://shop.example.com/u/abc>, <mailto:u@shop.example.com>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def store_customer(engine: Engine, **overrides: Any) -> ProfileView:
    """Store `profile(**overrides)` as a customer the dispatcher's send-time check can read."""
    p = profile(**overrides)
    with session_scope(engine) as s:
        s.add(Customer(id=p.customer_id))
        s.add(
            Profile(
                customer_id=p.customer_id,
                traits=p.traits,
                consent=p.consent,
                timezone=p.timezone,
                locale=p.locale,
            )
        )
    return p
