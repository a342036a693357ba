"""Dispatcher behaviour: pauses hold and resume, send-time checks, crash leases, backoff."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from core.clock import utcnow
from core.controls import set_paused
from core.db import session_scope
from core.domain import GuardrailReport, Verdict
from core.tables import AuditEntry, OutboxMessage
from guardrails.send_check import SendCheck
from tests.tools.factories import add_message, make_registry
from tools.channels.base import Delivery, SendResult, TransientSendError
from tools.dispatcher import Dispatcher, RetryPolicy, TokenBucket
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


def test_a_send_time_check_that_raises_holds_its_row_and_the_rest_go_out(
    engine: Engine, tmp_path: Path
) -> None:
    def pre_send(session: Session, message: OutboxMessage) -> Literal["send", "hold", "block"]:
        if message.payload["to"].endswith("0"):
            raise ValueError("no opening of the window within 4 days")
        return "send"

    dispatcher = Dispatcher(engine, make_registry(engine, tmp_path), pre_send=pre_send)
    _sms(engine, 3)
    stats = dispatcher.run_once()
    assert (stats.sent, stats.held, stats.dead) == (2, 1, 0)
    with Session(engine) as session:
        [held] = session.exec(select(OutboxMessage).where(OutboxMessage.status == "held")).all()
    assert held.last_error is not None and held.last_error.startswith("send-time check failed")
    assert _sandbox_count(engine) == 2


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
    schedule = RetryPolicy(base_s=1.0, cap_s=60.0, max_attempts=8).schedule()
    for n in range(1, 12):
        ceiling = min(60.0, 2 ** (n - 1))
        waits = {schedule.wait_s(n, TransientSendError("HTTP 503")) for _ in range(50)}
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits), (n, waits)
        assert len(waits) > 1  # jittered, not one fixed step
    assert schedule.wait_s(1, TransientSendError("HTTP 429", retry_after=30.0)) == 30.0
    assert schedule.wait_s(7, TransientSendError("HTTP 429", retry_after=0.5)) >= 32.0
    assert schedule.wait_s(3, ValueError("adapter bug")) >= 2.0  # no hint: backoff alone
    assert [schedule.gives_up(n) for n in (1, 7, 8, 9)] == [False, False, True, True]


def test_retry_after_is_kept_on_the_row_and_the_last_attempt_dead_letters(
    engine: Engine, tmp_path: Path
) -> None:
    _sms(engine, 1)
    clock = _TickingClock()
    provider = _CountingSms()
    provider.fail_on = {1, 2}
    provider.retry_after = 45.0
    registry = make_registry(engine, tmp_path)
    registry.adapters["sms"] = provider
    policy = RetryPolicy(max_attempts=2, base_s=1.0, cap_s=4.0)
    dispatcher = Dispatcher(engine, registry, clock=clock, policy=policy)
    assert dispatcher.run_once().retried == 1
    with Session(engine) as session:
        (row,) = session.exec(select(OutboxMessage)).all()
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "HTTP 503: busy")
    assert row.next_attempt_at == clock() + timedelta(seconds=45)  # Retry-After, not 0.5-1 s
    clock.advance(44)
    assert dispatcher.run_once().claimed == 0
    clock.advance(1)
    assert dispatcher.run_once().dead == 1
    with Session(engine) as session:
        (row,) = session.exec(select(OutboxMessage)).all()
    assert row.status == "dead"
    assert row.last_error == "gave up after 2 attempts; last error: HTTP 503: busy"


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


class _TickingClock:
    """A fixed clock that only the test (or a fake provider) moves."""

    def __init__(self) -> None:
        self.at = utcnow()

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class _CountingSms:
    """A provider that does not dedupe: it counts every request per key, and lets the test
    act while a request is in flight (`during[n]` runs inside the n-th request)."""

    name = "sms"

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.during: dict[int, Callable[[], None]] = {}
        self.fail_on: set[int] = set()
        self.retry_after: float | None = None
        self.calls = 0

    def send(self, delivery: Delivery) -> SendResult:
        self.calls += 1
        call = self.calls
        self.requests[delivery.key] += 1
        if call in self.during:
            self.during.pop(call)()
        if call in self.fail_on:
            raise TransientSendError("HTTP 503: busy", retry_after=self.retry_after)
        return SendResult(provider_message_id=f"req-{call}")


def _two_dispatchers(
    engine: Engine, tmp_path: Path, lease_s: float
) -> tuple[Dispatcher, Dispatcher, _CountingSms, _TickingClock]:
    provider, clock = _CountingSms(), _TickingClock()
    policy = RetryPolicy(lease_s=lease_s)
    made = []
    for _ in range(2):
        registry = make_registry(engine, tmp_path)
        registry.adapters["sms"] = provider
        made.append(Dispatcher(engine, registry, clock=clock, policy=policy))
    return made[0], made[1], provider, clock


def test_rows_whose_lease_ran_out_in_a_batch_are_sent_once_by_whoever_reclaimed_them(
    engine: Engine, tmp_path: Path
) -> None:
    _sms(engine, 3)
    first, second, provider, clock = _two_dispatchers(engine, tmp_path, lease_s=10.0)
    provider.during[1] = lambda: clock.advance(5)

    def meanwhile() -> None:
        # while the first dispatcher sends its 2nd row, the 3rd row's lease (claimed with
        # the batch) runs out and the second dispatcher reclaims and sends it
        clock.advance(6)
        second.run_until_idle()

    provider.during[2] = meanwhile
    stats = first.run_once()
    assert list(provider.requests.values()) == [1, 1, 1]  # each message reached it once
    assert _statuses(engine) == {"sent": 3}
    assert stats.claimed == 3 and stats.sent == 2 and stats.lost == 1


def test_a_send_that_outlasts_its_lease_does_not_overwrite_the_new_owner(
    engine: Engine, tmp_path: Path
) -> None:
    _sms(engine, 1)
    first, second, provider, clock = _two_dispatchers(engine, tmp_path, lease_s=10.0)

    def meanwhile() -> None:  # the lease runs out mid-call; the second dispatcher sends it
        clock.advance(11)
        second.run_until_idle()

    provider.during[1] = meanwhile
    provider.fail_on = {1}  # the first dispatcher's request times out after all
    stats = first.run_once()
    with Session(engine) as session:
        (row,) = session.exec(select(OutboxMessage)).all()
        lost = session.exec(select(AuditEntry).where(AuditEntry.kind == "outbox.claim_lost")).all()
    # the second dispatcher's delivery stands; the first one's error changes nothing
    assert (row.status, row.attempts, row.provider_message_id) == ("sent", 1, "req-2")
    assert len(lost) == 1 and lost[0].payload["outcome"] == "retry"
    assert stats.lost == 1 and stats.retried == 0


@pytest.mark.parametrize("shape", ["report", "send_check"])
def test_send_time_report_reasons_reach_the_row_and_the_audit(
    engine: Engine, tmp_path: Path, shape: str
) -> None:
    """Both shapes a pre-send check may answer in: a GuardrailReport, or the journey wiring's
    `SendCheck` (the plain decision string carrying its verdicts)."""
    morning = utcnow() + timedelta(hours=9)

    def answer(verdicts: list[Verdict], hold_until: datetime | None = None) -> Any:
        report = GuardrailReport.of(verdicts, hold_until=hold_until)
        if shape == "report":
            return report
        decision = {"allow": "send", "block": "block"}.get(report.outcome.value, "hold")
        return SendCheck(decision, verdicts, hold_until)  # type: ignore[arg-type]

    def pre_send(session: Session, message: OutboxMessage) -> Any:
        if message.payload["to"].endswith("0"):
            verdict = Verdict.block("consent", "unsubscribed:sms")
            return answer([Verdict.allow("quiet_hours"), verdict])
        quiet = Verdict.hold("quiet_hours", "local time 22:10 is within 21:00-08:00")
        return answer([Verdict.allow("consent"), quiet], hold_until=morning)

    dispatcher = Dispatcher(engine, make_registry(engine, tmp_path), pre_send=pre_send)
    _sms(engine, 2)
    assert dispatcher.run_until_idle().sent == 0
    with Session(engine) as session:
        rows = {r.status: r for r in session.exec(select(OutboxMessage)).all()}
        audits = {
            a.kind: a.payload
            for a in session.exec(select(AuditEntry)).all()
            if a.kind in ("outbox.held", "outbox.dead")
        }
    assert rows["dead"].last_error == "blocked by a send-time check: consent: unsubscribed:sms"
    assert rows["held"].last_error == (
        "held by a send-time check: quiet_hours: local time 22:10 is within 21:00-08:00"
    )
    assert rows["held"].next_attempt_at == morning  # re-checked when the hold ends
    assert audits["outbox.dead"]["checks"] == [
        {"check": "consent", "outcome": "block", "reasons": ["unsubscribed:sms"]}
    ]
    assert audits["outbox.held"]["checks"][0]["check"] == "quiet_hours"
    assert audits["outbox.held"]["hold_until"] == morning.isoformat()
    assert _sandbox_count(engine) == 0
