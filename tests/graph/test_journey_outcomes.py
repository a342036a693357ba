"""Closed loop: outcome events credited once to the action before them; holdout comparison."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from agents.journey.nodes import holdout_arm
from agents.journey.runner import JourneyRunner
from agents.outcomes import attribute_outcomes, holdout_comparison, settle_expired
from agents.tables import JourneyAssignment
from core.db import session_scope
from tests.graph.factories import ONE_STEP, Clock, Fakes, add_journey, fire, outbox, track

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
