"""Computed traits: a fold over a customer's events, plus values derived "as of" a time.

Accumulated keys (order_count, order_value, first/last order, last_seen, open cart, channel
engagement) depend only on the events, so replaying the same events gives the same profile.
Derived keys (recency_days, frequency, monetary, lifecycle_stage, tier, churn_risk, cart age)
depend on an as-of time: processing uses the customer's latest event time (deterministic), the
read path uses the wall clock or an explicit `as_of` (docs/cdp.md, "Time").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from core.clock import as_utc
from core.tables import Event

__all__ = [
    "ChurnScorer",
    "apply_event",
    "derive",
    "get_churn_scorer",
    "order_value_of",
    "public_traits",
    "set_churn_scorer",
]

ChurnScorer = Callable[[dict[str, Any]], float]
_scorer: ChurnScorer | None = None

ENGAGEMENT_CHANNELS = ("email", "sms", "push", "web")
_ENGAGEMENT_EVENTS = {
    "Email Opened": "email",
    "Email Link Clicked": "email",
    "SMS Link Clicked": "sms",
    "Push Notification Tapped": "push",
    "Push Notification Opened": "push",
}


def set_churn_scorer(fn: ChurnScorer | None) -> None:
    """Register the churn model (decisioning provides one); None removes it.

    With a scorer, `churn_risk` = fn(computed traits) clamped to [0, 1]; without one the key is
    left out rather than guessed.
    """
    global _scorer
    _scorer = fn


def get_churn_scorer() -> ChurnScorer | None:
    return _scorer


def order_value_of(properties: dict[str, Any]) -> float:
    """Segment's Order Completed carries `revenue`, `total` or `value`; first one present wins."""
    for key in ("revenue", "total", "value"):
        value = properties.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 0.0


def _iso(at: datetime) -> str:
    return as_utc(at).isoformat()


def apply_event(computed: dict[str, Any], event: Event) -> dict[str, Any]:
    """A new computed dict with `event` folded in (order-independent where it matters)."""
    out = dict(computed)
    at = _iso(event.timestamp)
    if out.get("last_seen") is None or at > out["last_seen"]:
        out["last_seen"] = at
    if event.type != "track":
        return out
    name, props = event.event, event.properties
    if name == "Order Completed":
        out["order_count"] = int(out.get("order_count", 0)) + 1
        out["order_value"] = round(float(out.get("order_value", 0.0)) + order_value_of(props), 2)
        if out.get("first_order_at") is None or at < out["first_order_at"]:
            out["first_order_at"] = at
        if out.get("last_order_at") is None or at > out["last_order_at"]:
            out["last_order_at"] = at
        days = set(out.get("_order_days", []))
        days.add(at[:10])
        out["_order_days"] = sorted(days)
        cart = out.get("_cart")
        if cart and cart["updated_at"] <= at:
            out["_cart"] = None
    elif name in ("Product Added", "Product Removed"):
        cart = dict(out.get("_cart") or {"items": 0, "value": 0.0, "started_at": at})
        qty = props.get("quantity", 1)
        qty = int(qty) if isinstance(qty, int | float) and not isinstance(qty, bool) else 1
        price = props.get("price", 0.0)
        price = (
            float(price) if isinstance(price, int | float) and not isinstance(price, bool) else 0
        )
        sign = 1 if name == "Product Added" else -1
        cart["items"] = max(0, cart["items"] + sign * qty)
        cart["value"] = round(max(0.0, cart["value"] + sign * qty * price), 2)
        cart["updated_at"] = max(at, cart.get("updated_at", at))
        out["_cart"] = cart if cart["items"] > 0 else None
    elif name == "Cart Cleared":
        out["_cart"] = None
    channel = _ENGAGEMENT_EVENTS.get(name or "")
    if channel:
        counts = dict(out.get("_engagement", {}))
        counts[channel] = counts.get(channel, 0) + 1
        out["_engagement"] = counts
    return out


def _lifecycle(order_count: int, recency: int | None) -> str:
    if order_count == 0 or recency is None:
        return "prospect"
    if recency > 180:
        return "lapsed"
    if recency > 90:
        return "at_risk"
    return "new" if order_count == 1 else "active"


def _tier(order_value: float) -> str:
    if order_value >= 500:
        return "gold"
    if order_value >= 100:
        return "silver"
    return "bronze" if order_value > 0 else "none"


def derive(computed: dict[str, Any], as_of: datetime) -> dict[str, Any]:
    """`computed` plus the keys that depend on time, as of `as_of`."""
    out = dict(computed)
    count = int(out.get("order_count", 0))
    value = float(out.get("order_value", 0.0))
    out["order_count"], out["order_value"] = count, value
    as_of_iso = _iso(as_of)
    recency: int | None = None
    if out.get("last_order_at"):
        recency = max(0, (as_of - datetime.fromisoformat(out["last_order_at"])).days)
        out["recency_days"] = recency
        out["tenure_days"] = max(0, (as_of - datetime.fromisoformat(out["first_order_at"])).days)
    out["frequency"] = max(0, len(out.get("_order_days", [])) - 1)
    out["monetary"] = round(value / count, 2) if count else 0.0
    out["lifecycle_stage"] = _lifecycle(count, recency)
    out["tier"] = _tier(value)
    cart = out.get("_cart")
    if cart:
        age = (as_of - datetime.fromisoformat(cart["updated_at"])).total_seconds() / 60
        out["open_cart"] = {
            "items": cart["items"],
            "value": cart["value"],
            "age_minutes": max(0, int(age)),
            "started_at": cart["started_at"],
        }
    else:
        out["open_cart"] = None
    engagement = out.get("_engagement") or {}
    if engagement:
        out["preferred_channel"] = max(sorted(engagement), key=lambda c: engagement[c])
    out["as_of"] = as_of_iso
    out.pop("churn_risk", None)
    scorer = _scorer
    # Churn is the risk of losing a buyer: a visitor who never ordered has no risk to score.
    if scorer is not None and (out.get("order_count") or 0) >= 1:
        out["churn_risk"] = round(min(1.0, max(0.0, float(scorer(public_traits(out))))), 4)
    return out


def public_traits(computed: dict[str, Any]) -> dict[str, Any]:
    """Computed traits without the bookkeeping keys (those start with `_`)."""
    return {k: v for k, v in computed.items() if not k.startswith("_")}
