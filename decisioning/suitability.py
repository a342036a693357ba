"""Suitability: pre-checks on an (action, customer) pair after eligibility, before scoring.

Outside checks (the guardrails' frequency cap and quiet hours) plug in as `SuitabilityCheck`
functions. The budget check here is decisioning's own: it caps the discount any action may give,
keeps bigger discounts for customers worth them, and limits offers per customer per 30 days.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain import ProfileView, Verdict
from decisioning.catalog import ActionSpec, Limits

__all__ = ["PastDecision", "SuitabilityCheck", "budget_check"]

SuitabilityCheck = Callable[[ProfileView, ActionSpec, datetime], Verdict | None]
_ALLOW = Verdict.allow("budget")  # read-only; shared so a passing check allocates nothing


@dataclass(frozen=True)
class PastDecision:
    """A past chosen action for this customer (what cooldowns and the offer budget look at)."""

    action_id: str
    at: datetime
    discount_pct: float = 0.0


def budget_check(limits: Limits, history: Sequence[PastDecision]) -> SuitabilityCheck:
    """A check enforcing `limits` for one customer whose recent decisions are `history`."""
    offers_since: dict[datetime, int] = {}  # one count per decision time, not per candidate

    def check(profile: ProfileView, action: ActionSpec, now: datetime) -> Verdict:
        pct = action.discount_pct
        if pct <= 0:
            return _ALLOW
        if pct > limits.max_discount_pct:
            return Verdict.block(
                "budget", f"discount {pct:g}% above the {limits.max_discount_pct:g}% limit"
            )
        monetary = profile.computed.get("monetary")
        worth = float(monetary) if isinstance(monetary, int | float) else 0.0
        if pct > 10 and worth < limits.high_discount_min_monetary:
            return Verdict.block(
                "budget",
                f"discount {pct:g}% needs monetary >= {limits.high_discount_min_monetary:g}"
                f" (customer {worth:g})",
            )
        if now not in offers_since:
            since = now - timedelta(days=30)
            offers_since[now] = sum(1 for p in history if p.discount_pct > 0 and p.at >= since)
        offers = offers_since[now]
        if offers >= limits.max_offers_per_30_days:
            return Verdict.block(
                "budget", f"{offers} offers in 30 days (limit {limits.max_offers_per_30_days})"
            )
        return _ALLOW

    return check
