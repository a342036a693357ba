"""Journey runs end to end through the real graph and checkpointer, with fake collaborators."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from agents.journey.runner import JourneyRunner
from agents.journey.store import set_status
from agents.tables import Attribution
from core.audit import verify_chain
from core.clock import as_utc
from core.db import session_scope
from core.domain import Outcome
from core.tables import AuditEntry, Journey, JourneyRun, Review, TriggerFiring
from guardrails.review import expire_overdue
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


def runs(engine: Engine) -> list[JourneyRun]:
    with session_scope(engine) as session:
        return list(session.exec(select(JourneyRun)).all())


def test_firing_runs_journey_to_one_outbox_message_with_audit(
    engine: Engine, make_runner: MakeRunner, clock: Clock
) -> None:
    add_journey(engine, ONE_STEP)
    fire(engine, "one-step", "c1", at=clock.now())
    stats = make_runner(engine).run_until_idle()

    assert stats.started == 1 and stats.completed == 1
    [message] = outbox(engine)
    assert message.channel == "email" and message.customer_id == "c1"
    assert message.payload["recipient"] == "c1@example.com"
    assert message.idempotency_key.startswith("journey:")
    [run] = runs(engine)
    assert run.status == "completed"
    with session_scope(engine) as session:
        kinds = [a.kind for a in session.exec(select(AuditEntry).order_by(col(AuditEntry.seq)))]
        assert verify_chain(session).ok
    for node in ("entered", "context_loaded", "decided", "created", "checked", "executed"):
        assert f"journey.{node}" in kinds
    assert kinds[-1] == "journey.completed"


def test_same_firing_seen_by_two_runners_starts_one_run(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock
) -> None:
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    first, second = make_runner(sqlite_engine), make_runner(sqlite_engine)
    first.run_until_idle()
    second.run_until_idle()
    assert len(runs(sqlite_engine)) == 1
    assert len(outbox(sqlite_engine)) == 1


def test_winback_waits_three_days_then_sends_sms(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock
) -> None:
    add_example(sqlite_engine, "winback")
    fire(sqlite_engine, "winback", "low", at=clock.now())
    runner = make_runner(sqlite_engine)
    runner.run_until_idle()
    [run] = runs(sqlite_engine)
    assert run.status == "waiting" and run.step == "wait_3d"
    assert run.wake_at is not None and run.wake_at == clock.now().replace(day=8)
    assert [m.channel for m in outbox(sqlite_engine)] == ["email"]

    clock.advance(days=2)
    runner.run_until_idle()
    assert runs(sqlite_engine)[0].status == "waiting"

    clock.advance(days=1, minutes=1)
    stats = runner.run_until_idle()
    assert stats.resumed_due == 1
    assert sorted(m.channel for m in outbox(sqlite_engine)) == ["email", "sms"]
    assert runs(sqlite_engine)[0].status == "completed"


def test_winback_high_value_customer_gets_csm_task_not_sms(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    fakes.profiles["vip"] = {"computed": {"monetary": 900}}
    add_example(sqlite_engine, "winback")
    fire(sqlite_engine, "winback", "vip", at=clock.now())
    runner = make_runner(sqlite_engine)
    runner.run_until_idle()
    clock.advance(days=4)
    runner.run_until_idle()
    assert sorted(m.channel for m in outbox(sqlite_engine)) == ["csm", "email"]


def test_purchase_during_wait_ends_journey_and_credits_the_email(
    engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    add_example(engine, "winback")
    fire(engine, "winback", "c1", at=clock.now())
    runner = make_runner(engine)
    runner.run_until_idle()
    [queued] = outbox(engine)
    mark_sent(engine, queued.id, at=clock.now())  # delivered before the purchase
    clock.advance(hours=5)
    track(engine, "c1", "Order Completed", at=clock.now(), revenue=42.5)
    stats = runner.run_until_idle()

    assert stats.resumed_goal == 1
    assert [m.channel for m in outbox(engine)] == ["email"]
    assert runs(engine)[0].status == "completed"
    email = outbox(engine)[0]
    assert {"decision_id": email.decision_id, "reward": 1.0, "kind": "conversion"} in fakes.outcomes
    with session_scope(engine) as session:
        [credit] = session.exec(select(Attribution)).all()
    assert credit.revenue == 42.5 and credit.kind == "conversion"

    runner.run_until_idle()  # the event is seen again by the attribution pass: no double count
    assert sum(o["kind"] == "conversion" for o in fakes.outcomes) == 1


def test_escalated_action_waits_for_review_and_sends_edited_content(
    engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    fakes.plan_outcome = Outcome.escalate
    add_journey(engine, ONE_STEP)
    fire(engine, "one-step", "c1", at=clock.now())
    runner = make_runner(engine)
    runner.run_until_idle()
    assert runs(engine)[0].status == "review" and outbox(engine) == []

    runner.run_until_idle()  # still pending: nothing moves, no second review
    with session_scope(engine) as session:
        [review] = session.exec(select(Review)).all()
        review.status = "approved"
        review.content = {"subject": "Edited", "body_text": "Reviewed copy"}
        session.add(review)
    stats = runner.run_until_idle()

    assert stats.resumed_review == 1
    [message] = outbox(engine)
    assert message.payload["content"]["subject"] == "Edited"
    assert runs(engine)[0].status == "completed"


def test_rejected_review_sends_nothing(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    fakes.plan_outcome = Outcome.escalate
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    runner.run_until_idle()
    with session_scope(sqlite_engine) as session:
        review = session.exec(select(Review)).one()
        review.status = "rejected"
        session.add(review)
    runner.run_until_idle()
    assert outbox(sqlite_engine) == []
    assert runs(sqlite_engine)[0].status == "completed"


def test_blocked_action_is_not_enqueued(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    fakes.send_outcome = Outcome.block
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    make_runner(sqlite_engine).run_until_idle()
    assert outbox(sqlite_engine) == []
    assert runs(sqlite_engine)[0].status == "completed"


def test_paused_journey_holds_runs_until_resumed(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock
) -> None:
    add_journey(sqlite_engine, ONE_STEP)
    with session_scope(sqlite_engine) as session:
        set_status(session, "one-step", "paused", actor="test")
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    runner.run_until_idle()
    assert runs(sqlite_engine)[0].status == "held" and outbox(sqlite_engine) == []

    with session_scope(sqlite_engine) as session:
        set_status(session, "one-step", "active", actor="test")
    stats = runner.run_until_idle()
    assert stats.released == 1
    assert len(outbox(sqlite_engine)) == 1


def test_run_left_running_by_a_dead_process_is_recovered(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock
) -> None:
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    crashed = make_runner(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        from core.tables import TriggerFiring

        firing = session.exec(select(TriggerFiring)).one()
    from agents.journey.runner import RunnerStats

    assert crashed._open_run(firing, RunnerStats()) is not None  # opened, never invoked
    assert runs(sqlite_engine)[0].status == "running"

    clock.advance(minutes=10)
    stats = make_runner(sqlite_engine).run_until_idle()
    assert stats.recovered == 1
    assert len(outbox(sqlite_engine)) == 1
    assert runs(sqlite_engine)[0].status == "completed"


def test_a_slow_runner_whose_run_was_taken_over_stops_without_sending(
    engine: Engine, make_runner: MakeRunner, clock: Clock
) -> None:
    """Runner A opened a run and went quiet past `stale_after` (a slow model call, a pause);
    B took the run over and finished it. When A goes on, its first node finds its lease
    gone and stops: one message, and B's final state stands."""
    from agents.journey.runner import RunnerStats
    from core.tables import TriggerFiring

    add_journey(engine, ONE_STEP)
    fire(engine, "one-step", "c1", at=clock.now())
    slow = make_runner(engine)
    with session_scope(engine) as session:
        firing = session.exec(select(TriggerFiring)).one()
    opened = slow._open_run(firing, RunnerStats())
    assert opened is not None

    clock.advance(minutes=10)
    assert make_runner(engine).run_until_idle().recovered == 1
    assert len(outbox(engine)) == 1 and runs(engine)[0].status == "completed"

    stats = RunnerStats()
    slow._invoke(*opened, stats)
    assert stats.lost == 1 and stats.failed == 0
    assert len(outbox(engine)) == 1
    assert runs(engine)[0].status == "completed"


