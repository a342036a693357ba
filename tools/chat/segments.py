"""Named customer segments the chat can count and list, defined on profile traits.

A segment is a predicate over a profile's `computed` and `traits` (keys documented on
core.domain.ProfileView). Thresholds match the journey triggers (churn risk 0.7, 90 days lapsed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal, get_args

from sqlmodel import Session, col, select

from core.tables import Customer, Profile

__all__ = ["SEGMENTS", "Segment", "describe", "members"]

Segment = Literal[
    "all", "at_risk", "lapsed", "vip", "lapsed_vip", "new", "cart_abandoners", "active"
]
SEGMENTS: tuple[str, ...] = get_args(Segment)

CHURN_RISK_THRESHOLD = 0.7
LAPSED_DAYS = 90
VIP_TIERS = frozenset({"vip", "gold", "platinum", "top"})


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _at_risk(c: dict[str, Any], _t: dict[str, Any]) -> bool:
    risk = _num(c.get("churn_risk"))
    return risk is not None and risk >= CHURN_RISK_THRESHOLD


def _lapsed(c: dict[str, Any], _t: dict[str, Any]) -> bool:
    recency = _num(c.get("recency_days"))
    return c.get("lifecycle_stage") == "lapsed" or (recency is not None and recency >= LAPSED_DAYS)


def _vip(c: dict[str, Any], t: dict[str, Any]) -> bool:
    tier = c.get("tier") or t.get("tier")
    return (isinstance(tier, str) and tier.lower() in VIP_TIERS) or t.get("vip") is True


def _new(c: dict[str, Any], _t: dict[str, Any]) -> bool:
    orders = _num(c.get("order_count"))
    return c.get("lifecycle_stage") == "new" or (orders is not None and orders <= 1)


def _cart(c: dict[str, Any], _t: dict[str, Any]) -> bool:
    cart = c.get("open_cart")
    return isinstance(cart, dict) and bool(cart.get("items"))


def _active(c: dict[str, Any], _t: dict[str, Any]) -> bool:
    recency = _num(c.get("recency_days"))
    return recency is not None and recency < 30


_RULES: dict[str, tuple[Callable[[dict[str, Any], dict[str, Any]], bool], str]] = {
    "all": (lambda _c, _t: True, "every customer"),
    "at_risk": (_at_risk, f"churn risk >= {CHURN_RISK_THRESHOLD}"),
    "lapsed": (_lapsed, f"no order for {LAPSED_DAYS}+ days"),
    "vip": (_vip, "VIP / top tier"),
    "lapsed_vip": (lambda c, t: _lapsed(c, t) and _vip(c, t), "lapsed and VIP"),
    "new": (_new, "at most one order"),
    "cart_abandoners": (_cart, "an open cart"),
    "active": (_active, "ordered in the last 30 days"),
}


def describe(segment: str) -> str:
    return _RULES[segment][1]


def members(session: Session, segment: str, batch: int = 2000) -> Iterator[Profile]:
    """Profiles of live (not merged-away) customers in `segment`, streamed in batches."""
    rule = _RULES[segment][0]
    merged = select(Customer.id).where(col(Customer.merged_into).is_not(None))
    after = ""
    while True:
        rows = session.exec(
            select(Profile)
            .where(col(Profile.customer_id) > after, col(Profile.customer_id).not_in(merged))
            .order_by(col(Profile.customer_id))
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            if rule(row.computed or {}, row.traits or {}):
                yield row
        after = rows[-1].customer_id
