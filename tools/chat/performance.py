"""Chat tools: journey and channel performance, always beside the holdout group.

Journeys: agents.outcomes' holdout comparison (journey assignments, treated vs control, 95%
intervals). Both journeys and channels: recent decisions, where a customer "converted" when an
order follows the decision within the attribution window, treated vs holdout decisions.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any, Literal

from sqlmodel import col, func, select

from agents.journey.store import load_spec
from agents.outcomes import HoldoutComparison, holdout_comparison
from core.clock import as_utc, utcnow
from core.domain import CHANNELS
from core.tables import Decision, Event, Journey, OutboxMessage
from tools.chat.env import Days, ToolEnv, ToolError, ToolResult

__all__ = ["Channel", "channel_performance", "journey_performance"]

Channel = Literal["email", "sms", "push", "webhook", "audience", "csm", "web"]
CONVERSION_EVENTS = ("Order Completed",)
ATTRIBUTION_DAYS = 7


def _conversions(env: ToolEnv, decisions: list[Decision]) -> dict[str, bool]:
    """decision id -> did an order follow it within the attribution window."""
    if not decisions:
        return {}
    customers = {d.customer_id for d in decisions}
    start = min(as_utc(d.created_at) for d in decisions)
    orders: dict[str, list[Any]] = defaultdict(list)
    for ev in env.session.exec(
        select(Event).where(
            col(Event.customer_id).in_(customers),
            col(Event.event).in_(CONVERSION_EVENTS),
            Event.timestamp >= start,
        )
    ):
        orders[ev.customer_id or ""].append(as_utc(ev.timestamp))
    window = timedelta(days=ATTRIBUTION_DAYS)
    out = {}
    for d in decisions:
        at = as_utc(d.created_at)
        out[d.id] = any(at <= t <= at + window for t in orders.get(d.customer_id, []))
    return out


def _compare(env: ToolEnv, decisions: list[Decision]) -> dict[str, Any]:
    converted = _conversions(env, decisions)
    groups: dict[str, list[bool]] = {"treated": [], "holdout": []}
    for d in decisions:
        if d.action_id is None and not d.holdout:
            continue  # "no action" decisions are neither arm
        groups["holdout" if d.holdout else "treated"].append(converted[d.id])
    stats: dict[str, Any] = {}
    for arm, flags in groups.items():
        stats[arm] = {
            "decisions": len(flags),
            "conversions": sum(flags),
            "conversion_rate": round(sum(flags) / len(flags), 4) if flags else None,
        }
    t, h = stats["treated"]["conversion_rate"], stats["holdout"]["conversion_rate"]
    stats["uplift_pp"] = round((t - h) * 100, 2) if t is not None and h is not None else None
    return stats


def _describe(label: str, stats: dict[str, Any]) -> str:
    t, h = stats["treated"], stats["holdout"]

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.1%}"

    text = (
        f"{label}: treated {t['conversions']}/{t['decisions']} converted "
        f"({pct(t['conversion_rate'])}), holdout {h['conversions']}/{h['decisions']} "
        f"({pct(h['conversion_rate'])})"
    )
    if stats["uplift_pp"] is not None:
        text += f", uplift {stats['uplift_pp']:+.1f} points"
    if h["decisions"] < 30:
        text += " (holdout too small to trust)"
    return text + "."


def _recent(env: ToolEnv, days: int) -> Any:
    if not 1 <= days <= 365:
        raise ToolError("days must be between 1 and 365")
    return select(Decision).where(Decision.created_at >= utcnow() - timedelta(days=days))


def _assignment_line(cmp: HoldoutComparison) -> str:
    t, c = cmp.treated, cmp.control
    lo, hi = cmp.conversion_lift_ci
    return (
        f"Journey {cmp.journey_slug} (all assignments): treated {t.conversions}/{t.customers} "
        f"converted ({t.conversion_rate:.1%}), holdout {c.conversions}/{c.customers} "
        f"({c.conversion_rate:.1%}), lift {cmp.conversion_lift * 100:+.1f} points "
        f"(95% CI {lo * 100:+.1f} to {hi * 100:+.1f}), revenue per customer "
        f"{cmp.revenue_lift:+.2f}."
    )


def journey_performance(env: ToolEnv, journey: str | None = None, days: Days = 30) -> ToolResult:
    """How journeys perform against their holdout group: conversion of treated customers vs
    the holdout, the lift with its 95% interval (journey assignments, all time), and the
    decisions of the last `days`. `journey` is a journey slug; all journeys when omitted."""
    slugs = set(env.session.exec(select(Journey.slug).where(col(Journey.status) != "proposed")))
    if journey:
        if journey not in slugs and journey not in set(
            env.session.exec(select(Decision.journey_slug).where(Decision.journey_slug == journey))
        ):
            raise ToolError(f"no journey is called {journey!r}")
        slugs = {journey}
    query = _recent(env, days).where(col(Decision.journey_slug).in_(slugs or {""}))
    by_journey: dict[str, list[Decision]] = defaultdict(list)
    for d in env.session.exec(query):
        by_journey[d.journey_slug or ""].append(d)
    results: dict[str, Any] = {}
    lines = []
    for slug in sorted(slugs | set(by_journey)):
        cmp = holdout_comparison(env.session, slug, spec=load_spec(env.session, slug))
        recent = _compare(env, by_journey.get(slug, []))
        results[slug] = {"assignments": cmp.as_dict(), f"decisions_{days}d": recent}
        if cmp.treated.customers + cmp.control.customers:
            lines.append(_assignment_line(cmp))
        if by_journey.get(slug) or not cmp.treated.customers + cmp.control.customers:
            lines.append(_describe(f"Journey {slug} (decisions, last {days} days)", recent))
    if not lines:
        return ToolResult(summary="No journeys yet.", data={"days": days, "journeys": {}})
    return ToolResult(summary="\n".join(lines), data={"days": days, "journeys": results})


def channel_performance(
    env: ToolEnv, channel: Channel | None = None, days: Days = 30
) -> ToolResult:
    """How channels perform over the last `days`: messages sent, held and failed from the
    outbox, and conversions against the holdout group. All channels when `channel` is omitted."""
    if channel is not None and channel not in CHANNELS:
        raise ToolError(f"unknown channel {channel!r}; one of {', '.join(CHANNELS)}")
    query = _recent(env, days).where(col(Decision.channel).is_not(None))
    if channel:
        query = query.where(Decision.channel == channel)
    by_channel: dict[str, list[Decision]] = defaultdict(list)
    for d in env.session.exec(query):
        by_channel[d.channel or ""].append(d)
    since = utcnow() - timedelta(days=days)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    outbox = (
        select(OutboxMessage.channel, OutboxMessage.status, func.count())
        .where(OutboxMessage.created_at >= since)
        .group_by(OutboxMessage.channel, OutboxMessage.status)
    )
    for ch, status, n in env.session.exec(outbox):
        if channel is None or ch == channel:
            counts[ch][status] = n
    names = sorted(set(by_channel) | set(counts))
    results = {}
    lines = []
    for ch in names:
        stats = _compare(env, by_channel.get(ch, []))
        stats["outbox"] = counts.get(ch, {})
        results[ch] = stats
        sent = ", ".join(f"{n} {s}" for s, n in sorted(stats["outbox"].items())) or "no messages"
        lines.append(_describe(f"Channel {ch} ({sent})", stats))
    if not lines:
        return ToolResult(
            summary=f"No channel activity in the last {days} days.",
            data={"days": days, "channels": {}},
        )
    return ToolResult(summary="\n".join(lines), data={"days": days, "channels": results})
