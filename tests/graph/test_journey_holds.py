"""Holds through the real journey graph and dispatcher: a hold delays an action, never drops it.

Kill switch: whatever is paused (a channel, the journey, everything) and whenever it is paused
(before the run starts, or while a review waits), the action is sent exactly once after the
pause is lifted, and a pause never turns into a review item. Holds nothing releases by itself
(an unknown timezone) and send-time escalations go to a person, then wait in the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from agents.journey.runner import JourneyRunner
from core import controls
from core.controls import Scope
from core.db import session_scope
from core.domain import Outcome
from core.tables import JourneyRun, Review
from guardrails import review as reviews
from tests.graph.factories import ONE_STEP, Clock, Fakes, add_journey, fire, outbox
from tools.channels.base import Delivery, SendResult
from tools.channels.registry import ChannelRegistry
from tools.dispatcher import Dispatcher

MakeRunner = Callable[..., JourneyRunner]
PAUSES: list[tuple[Scope, str]] = [("channel", "email"), ("journey", "one-step"), ("all", "*")]


@dataclass
class RecordingEmail:
    """An email provider that remembers every delivery it accepted, by idempotency key."""

    name: str = "email"
    keys: list[str] = field(default_factory=list)

    def send(self, delivery: Delivery) -> SendResult:
        self.keys.append(delivery.key)
        return SendResult(f"sent-{len(self.keys)}")


def _pause(engine: Engine, scope: Scope, target: str, *, paused: bool) -> None:
    with session_scope(engine) as session:
        controls.set_paused(session, scope=scope, target=target, paused=paused, actor="test")


def _reviews(engine: Engine) -> list[Review]:
    with session_scope(engine) as session:
        return list(session.exec(select(Review)).all())


def _settle(runner: JourneyRunner, dispatcher: Dispatcher) -> None:
    runner.run_until_idle()
    dispatcher.run_until_idle()


@pytest.fixture
def provider() -> RecordingEmail:
    return RecordingEmail()


@pytest.fixture
def dispatcher(sqlite_engine: Engine, provider: RecordingEmail) -> Dispatcher:
    return Dispatcher(sqlite_engine, ChannelRegistry(adapters={"email": provider}))


@pytest.mark.parametrize(("scope", "target"), PAUSES)
def test_run_fired_while_paused_sends_once_after_resume(
    sqlite_engine: Engine,
    make_runner: MakeRunner,
    clock: Clock,
    dispatcher: Dispatcher,
    provider: RecordingEmail,
    scope: Scope,
    target: str,
) -> None:
    add_journey(sqlite_engine, ONE_STEP)
    _pause(sqlite_engine, scope, target, paused=True)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    _settle(runner, dispatcher)
    _settle(runner, dispatcher)
    assert provider.keys == []
    assert _reviews(sqlite_engine) == []  # a pause is not something a human must decide

    _pause(sqlite_engine, scope, target, paused=False)
    _settle(runner, dispatcher)
    _settle(runner, dispatcher)
    [message] = outbox(sqlite_engine)
    assert provider.keys == [message.idempotency_key]
    assert message.status == "sent"
    with session_scope(sqlite_engine) as session:
        [run] = session.exec(select(JourneyRun)).all()
    assert run.status == "completed"


@pytest.mark.parametrize(("scope", "target"), PAUSES)
def test_review_approved_while_paused_sends_once_after_resume(
    sqlite_engine: Engine,
    make_runner: MakeRunner,
    clock: Clock,
    fakes: Fakes,
    dispatcher: Dispatcher,
    provider: RecordingEmail,
    scope: Scope,
    target: str,
) -> None:
    fakes.plan_outcome = Outcome.escalate
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    _settle(runner, dispatcher)
    [review] = _reviews(sqlite_engine)

    _pause(sqlite_engine, scope, target, paused=True)
    with session_scope(sqlite_engine) as session:
        reviews.approve(session, review.id, actor="key:rita", content_hash=review.content_hash)
    _settle(runner, dispatcher)
    _settle(runner, dispatcher)
    assert provider.keys == []

    _pause(sqlite_engine, scope, target, paused=False)
    _settle(runner, dispatcher)
    _settle(runner, dispatcher)
    [message] = outbox(sqlite_engine)
    assert provider.keys == [message.idempotency_key]
    assert [r.status for r in _reviews(sqlite_engine)] == ["approved"]


def test_channel_paused_between_check_and_send_still_queues_the_action(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    """The send-time check sees the pause: the row is written (held by the dispatcher)."""
    fakes.send_outcome = Outcome.allow
    add_journey(sqlite_engine, ONE_STEP)
    _pause(sqlite_engine, "channel", "email", paused=True)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    make_runner(sqlite_engine).run_until_idle()
    [message] = outbox(sqlite_engine)
    assert message.status == "pending"
    with session_scope(sqlite_engine) as session:
        [run] = session.exec(select(JourneyRun)).all()
    assert run.status == "completed"


def test_send_time_escalation_goes_to_review_and_is_sent_once_approved(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    fakes.send_outcome = Outcome.escalate  # e.g. the risk score crossed its line at send time
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    runner.run_until_idle()
    [review] = _reviews(sqlite_engine)
    assert outbox(sqlite_engine) == []
    with session_scope(sqlite_engine) as session:
        reviews.approve(session, review.id, actor="key:rita", content_hash=review.content_hash)
    runner.run_until_idle()
    assert len(outbox(sqlite_engine)) == 1


def test_hold_without_release_asks_a_person_then_waits_in_the_outbox(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    """An unknown timezone: a reviewer approves, and the message waits (the dispatcher's
    send-time check holds it until the timezone is known); it is never dropped."""
    fakes.plan_outcome = fakes.send_outcome = Outcome.hold
    fakes.hold_release = False
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    runner.run_until_idle()
    [review] = _reviews(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        reviews.approve(session, review.id, actor="key:rita", content_hash=review.content_hash)
    runner.run_until_idle()
    [message] = outbox(sqlite_engine)
    assert message.status == "pending"
    with session_scope(sqlite_engine) as session:
        [run] = session.exec(select(JourneyRun)).all()
    assert run.status == "completed"
