"""Closed loop: outcome events credited once to the action before them; holdout comparison."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from agents.journey.nodes import holdout_arm
from agents.journey.runner import JourneyRunner
from agents.outcomes import attribute_outcomes, holdout_comparison, settle_expired
from agents.tables import Attribution, JourneyAssignment
from core.db import session_scope
from core.tables import OutboxMessage
from tests.graph.factories import (
    ONE_STEP,
    Clock,
    Fakes,
    add_example,
    add_journey,
    fire,
    mark_sent,
    outbox,
    track,
)

MakeRunner = Callable[..., JourneyRunner]

HALF_HOLDOUT = ONE_STEP.replace("slug: one-step", "slug: split-test") + "holdout_pct: 50\n"


def test_holdout_arm_is_deterministic_and_near_its_share() -> None:
    arms = [holdout_arm("j", f"c{i}", 20) for i in range(2000)]
    assert arms == [holdout_arm("j", f"c{i}", 20) for i in range(2000)]
    assert 0.17 < arms.count("control") / len(arms) < 0.23


def test_control_customers_get_nothing_and_comparison_has_intervals(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock
) -> None:
    add_journey(sqlite_engine, HALF_HOLDOUT)
    for i in range(40):
        fire(sqlite_engine, "split-test", f"c{i}", at=clock.now())
    make_runner(sqlite_engine).run_until_idle()
    with session_scope(sqlite_engine) as session:
        arms = {a.customer_id: a.arm for a in session.exec(select(JourneyAssignment))}
    treated = {c for c, arm in arms.items() if arm == "treated"}
    assert {m.customer_id for m in outbox(sqlite_engine)} == treated
    assert 0 < len(treated) < 40

    converted = sorted(treated)[:5] + sorted(set(arms) - treated)[:1]
    for customer in converted:
        track(
            sqlite_engine,
            customer,
            "Order Completed",
            at=clock.now() + timedelta(days=1),
            revenue=100,
        )
    track(
        sqlite_engine, sorted(treated)[-1], "Order Completed", at=clock.now() + timedelta(days=30)
    )

    with session_scope(sqlite_engine) as session:
        result = holdout_comparison(session, "split-test")
    assert result.treated.customers == len(treated)
    assert result.treated.conversions == 5  # the purchase after the window does not count
    assert result.control.conversions == 1
    low, high = result.treated.conversion_rate_ci
    assert low < result.treated.conversion_rate < high
    assert result.treated.revenue_per_customer == 500 / len(treated)
    assert result.conversion_lift_ci[0] < result.conversion_lift < result.conversion_lift_ci[1]


def test_click_after_send_is_credited_once_to_that_decision(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    make_runner(sqlite_engine).run_until_idle()
    [message] = outbox(sqlite_engine)
    mark_sent(sqlite_engine, message.id, at=message.created_at)
    when = message.created_at + timedelta(minutes=30)
    track(sqlite_engine, "c1", "Email Link Clicked", at=when)
    track(sqlite_engine, "c2", "Email Link Clicked", at=when)  # never contacted: no credit

    for _ in range(2):
        with session_scope(sqlite_engine) as session:
            attribute_outcomes(
                session, record_outcome=fakes.record_outcome, since=when - timedelta(hours=1)
            )
    clicks = [o for o in fakes.outcomes if o["kind"] == "click"]
    assert clicks == [{"decision_id": message.decision_id, "reward": 0.3, "kind": "click"}]


def test_action_without_conversion_gets_zero_reward_once_window_has_passed(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    fire(sqlite_engine, "one-step", "c2", at=clock.now())
    make_runner(sqlite_engine).run_until_idle()
    assert fakes.outcomes == []  # the window is still open
    by_customer = {m.customer_id: m for m in outbox(sqlite_engine)}
    for message in by_customer.values():
        mark_sent(sqlite_engine, message.id, at=message.created_at)
    track(
        sqlite_engine, "c1", "Order Completed", at=by_customer["c1"].created_at + timedelta(hours=2)
    )

    later = by_customer["c1"].created_at + timedelta(days=8)
    for _ in range(2):
        with session_scope(sqlite_engine) as session:
            attribute_outcomes(
                session, record_outcome=fakes.record_outcome, since=later - timedelta(days=9)
            )
            settle_expired(
                session, record_outcome=fakes.record_outcome, now=later, window=timedelta(days=7)
            )
    kinds = sorted((o["decision_id"], o["kind"]) for o in fakes.outcomes)
    assert kinds == sorted(
        [
            (by_customer["c1"].decision_id, "conversion"),
            (by_customer["c2"].decision_id, "no_conversion"),
        ]
    )


def _one_step_messages(
    engine: Engine, make_runner: MakeRunner, clock: Clock, customers: list[str]
) -> dict[str, OutboxMessage]:
    add_journey(engine, ONE_STEP)  # goal window 3d
    for customer in customers:
        fire(engine, "one-step", customer, at=clock.now())
    make_runner(engine).run_until_idle()
    return {str(m.customer_id): m for m in outbox(engine)}


def _direct_message(engine: Engine, customer_id: str, *, sent_at: datetime) -> OutboxMessage:
    """A decisioned message sent outside any journey (the default window applies)."""
    row = OutboxMessage(
        idempotency_key=f"direct-{customer_id}",
        channel="email",
        customer_id=customer_id,
        decision_id=f"direct-{customer_id}",
        payload={},
        status="sent",
        sent_at=sent_at,
    )
    with session_scope(engine) as session:
        session.add(row)
    return row


def test_only_messages_sent_before_the_outcome_get_credit(
    engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    by_customer = _one_step_messages(engine, make_runner, clock, ["c1", "c2", "c3", "c4", "c5"])
    at = by_customer["c1"].created_at
    mark_sent(engine, by_customer["c1"].id, at=at)
    mark_sent(engine, by_customer["c2"].id, at=at, status="dead")
    mark_sent(engine, by_customer["c3"].id, at=at, status="held")  # c4 stays pending
    mark_sent(engine, by_customer["c5"].id, at=at + timedelta(hours=2))  # after the click
    for customer in by_customer:
        track(engine, customer, "Email Link Clicked", at=at + timedelta(hours=1))
    with session_scope(engine) as session:
        credited = attribute_outcomes(
            session, record_outcome=fakes.record_outcome, since=at - timedelta(hours=1)
        )
    assert credited == 1
    assert [o["decision_id"] for o in fakes.outcomes] == [by_customer["c1"].decision_id]


def test_the_journey_goal_window_bounds_credit_and_the_default_applies_without_one(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    by_customer = _one_step_messages(sqlite_engine, make_runner, clock, ["c1"])
    at = by_customer["c1"].created_at
    mark_sent(sqlite_engine, by_customer["c1"].id, at=at)
    direct = _direct_message(sqlite_engine, "c9", sent_at=at)
    four_days = at + timedelta(days=4)  # past the journey's 3d, within the default 7d
    track(sqlite_engine, "c1", "Email Link Clicked", at=four_days)
    track(sqlite_engine, "c9", "Email Link Clicked", at=four_days)
    with session_scope(sqlite_engine) as session:
        attribute_outcomes(
            session, record_outcome=fakes.record_outcome, since=at, window=timedelta(days=7)
        )
    assert [o["decision_id"] for o in fakes.outcomes] == [direct.decision_id]


def test_zero_reward_goes_only_to_sent_messages_once_their_own_window_passed(
    engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    by_customer = _one_step_messages(engine, make_runner, clock, ["c1", "c2", "c3"])
    at = by_customer["c1"].created_at
    mark_sent(engine, by_customer["c1"].id, at=at)
    mark_sent(engine, by_customer["c2"].id, at=at, status="dead")  # c3 stays pending
    direct = _direct_message(engine, "c9", sent_at=at)

    def settle(now: datetime) -> list[str]:
        with session_scope(engine) as session:
            settle_expired(
                session, record_outcome=fakes.record_outcome, now=now, window=timedelta(days=7)
            )
        return [o["decision_id"] for o in fakes.outcomes if o["kind"] == "no_conversion"]

    assert settle(at + timedelta(days=4)) == [by_customer["c1"].decision_id]  # 3d journey
    assert settle(at + timedelta(days=8)) == [by_customer["c1"].decision_id, direct.decision_id]
    assert settle(at + timedelta(days=30)) == [by_customer["c1"].decision_id, direct.decision_id]


def test_a_goal_reached_before_the_email_was_sent_credits_nothing(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    add_example(sqlite_engine, "winback")
    fire(sqlite_engine, "winback", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    runner.run_until_idle()
    clock.advance(hours=5)
    track(sqlite_engine, "c1", "Order Completed", at=clock.now(), revenue=42.5)
    stats = runner.run_until_idle()  # the email is still in the outbox, never delivered
    assert stats.resumed_goal == 1 and stats.completed == 1
    assert [o for o in fakes.outcomes if o["kind"] == "conversion"] == []


def test_one_purchase_is_credited_once_though_the_run_and_the_event_stream_both_see_it(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    """The run's goal credit and last-touch attribution see the same purchase; a message sent
    outside the journey after the run's email makes them pick different decisions."""
    add_example(sqlite_engine, "winback")
    fire(sqlite_engine, "winback", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    runner.run_until_idle()
    [message] = outbox(sqlite_engine)
    mark_sent(sqlite_engine, message.id, at=clock.now())
    clock.advance(hours=1)
    direct = _direct_message(sqlite_engine, "c1", sent_at=clock.now())
    clock.advance(hours=4)
    track(sqlite_engine, "c1", "Order Completed", at=clock.now(), revenue=42.5)
    stats = runner.run_until_idle()
    for _ in range(2):
        with session_scope(sqlite_engine) as session:
            attribute_outcomes(
                session, record_outcome=fakes.record_outcome, since=clock.now() - timedelta(days=1)
            )
    assert stats.resumed_goal == 1
    conversions = [o["decision_id"] for o in fakes.outcomes if o["kind"] == "conversion"]
    assert len(conversions) == 1 and conversions[0] in {message.decision_id, direct.decision_id}
    with session_scope(sqlite_engine) as session:
        rows = session.exec(select(Attribution).where(Attribution.kind == "conversion")).all()
    assert [(r.decision_id, r.revenue) for r in rows] == [(conversions[0], 42.5)]


def test_a_click_the_worker_processes_late_is_still_credited(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    """The runner attributes in passes; an outcome resolved to its customer after a backlog
    (received long before it was processed) must still reach its decision."""
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    runner.run_until_idle()
    [message] = outbox(sqlite_engine)
    mark_sent(sqlite_engine, message.id, at=clock.now())
    clicked = clock.now() + timedelta(minutes=1)
    clock.advance(minutes=30)
    runner.run_until_idle()  # passes go by while the click waits in the worker's backlog
    clock.advance(minutes=10)
    track(sqlite_engine, "c1", "Email Link Clicked", at=clicked, processed_at=clock.now())
    runner.run_until_idle()
    clicks = [o for o in fakes.outcomes if o["kind"] == "click"]
    assert clicks == [{"decision_id": message.decision_id, "reward": 0.3, "kind": "click"}]
