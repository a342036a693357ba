"""Frequency caps per channel and overall, counted per local day from the outbox.

The count comes from `OutboxMessage` rows (pending, sending, sent), so it includes messages other
journeys queued a moment ago. Under concurrency the caller serialises per customer with
`lock_customer` inside the transaction that checks and then inserts the outbox row.
"""

from __future__ import annotations

import zlib
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel import Session, col, select

from core.clock import as_utc
from core.domain import ProfileView, Verdict
from core.tables import OutboxMessage
from guardrails.policy import Policy
from guardrails.quiet_hours import zone_of

__all__ = ["COUNTED_STATUSES", "day_bounds", "frequency_check", "lock_customer", "sends_today"]

CHECK = "frequency_cap"
COUNTED_STATUSES = ("pending", "sending", "sent")
UTC = ZoneInfo("UTC")


def lock_customer(session: Session, customer_id: str) -> None:
    """Serialise check-then-insert for one customer until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock on a hash of the id. SQLite: every write
    transaction already holds the database's single write lock (BEGIN IMMEDIATE), so nothing
    more is needed.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"cjo-customer:{customer_id}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    else:
        # Make sure the transaction (and with it the write lock) has begun.
        session.execute(text("SELECT 1"))


def day_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC start and end of the local calendar day containing `now` (DST days are 23/25 h)."""
    local = as_utc(now).astimezone(zone)
    start = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
    end = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def sends_today(
    session: Session, customer_id: str, now: datetime, zone: ZoneInfo | None
) -> Counter[str]:
    """Messages per channel queued or sent to this customer on their local day."""
    start, end = day_bounds(now, zone or UTC)
    rows = session.exec(
        select(OutboxMessage.channel, OutboxMessage.created_at, OutboxMessage.sent_at).where(
            OutboxMessage.customer_id == customer_id,
            col(OutboxMessage.status).in_(COUNTED_STATUSES),
            col(OutboxMessage.created_at) >= start - timedelta(days=2),
        )
    ).all()
    counts: Counter[str] = Counter()
    for channel, created_at, sent_at in rows:
        when = as_utc(sent_at or created_at)
        if start <= when < end:
            counts[channel] += 1
    return counts


def frequency_check(
    channel: str, counts: Counter[str], policy: Policy, *, pending: int = 1
) -> Verdict:
    """Hold when sending `pending` more on `channel` would pass its cap or the overall cap."""
    cap = policy.frequency.per_channel.get(channel)
    if cap is not None and counts[channel] + pending > cap:
        return Verdict.hold(CHECK, f"channel_cap:{channel}:{counts[channel]}/{cap}")
    if channel in policy.frequency.overall_channels:
        total = sum(counts[c] for c in policy.frequency.overall_channels)
        if total + pending > policy.frequency.overall:
            return Verdict.hold(CHECK, f"overall_cap:{total}/{policy.frequency.overall}")
    return Verdict.allow(CHECK)


def customer_zone(profile: ProfileView | None) -> ZoneInfo | None:
    return zone_of(profile.timezone if profile else None)
