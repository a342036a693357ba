"""Dispatcher behaviour: pauses hold and resume, send-time checks, crash leases, backoff."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from core.clock import utcnow
from core.controls import set_paused
from core.db import session_scope
from core.tables import AuditEntry, OutboxMessage
from tests.tools.factories import add_message, make_registry
from tools.channels.base import Delivery
from tools.dispatcher import Dispatcher, RetryPolicy, TokenBucket, backoff_s
from tools.tables import SandboxMessage


def _statuses(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    return dict(rows)


def _sandbox_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(SandboxMessage)).one()


def _pause(engine: Engine, scope: Literal["all", "channel", "journey"], target: str, on: bool):
    with session_scope(engine) as session:
        set_paused(session, scope=scope, target=target, paused=on, actor="test")


def _sms(engine: Engine, n: int, journey: str | None = None) -> None:
    for i in range(n):
        payload = {"to": f"+1415555{i:04d}", "text": "Your cart misses you"}
        add_message(engine, "sms", payload, journey or "-", str(i), journey_slug=journey)


def test_paused_channel_sends_nothing_loses_nothing_and_sends_after_resume(
    engine: Engine, tmp_path: Path
) -> None:
    dispatcher = Dispatcher(engine, make_registry(engine, tmp_path))
    _pause(engine, "channel", "sms", True)
    _sms(engine, 5)
    add_message(engine, "push", {"customer_id": "c1", "title": "Hi", "body": "Back"}, "p")
    stats = dispatcher.run_until_idle()
    assert stats.sent == 1  # push is not paused
    assert _statuses(engine) == {"held": 5, "sent": 1}
    assert _sandbox_count(engine) == 1
    dispatcher.run_until_idle()  # while paused nothing changes, nothing is re-written
    assert _statuses(engine) == {"held": 5, "sent": 1}

    _pause(engine, "channel", "sms", False)
    stats = dispatcher.run_until_idle()  # the very next poll after resume
    assert stats.sent == 5
    assert _statuses(engine) == {"sent": 6}
    assert _sandbox_count(engine) == 6


def test_pause_all_and_pause_journey_hold_only_what_they_cover(
    engine: Engine, tmp_path: Path
) -> None:
    dispatcher = Dispatcher(engine, make_registry(engine, tmp_path))
    _pause(engine, "all", "*", True)
    _sms(engine, 2, journey="winback")
    _sms(engine, 2, journey="onboarding")
    assert dispatcher.run_until_idle().sent == 0
    assert _statuses(engine) == {"held": 4}
    _pause(engine, "journey", "winback", True)
    _pause(engine, "all", "*", False)
    assert dispatcher.run_until_idle().sent == 2
    with Session(engine) as session:
        held = session.exec(select(OutboxMessage).where(OutboxMessage.status == "held")).all()
    assert {row.journey_slug for row in held} == {"winback"}
    _pause(engine, "journey", "winback", False)
    assert dispatcher.run_until_idle().sent == 2


def test_send_time_check_can_hold_or_block(engine: Engine, tmp_path: Path) -> None:
    def pre_send(session: Session, message: OutboxMessage) -> Literal["send", "hold", "block"]:
        return "block" if message.payload["to"].endswith("0") else "hold"

    dispatcher = Dispatcher(engine, make_registry(engine, tmp_path), pre_send=pre_send)
    _sms(engine, 2)
    stats = dispatcher.run_until_idle()
    assert (stats.sent, stats.held, stats.dead) == (0, 1, 1)
    with Session(engine) as session:
        rows = {r.status: r for r in session.exec(select(OutboxMessage)).all()}
    assert rows["dead"].last_error == "blocked by a send-time check"
    assert rows["held"].next_attempt_at > utcnow() + timedelta(seconds=30)
    assert _sandbox_count(engine) == 0


def test_crash_after_provider_accepted_does_not_send_twice(engine: Engine, tmp_path: Path) -> None:
    registry = make_registry(engine, tmp_path)
    row = add_message(engine, "sms", {"to": "+14155550100", "text": "hi"}, "crash")
    # The provider accepted the message, then the process died before marking it sent:
    # the row is still `sending` and its lease has run out.
    sms = registry.get("sms")
    assert sms is not None
    sms.send(
        Delivery(message_id=row.id, key=row.idempotency_key, channel="sms", payload=row.payload)
    )
    with session_scope(engine) as session:
        stuck = session.get(OutboxMessage, row.id)
        assert stuck is not None
        stuck.status, stuck.next_attempt_at = "sending", utcnow() - timedelta(seconds=1)
        session.add(stuck)
    assert Dispatcher(engine, registry).run_until_idle().sent == 1
    with Session(engine) as session:
        (record,) = session.exec(select(SandboxMessage)).all()
        sent = session.get(OutboxMessage, row.id)
    assert record.deliveries == 2  # the provider saw the replay and deduplicated it
    assert sent is not None and sent.provider_message_id == record.id


def test_invalid_payload_and_unknown_channel_are_dead_lettered_with_a_reason(
    engine: Engine, tmp_path: Path
) -> None:
    add_message(engine, "sms", {"to": "not a number", "text": "hi"}, "bad")
    add_message(engine, "fax", {"to": "x"}, "fax")
    stats = Dispatcher(engine, make_registry(engine, tmp_path)).run_until_idle()
    assert stats.dead == 2
    with Session(engine) as session:
        reasons = sorted(r.last_error or "" for r in session.exec(select(OutboxMessage)).all())
        audited = session.exec(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.kind == "outbox.dead")
        ).one()
    assert reasons[0].startswith("channel: no adapter for 'fax'")
    assert reasons[1].startswith("payload.to:")
    assert audited == 2


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=60.0)
    rng = random.Random(7)
    waits = [backoff_s(n, policy, None, rng) for n in range(1, 9)]
    for n, wait in enumerate(waits, start=1):
        ceiling = min(60.0, 2 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert backoff_s(1, policy, 30.0, rng) == 30.0


def test_token_bucket_limits_the_rate() -> None:
    clock = [0.0]
    bucket = TokenBucket(rate=2.0, burst=2.0, now=lambda: clock[0])
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock[0] = 0.5
    assert bucket.take() and not bucket.take()


def test_rate_limit_caps_sends_per_pass(engine: Engine, tmp_path: Path) -> None:
    registry = make_registry(engine, tmp_path, rates={"sms": 3.0})
    _sms(engine, 10)
    stats = Dispatcher(engine, registry).run_once()
    assert stats.sent == 3
    assert _statuses(engine) == {"pending": 7, "sent": 3}
