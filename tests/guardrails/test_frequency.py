"""Frequency caps per local day, and no overrun when 50 journeys target one customer at once."""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.db import session_scope
from core.domain import Outcome, PlannedAction
from core.tables import AuditEntry, OutboxMessage
from guardrails.engine import check_action
from guardrails.frequency import day_bounds, frequency_check, lock_customer, sends_today
from guardrails.policy import default_policy
from tests.guardrails.factories import AFTERNOON_NY, email_content, profile, send_headers

POLICY = default_policy()
CAPS = POLICY.frequency.per_channel


def _outbox(customer: str, channel: str, at: datetime, status: str = "sent") -> OutboxMessage:
    return OutboxMessage(
        idempotency_key=uuid.uuid4().hex,
        channel=channel,
        customer_id=customer,
        status=status,
        created_at=at,
        sent_at=at if status == "sent" else None,
    )


def test_local_day_boundaries_follow_dst() -> None:
    start, end = day_bounds(datetime(2026, 3, 8, 15, tzinfo=UTC), ZoneInfo("America/New_York"))
    assert end - start == timedelta(hours=23)


def test_caps_count_per_channel_and_overall() -> None:
    assert frequency_check("sms", Counter(), POLICY).outcome == Outcome.allow
    assert frequency_check("sms", Counter(sms=1), POLICY).reasons == ["channel_cap:sms:1/1"]
    busy = Counter(email=2, push=2)
    assert frequency_check("push", busy, POLICY).reasons == ["overall_cap:4/4"]


def test_counts_use_the_customers_local_day(engine: Engine) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    now = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
    with session_scope(engine) as s:
        s.add(_outbox("c1", "email", datetime(2026, 4, 30, 16, 0, tzinfo=UTC)))  # 01:00 JST today
        s.add(_outbox("c1", "email", datetime(2026, 4, 30, 14, 0, tzinfo=UTC)))  # 23:00 JST before
        s.add(_outbox("c1", "sms", now, status="failed"))
        s.add(_outbox("c1", "sms", now, status="pending"))
    with Session(engine) as s:
        assert sends_today(s, "c1", now, tokyo) == Counter(email=1, sms=1)


def _message(customer: str, n: int, channel: str) -> PlannedAction:
    content = (
        email_content(headers=send_headers())
        if channel == "email"
        else {"text": "Your boots are back in stock."}
    )
    return PlannedAction(
        customer_id=customer,
        channel=channel,
        journey_slug=f"journey-{n}",
        content=content,
        offer={"discount_pct": 10},
        recipient="ada@example.org" if channel == "email" else "+1 212 555 0142",
        conformance_score=0.9,
        model_confidence=0.9,
    )


def _one_journey(engine: Engine, customer: str, n: int, channel: str) -> bool:
    """What the outbox caller does: lock, check at send time, insert only if allowed."""
    p = profile(customer_id=customer)
    with session_scope(engine) as s:
        lock_customer(s, customer)
        report = check_action(s, _message(customer, n, channel), p, now=AFTERNOON_NY, stage="send")
        if report.outcome != Outcome.allow:
            return False
        s.add(_outbox(customer, channel, AFTERNOON_NY, status="pending"))
        return True


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(channels=st.lists(st.sampled_from(["email", "sms", "push"]), min_size=50, max_size=50))
def test_fifty_concurrent_journeys_never_overrun_the_caps(
    engine: Engine, channels: list[str]
) -> None:
    customer = f"cus_{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=16) as pool:
        sent = list(pool.map(lambda a: _one_journey(engine, customer, *a), enumerate(channels)))
    with Session(engine) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.customer_id == customer)).all()
        checks = s.exec(select(AuditEntry).where(AuditEntry.customer_id == customer)).all()
    per_channel = Counter(r.channel for r in rows)
    assert len(rows) == sum(sent)
    for channel, count in per_channel.items():
        assert count <= CAPS[channel], (channel, count)
    assert len(rows) <= POLICY.frequency.overall
    # Every journey was checked and audited; the caps were filled, not starved.
    assert len(checks) == 50
    wanted = Counter(channels)
    expected = min(POLICY.frequency.overall, sum(min(wanted[c], CAPS[c]) for c in wanted))
    assert len(rows) == expected