async def test_runner_as_background_service_starts_runs_until_stopped(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock
) -> None:
    import asyncio

    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    runner = make_runner(sqlite_engine, poll_interval_s=0.05)
    assert runner.name == "journeys"
    await runner.start()
    for _ in range(400):
        if outbox(sqlite_engine):
            break
        await asyncio.sleep(0.05)
    await runner.stop()
    assert len(outbox(sqlite_engine)) == 1


def test_review_expires_after_the_journey_policy(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    fakes.plan_outcome = Outcome.escalate
    add_journey(sqlite_engine, ONE_STEP + "review: {expires_after: 6h}\n")
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    make_runner(sqlite_engine).run_until_idle()
    with session_scope(sqlite_engine) as session:
        review = session.exec(select(Review)).one()
        [created] = session.exec(select(AuditEntry).where(AuditEntry.kind == "review.created"))
    assert review.expires_at is not None
    assert as_utc(review.expires_at) == clock.now() + timedelta(hours=6)
    assert created.payload["expires_at"] == (clock.now() + timedelta(hours=6)).isoformat()

    # ...and once it expires (the sweep), the run resumes and sends nothing
    clock.advance(hours=7)
    with session_scope(sqlite_engine) as session:
        assert [r.id for r in expire_overdue(session, clock.now())] == [review.id]
    make_runner(sqlite_engine).run_until_idle()
    assert outbox(sqlite_engine) == []
    assert runs(sqlite_engine)[0].status == "completed"


def test_guardrail_hold_delays_the_send_until_its_end(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    fakes.plan_outcome = fakes.send_outcome = Outcome.hold  # e.g. quiet hours, 8h
    add_journey(sqlite_engine, ONE_STEP)
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    make_runner(sqlite_engine).run_until_idle()
    [message] = outbox(sqlite_engine)
    assert message.next_attempt_at == clock.now() + timedelta(hours=8)


def test_step_without_channels_only_offers_channels_a_journey_can_send(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    add_journey(sqlite_engine, ONE_STEP.replace("channels: [email], ", ""))
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    make_runner(sqlite_engine).run_until_idle()
    [decision] = fakes.decisions
    assert decision.allowed_channels == ["email", "sms", "push", "csm", "audience"]


def test_firing_of_a_stored_journey_that_no_longer_validates_is_skipped_with_its_reason(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock
) -> None:
    """A journey saved before webhook steps were refused: its firings are consumed, audited."""
    with session_scope(sqlite_engine) as session:
        text = ONE_STEP.replace("channels: [email]", "channels: [webhook]")
        session.add(Journey(slug="one-step", version=1, name="old", definition=text))
    fire(sqlite_engine, "one-step", "c1", at=clock.now())
    stats = make_runner(sqlite_engine).run_until_idle()
    assert stats.skipped_firings == 1 and runs(sqlite_engine) == []
    with session_scope(sqlite_engine) as session:
        [skipped] = session.exec(
            select(AuditEntry).where(AuditEntry.kind == "journey.firing_skipped")
        ).all()
        assert session.exec(select(TriggerFiring)).one().consumed_at is not None
    assert "no longer validates" in skipped.payload["reason"]
    assert "webhook" in skipped.payload["reason"]


REMIND_UNTIL_PURCHASE = """
slug: reminder
name: Remind until purchase
trigger: test_trigger
goal: {event: Order Completed, window: 30d}
steps:
  - {id: remind, kind: action, channels: [email], actions: [reminder_email]}
  - {id: wait_1d, kind: wait, duration: 1d}
  - id: again
    kind: branch
    rules:
      - when: {field: goal_reached, op: eq, value: false}
        goto: remind
    default: end
"""


def test_a_step_visited_again_sends_again_though_the_copy_is_the_same(
    sqlite_engine: Engine, make_runner: MakeRunner, clock: Clock, fakes: Fakes
) -> None:
    """Each visit of a looping step is its own decision, so its own send: the key carries the
    decision, not only (run, step, action, content)."""
    fakes.random_copy = False  # template copy: the same text on every visit
    add_journey(sqlite_engine, REMIND_UNTIL_PURCHASE)
    fire(sqlite_engine, "reminder", "c1", at=clock.now())
    runner = make_runner(sqlite_engine)
    for _ in range(3):
        runner.run_until_idle()
        clock.advance(days=1, seconds=1)
    runner.run_until_idle()
    rows = outbox(sqlite_engine)
    assert len(fakes.decisions) == 4
    assert len(rows) == 4 and len({r.idempotency_key for r in rows}) == 4
    assert len({r.payload["content"]["body_text"] for r in rows}) == 1
