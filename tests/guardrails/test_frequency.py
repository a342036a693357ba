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

from agents.journey.wiring import make_pre_send
from core.db import session_scope
from core.domain import Outcome, PlannedAction
from core.tables import AuditEntry, Customer, OutboxMessage
from guardrails.engine import check_action
from guardrails.frequency import day_bounds, frequency_check, lock_customer, sends_today
from guardrails.policy import default_policy
from tests.guardrails.factories import (
    AFTERNOON_NY,
    email_content,
    profile,
    send_headers,
    store_customer,
)

POLICY = default_policy()
CAPS = POLICY.frequency.per_channel


def _outbox(
    customer: str,
    channel: str,
    at: datetime,
    status: str = "sent",
    *,
    due: datetime | None = None,
    created: datetime | None = None,
) -> OutboxMessage:
    """A row sent at `at` (status sent), else queued at `at` and due at `due` (default `at`)."""
    return OutboxMessage(
        idempotency_key=uuid.uuid4().hex,
        channel=channel,
        customer_id=customer,
        status=status,
        created_at=created or at,
        next_attempt_at=due or at,
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
        # a failed row is retried: it will still go out today, so it counts
        assert sends_today(s, "c1", now, tokyo) == Counter(email=1, sms=2)


def test_sends_under_a_merged_id_count_for_the_person(engine: Engine) -> None:
    """After an identity merge the outbox keeps the old id: both ids are one person's day."""
    now = AFTERNOON_NY
    ny = ZoneInfo("America/New_York")
    with session_scope(engine) as s:
        s.add(Customer(id="survivor"))
        s.add(Customer(id="loser", merged_into="survivor"))
        s.add(_outbox("loser", "email", now))
        s.add(_outbox("survivor", "email", now))
    with Session(engine) as s:
        assert sends_today(s, "survivor", now, ny) == Counter(email=2)
        assert sends_today(s, "loser", now, ny) == Counter(email=2)


def test_every_row_that_may_still_go_out_counts_and_dead_rows_do_not(engine: Engine) -> None:
    now = AFTERNOON_NY
    with session_scope(engine) as s:
        for status in ("pending", "sending", "failed", "held", "sent", "dead"):
            s.add(_outbox("c1", "push", now, status=status))
    with Session(engine) as s:
        assert sends_today(s, "c1", now, ZoneInfo("America/New_York")) == Counter(push=5)


def test_a_deferred_message_counts_on_the_day_it_is_due(engine: Engine) -> None:
    ny = ZoneInfo("America/New_York")
    today, tomorrow = AFTERNOON_NY, AFTERNOON_NY + timedelta(days=1)
    with session_scope(engine) as s:
        # queued today, held by the cap until tomorrow 08:00 local
        s.add(_outbox("c1", "email", today, "pending", due=datetime(2026, 3, 4, 13, tzinfo=UTC)))
        # queued yesterday, deferred (a pause, a retry) to now
        s.add(_outbox("c1", "sms", today - timedelta(days=1), "held", due=today))
    with Session(engine) as s:
        assert sends_today(s, "c1", today, ny) == Counter(sms=1)
        assert sends_today(s, "c1", tomorrow, ny) == Counter(email=1)


def _pre_send(engine: Engine, message: OutboxMessage) -> str:
    pre_send = make_pre_send(clock=lambda: AFTERNOON_NY)
    with session_scope(engine) as s:
        row = s.get(OutboxMessage, message.id)
        assert row is not None
        return str(pre_send(s, row))


def test_send_time_recheck_holds_a_deferred_message_that_would_pass_the_cap(
    engine: Engine,
) -> None:
    """Yesterday's held SMS is due now, but today's SMS went out already (cap 1)."""
    store_customer(engine, customer_id="c1")
    deferred = _outbox("c1", "sms", AFTERNOON_NY - timedelta(days=1), "held", due=AFTERNOON_NY)
    with session_scope(engine) as s:
        s.add(_outbox("c1", "sms", AFTERNOON_NY - timedelta(hours=2)))
        s.add(deferred)
    assert _pre_send(engine, deferred) == "hold"


def test_send_time_recheck_does_not_count_the_message_itself(engine: Engine) -> None:
    store_customer(engine, customer_id="c1")
    only = _outbox("c1", "sms", AFTERNOON_NY, "sending")
    with session_scope(engine) as s:
        s.add(only)
    assert _pre_send(engine, only) == "send"


def test_two_messages_due_the_same_day_cannot_hold_each_other(engine: Engine) -> None:
    """Cap 1, two SMS due today: the older one goes, the younger one waits for tomorrow."""
    store_customer(engine, customer_id="c1")
    older = _outbox("c1", "sms", AFTERNOON_NY, "held", created=AFTERNOON_NY - timedelta(hours=3))
    younger = _outbox("c1", "sms", AFTERNOON_NY, "held", created=AFTERNOON_NY - timedelta(hours=1))
    with session_scope(engine) as s:
        s.add(older)
        s.add(younger)
    assert _pre_send(engine, older) == "send"
    assert _pre_send(engine, younger) == "hold"


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
        row = _outbox(customer, channel, AFTERNOON_NY, status="pending")
        row.journey_slug = f"journey-{n}"
        s.add(row)
        return True


# Rows already in the outbox: (channel, status, day offset from today). A held or failed row
# from yesterday is due today; a pending row deferred to tomorrow is not.
EARLIER_ROW = st.tuples(
    st.sampled_from(["email", "sms", "push"]),
    st.sampled_from(["pending", "sending", "failed", "held", "sent", "dead"]),
    st.sampled_from([-1, 0, 1]),
)


def _add_earlier(engine: Engine, customer: str, rows: list[tuple[str, str, int]]) -> Counter[str]:
    """Insert the rows; returns how many of them count towards today per channel."""
    today: Counter[str] = Counter()
    with session_scope(engine) as s:
        for channel, status, offset in rows:
            at = AFTERNOON_NY + timedelta(days=offset)
            s.add(_outbox(customer, channel, at, status, created=AFTERNOON_NY - timedelta(days=1)))
            if offset == 0 and status != "dead":
                today[channel] += 1
    return today


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    channels=st.lists(st.sampled_from(["email", "sms", "push"]), min_size=50, max_size=50),
    earlier=st.lists(EARLIER_ROW, max_size=6),
)
def test_fifty_concurrent_journeys_never_overrun_the_caps(
    engine: Engine, channels: list[str], earlier: list[tuple[str, str, int]]
) -> None:
    customer = f"cus_{uuid.uuid4().hex[:8]}"
    already = _add_earlier(engine, customer, earlier)
    with ThreadPoolExecutor(max_workers=16) as pool:
        sent = list(pool.map(lambda a: _one_journey(engine, customer, *a), enumerate(channels)))
    with Session(engine) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.customer_id == customer)).all()
        checks = s.exec(select(AuditEntry).where(AuditEntry.customer_id == customer)).all()
    new = Counter(r.channel for r in rows if r.journey_slug is not None)  # queued by the 50
    assert sum(new.values()) == sum(sent)
    for channel in CAPS:
        assert already[channel] + new[channel] <= max(CAPS[channel], already[channel]), channel
    overall = POLICY.frequency.overall
    assert sum(already.values()) + sum(new.values()) <= max(overall, sum(already.values()))
    # Every journey was checked and audited; the caps were filled, not starved.
    assert len(checks) == 50
    wanted = Counter(channels)
    room = {c: max(0, CAPS[c] - already[c]) for c in wanted}
    expected = min(
        max(0, overall - sum(already.values())), sum(min(wanted[c], room[c]) for c in wanted)
    )
    assert sum(new.values()) == expected
