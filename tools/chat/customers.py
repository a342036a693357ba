"""Chat tools about customers: segment counts and lists, one profile, one timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from core.clock import as_utc
from core.tables import Decision, Event, OutboxMessage, Review
from tools.chat.env import Limit, ToolEnv, ToolError, ToolResult
from tools.chat.lookups import load_profile, resolve_customer
from tools.chat.segments import Segment, describe, members

__all__ = ["count_customers", "get_customer_profile", "get_customer_timeline", "list_customers"]

_SHOWN_TRAITS = (
    "churn_risk",
    "tier",
    "lifecycle_stage",
    "recency_days",
    "order_count",
    "monetary",
    "preferred_channel",
)


def count_customers(env: ToolEnv, segment: Segment = "all") -> ToolResult:
    """Count the customers in a segment.

    Segments: all, at_risk (churn risk >= 0.7, e.g. "at risk of churning this week"),
    lapsed (no order for 90+ days), vip, lapsed_vip, new, cart_abandoners, active.
    """
    count = sum(1 for _ in members(env.session, segment))
    return ToolResult(
        summary=f"{count} customers are in segment {segment} ({describe(segment)}).",
        data={"segment": segment, "count": count, "definition": describe(segment)},
    )


def list_customers(env: ToolEnv, segment: Segment = "all", limit: Limit = 10) -> ToolResult:
    """List customers of a segment with their key traits (at most `limit`, 1-100)."""
    if not 1 <= limit <= 100:
        raise ToolError("limit must be between 1 and 100")
    rows = []
    for profile in members(env.session, segment):
        shown = {k: profile.computed[k] for k in _SHOWN_TRAITS if k in profile.computed}
        rows.append({"customer_id": profile.customer_id, **shown})
        if len(rows) >= limit:
            break
    lines = [
        f"- {r['customer_id']}: "
        + ", ".join(f"{k}={v}" for k, v in r.items() if k != "customer_id")
        for r in rows
    ]
    head = f"{len(rows)} customers in segment {segment} ({describe(segment)})"
    return ToolResult(
        summary="\n".join([head + ":", *lines]) if rows else head + ".",
        data={"segment": segment, "customers": rows},
    )


def get_customer_profile(env: ToolEnv, customer_id: str) -> ToolResult:
    """Show one customer's unified profile: traits, computed traits (churn risk, tier, ...),
    consent per channel. `customer_id` may be the canonical id, a user id or an email."""
    canonical = resolve_customer(env.session, customer_id)
    view = load_profile(env.session, canonical)
    if view is None:
        raise ToolError(f"customer {canonical} has no profile yet")
    computed = {k: v for k, v in view.computed.items() if k in _SHOWN_TRAITS}
    consent = {ch: c.get("status") for ch, c in view.consent.items()}
    parts = [f"Customer {canonical}"]
    if computed:
        parts.append(", ".join(f"{k}={v}" for k, v in computed.items()))
    if consent:
        parts.append("consent: " + ", ".join(f"{k} {v}" for k, v in consent.items()))
    return ToolResult(summary="; ".join(parts) + ".", data=view.model_dump(mode="json"))


def _when(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="seconds")


def get_customer_timeline(env: ToolEnv, customer_id: str, limit: Limit = 20) -> ToolResult:
    """Show a customer's recent history, newest first: events, decisions, messages, reviews."""
    canonical = resolve_customer(env.session, customer_id)
    s = env.session
    items: list[dict[str, Any]] = []
    for ev in s.exec(
        select(Event)
        .where(Event.customer_id == canonical)
        .order_by(col(Event.timestamp).desc())
        .limit(limit)
    ):
        items.append({"at": _when(ev.timestamp), "kind": "event", "what": ev.event or ev.type})
    for d in s.exec(
        select(Decision)
        .where(Decision.customer_id == canonical)
        .order_by(col(Decision.created_at).desc())
        .limit(limit)
    ):
        what = f"decision {d.id[:8]}: {d.action_id or 'no action'}" + (
            " (holdout)" if d.holdout else ""
        )
        items.append({"at": _when(d.created_at), "kind": "decision", "what": what, "id": d.id})
    for m in s.exec(
        select(OutboxMessage)
        .where(OutboxMessage.customer_id == canonical)
        .order_by(col(OutboxMessage.created_at).desc())
        .limit(limit)
    ):
        items.append(
            {
                "at": _when(m.created_at),
                "kind": "message",
                "what": f"{m.channel} {m.action_id or ''} {m.status}".strip(),
            }
        )
    for r in s.exec(
        select(Review)
        .where(Review.customer_id == canonical)
        .order_by(col(Review.created_at).desc())
        .limit(limit)
    ):
        items.append(
            {"at": _when(r.created_at), "kind": "review", "what": f"review {r.id[:8]} {r.status}"}
        )
    items.sort(key=lambda i: i["at"], reverse=True)
    items = items[:limit]
    lines = [f"- {i['at']} {i['kind']}: {i['what']}" for i in items]
    head = f"Timeline of customer {canonical} ({len(items)} items, newest first)"
    return ToolResult(
        summary="\n".join([head + ":", *lines]) if items else head + ": nothing yet.",
        data={"customer_id": canonical, "items": items},
    )
