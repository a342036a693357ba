"""Small factories for decisioning tests: profiles, contexts, policies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.domain import DecisionContext, ProfileView
from decisioning.arbitration import PolicyConfig

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SUBSCRIBED = {"status": "subscribed", "basis": "express"}


def profile(
    customer_id: str = "cust-1", *, consent: dict[str, Any] | None = None, **computed: Any
) -> ProfileView:
    """A reachable, opted-in customer with an open cart unless overridden."""
    base: dict[str, Any] = {
        "order_count": 3,
        "monetary": 180.0,
        "recency_days": 12,
        "churn_risk": 0.2,
        "open_cart": {"items": 2, "value": 80.0, "age_minutes": 75},
    }
    base.update(computed)
    if consent is None:
        consent = {"email": SUBSCRIBED, "sms": SUBSCRIBED, "push": SUBSCRIBED}
    return ProfileView(
        customer_id=customer_id,
        traits={"email": f"{customer_id}@example.com", "phone": "+15555550100"},
        computed=base,
        consent=consent,
        timezone="Europe/Paris",
    )


def cart_ctx(**kw: Any) -> DecisionContext:
    return DecisionContext(trigger="cart_abandoned", journey_slug="cart-recovery", **kw)


def policy(**kw: Any) -> PolicyConfig:
    """No holdouts, always the model arm, no exploration: the greedy pipeline."""
    values: dict[str, Any] = {
        "global_control_rate": 0.0,
        "journey_holdout_rate": 0.0,
        "model_share": 1.0,
        "epsilon": 0.0,
    }
    values.update(kw)
    return PolicyConfig(**values)
