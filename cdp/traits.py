"""Computed traits: a fold over a customer's events, plus values derived "as of" a time.

Accumulated keys (order_count, order_value, first/last order, last_seen, open cart, channel
engagement) depend only on the events, so replaying the same events gives the same profile.
Derived keys (recency_days, frequency, monetary, lifecycle_stage, tier, churn_risk, cart age)
depend on an as-of time: processing uses the customer's latest event time (deterministic), the
read path uses the wall clock or an explicit `as_of` (docs/cdp.md, "Time").
"""

from __future__ import annotations

import bisect
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


def _number(value: Any, default: float) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


# The cart is the fold, in timestamp order, of the Product Added/Removed events since the last
# clearing event (an order or Cart Cleared). Events can be processed in any order, so the log of
# those changes is kept (sorted by (time, messageId)) and the cart is refolded from it; a clear
# drops the changes at or before it. Past this many changes the oldest are folded into `base`
# (exact order is then only kept for the newest ones).
CART_CHANGES_KEPT = 200


def _cart_step(cart: dict[str, Any] | None, change: list[Any]) -> dict[str, Any] | None:
    at, _message_id, sign, qty, price = change
    if not cart or cart["items"] <= 0:
        cart = {"items": 0, "value": 0.0, "started_at": at, "updated_at": at}
    else:
        cart = dict(cart)
    cart["items"] = max(0, cart["items"] + sign * qty)
    cart["value"] = round(max(0.0, cart["value"] + sign * qty * price), 2)
    cart["updated_at"] = max(at, cart["updated_at"])
    return cart if cart["items"] > 0 else None


def _cart_log(computed: dict[str, Any]) -> dict[str, Any]:
    log = computed.get("_cart_log")
    if log is not None:
        return {
            "cleared_at": log["cleared_at"],
            "base": log["base"],
            "changes": list(log["changes"]),
        }
    # A profile written before the log existed: its cart becomes the base.
    return {"cleared_at": None, "base": computed.get("_cart"), "changes": []}


def _cart_change(log: dict[str, Any], change: list[Any]) -> None:
    at = change[0]
    if log["cleared_at"] is not None and at <= log["cleared_at"]:
        return  # an order or Cart Cleared at or after it already emptied that cart
    base = log["base"]
    if base is not None and at <= base["updated_at"]:
        log["base"] = _cart_step(base, change)  # older than the kept changes: approximate
        return
    bisect.insort(log["changes"], change)
    while len(log["changes"]) > CART_CHANGES_KEPT:
        log["base"] = _cart_step(log["base"], log["changes"].pop(0))


def _cart_clear(log: dict[str, Any], at: str) -> None:
    if log["cleared_at"] is None or at > log["cleared_at"]:
        log["cleared_at"] = at
    log["changes"] = [c for c in log["changes"] if c[0] > log["cleared_at"]]
    if log["base"] is not None and log["base"]["updated_at"] <= log["cleared_at"]:
        log["base"] = None


def _cart_of(log: dict[str, Any]) -> dict[str, Any] | None:
    cart = log["base"]
    for change in log["changes"]:
        cart = _cart_step(cart, change)
    return cart


def _micros(value: float) -> int:
    return round(value * 1_000_000)


def apply_event(computed: dict[str, Any], event: Event) -> dict[str, Any]:
    """A new computed dict with `event` folded in; the result does not depend on the order
    events are folded in (sums are exact integers, times are min/max, the cart is refolded in
    timestamp order), so out-of-order processing gives the same profile."""
    out = dict(computed)
    at = _iso(event.timestamp)
    if out.get("last_seen") is None or at > out["last_seen"]:
        out["last_seen"] = at
    if event.type != "track":
        return out
    name, props = event.event, event.properties
    if name == "Order Completed":
        out["order_count"] = int(out.get("order_count", 0)) + 1
        # Whole millionths: a float running sum would depend on the order of the additions.
        total = out.get("_order_value_micros")
        if total is None:
            total = _micros(float(out.get("order_value", 0.0)))
        out["_order_value_micros"] = total + _micros(order_value_of(props))
        out["order_value"] = round(out["_order_value_micros"] / 1_000_000, 2)
        if out.get("first_order_at") is None or at < out["first_order_at"]:
            out["first_order_at"] = at
        if out.get("last_order_at") is None or at > out["last_order_at"]:
            out["last_order_at"] = at
        days = set(out.get("_order_days", []))
        days.add(at[:10])
        out["_order_days"] = sorted(days)
    if name in ("Order Completed", "Cart Cleared"):
        log = _cart_log(out)
        _cart_clear(log, at)
        out["_cart_log"], out["_cart"] = log, _cart_of(log)
    elif name in ("Product Added", "Product Removed"):
        qty = props.get("quantity", 1)
        qty = int(qty) if isinstance(qty, int | float) and not isinstance(qty, bool) else 1
        sign = 1 if name == "Product Added" else -1
        change = [at, event.message_id, sign, qty, _number(props.get("price"), 0.0)]
        log = _cart_log(out)
        _cart_change(log, change)
        out["_cart_log"], out["_cart"] = log, _cart_of(log)
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
