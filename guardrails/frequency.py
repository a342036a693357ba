"""Frequency caps per channel and overall, counted per local day from the outbox.

Every outbox row that may still go out counts (pending, sending, failed, held, sent: all but
dead), on the local day it goes out: the day it was sent, or the day of its next attempt. A
message deferred to tomorrow counts for tomorrow; one held by a pause counts for the day it is
now due. The count includes rows other journeys queued a moment ago, so under concurrency the
caller serialises per customer with `lock_customer` inside the transaction that checks and then
inserts the outbox row, and the dispatcher re-checks under the same lock before sending.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from core.clock import as_utc
from core.customers import lock_customer, same_person
from core.domain import ProfileView, Verdict
from core.tables import OutboxMessage
from guardrails.policy import Policy
from guardrails.quiet_hours import zone_of

__all__ = [
    "UNCOUNTED_STATUSES",
    "customer_zone",
    "day_bounds",
    "frequency_check",
    "lock_customer",
    "sends_today",
]

CHECK = "frequency_cap"
# A dead row will never be sent; every other row is, or may still be.
UNCOUNTED_STATUSES = ("dead",)
UTC = ZoneInfo("UTC")


def day_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC start and end of the local calendar day containing `now` (DST days are 23/25 h)."""
    local = as_utc(now).astimezone(zone)
    start = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
    end = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def sends_today(
    session: Session,
    customer_id: str,
    now: datetime,
    zone: ZoneInfo | None,
    *,
    sending: OutboxMessage | None = None,
) -> Counter[str]:
    """Messages per channel going (or gone) to this customer on the local day of `now`.

    `sending`: the row the dispatcher is about to send. It is left out, and so are unsent
    rows queued after it: of two rows due the same day only the older one may count the
    younger one out, so two held rows can never hold each other for ever. Sent rows always
    count.
    """
    start, end = day_bounds(now, zone or UTC)
    sent = col(OutboxMessage.status) == "sent"
    when_sent = func.coalesce(col(OutboxMessage.sent_at), col(OutboxMessage.created_at))
    sent_today = and_(sent, when_sent >= start, when_sent < end)
    due = col(OutboxMessage.next_attempt_at)
    due_today = and_(
        col(OutboxMessage.status).not_in(("sent", *UNCOUNTED_STATUSES)), due >= start, due < end
    )
    if sending is not None:
        born = col(OutboxMessage.created_at)
        queued_before = or_(
            born < sending.created_at,
            and_(born == sending.created_at, col(OutboxMessage.id) < sending.id),
        )
        due_today = and_(due_today, queued_before)
    query = (
        select(OutboxMessage.channel, func.count())
        .where(col(OutboxMessage.customer_id).in_(same_person(customer_id)))
        .where(or_(sent_today, due_today))
        .group_by(col(OutboxMessage.channel))
    )
    if sending is not None:
        query = query.where(col(OutboxMessage.id) != sending.id)
    return Counter({channel: count for channel, count in session.exec(query).all()})


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
