"""The dispatcher's send-time check answers send/hold/block with the reasons behind it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from agents.journey.wiring import make_pre_send
from core.db import session_scope
from core.tables import OutboxMessage
from guardrails.send_check import SendCheck
from tests.guardrails.factories import AFTERNOON_NY, store_customer


def _queued(engine: Engine, channel: str = "email") -> OutboxMessage:
    row = OutboxMessage(
        idempotency_key=uuid.uuid4().hex,
        channel=channel,
        customer_id="cus_ada",
        status="sending",
        created_at=AFTERNOON_NY - timedelta(hours=1),
        next_attempt_at=AFTERNOON_NY,
    )
    with session_scope(engine) as s:
        s.add(row)
    return row


def _check(engine: Engine, row: OutboxMessage, at: datetime = AFTERNOON_NY) -> SendCheck:
    pre_send = make_pre_send(clock=lambda: at)
    with session_scope(engine) as s:
        message = s.get(OutboxMessage, row.id)
        assert message is not None
        result = pre_send(s, message)
    assert isinstance(result, SendCheck) and isinstance(result, str)
    return result


def test_an_allowed_send_is_plain_send(engine: Engine) -> None:
    store_customer(engine)
    result = _check(engine, _queued(engine))
    assert result == "send" and result.reasons == [] and result.hold_until is None


def test_quiet_hours_hold_says_why_and_until_when(engine: Engine) -> None:
    store_customer(engine)
    late = AFTERNOON_NY + timedelta(hours=8)  # 23:00 in New York
    result = _check(engine, _queued(engine), at=late)
    assert result == "hold"
    assert result.reasons == ["quiet_hours:outside_08:00-21:00_local:23:00"]
    assert result.hold_until == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)  # 08:00 EST


def test_unknown_timezone_holds_with_no_release(engine: Engine) -> None:
    store_customer(engine, timezone=None)
    result = _check(engine, _queued(engine))
    assert result == "hold" and result.reasons == ["quiet_hours:timezone_unknown"]
    assert result.hold_until is None


def test_unsubscribed_customer_is_blocked_with_the_consent_reason(engine: Engine) -> None:
    store_customer(engine, consent={"email": {"status": "unsubscribed"}})
    result = _check(engine, _queued(engine))
    assert result == "block" and result.reasons == ["consent:unsubscribed:email"]


def test_cap_hold_names_the_cap_and_ends_at_local_midnight(engine: Engine) -> None:
    store_customer(engine)
    with session_scope(engine) as s:
        s.add(
            OutboxMessage(
                idempotency_key="earlier",
                channel="sms",
                customer_id="cus_ada",
                status="sent",
                sent_at=AFTERNOON_NY - timedelta(hours=3),
            )
        )
    result = _check(engine, _queued(engine, "sms"))
    assert result == "hold" and result.reasons == ["frequency_cap:channel_cap:sms:1/1"]
    assert result.hold_until == datetime(2026, 3, 4, 5, 0, tzinfo=UTC)  # midnight EST
