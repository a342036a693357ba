"""Small fakes and factories for journey tests (and the crash-test child process).

The fakes stand in for cdp/, decisioning/, brand/, guardrails/ and tools/ behind the
JourneyContext callables; `enqueue` writes the real `outbox` table with its unique key.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agents.journey.context import JourneyContext
from agents.journey.store import save_journey
from core.db import session_scope
from core.domain import (
    Creative,
    DecisionContext,
    DecisionOutcome,
    GuardrailReport,
    Outcome,
    PlannedAction,
    ProfileView,
    Verdict,
)
from core.tables import Event, OutboxMessage, Review, TriggerFiring
from guardrails.engine import with_kill_switch
from guardrails.review import create_review

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "journeys"

ONE_STEP = """
slug: one-step
name: One email
trigger: test_trigger
goal: {event: Order Completed, window: 3d}
steps:
  - {id: hello, kind: action, channels: [email], actions: [hello_email]}
"""


@dataclass
class Clock:
    at: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 12, tzinfo=UTC))

    def now(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


@dataclass
class Fakes:
    """Configurable stand-ins; every call is recorded for assertions."""

    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    plan_outcome: Outcome = Outcome.allow
    send_outcome: Outcome = Outcome.allow
    hold_release: bool = True  # False: a hold with no release time (an unknown timezone)
    conformance: float = 0.9
    random_copy: bool = True
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[DecisionContext] = field(default_factory=list)
    creative_errors: list[Exception] = field(default_factory=list)  # raised first, in order

    def load_profile(self, session: Session, customer_id: str) -> ProfileView | None:
        data = self.profiles.get(customer_id, {})
        if data.get("missing"):
            return None
        return ProfileView(
            customer_id=customer_id,
            traits={"email": f"{customer_id}@example.com", "phone": "+15550100"},
            computed=data.get("computed", {}),
            consent=data.get("consent", {}),
        )

    def decide(
        self, session: Session, profile: ProfileView, ctx: DecisionContext, now: datetime
    ) -> DecisionOutcome:
        self.decisions.append(ctx)
        return DecisionOutcome(
            decision_id=uuid.uuid4().hex,
            customer_id=profile.customer_id,
            action_id=(ctx.allowed_actions or ["default_action"])[0],
            channel=(ctx.allowed_channels or ["email"])[0],
            score=0.5,
        )

    def write_creative(
        self, session: Session, profile: ProfileView, decision: DecisionOutcome
    ) -> Creative:
        if self.creative_errors:  # e.g. the model endpoint is down
            raise self.creative_errors.pop(0)
        # a random nonce: a re-run writes different copy, as an LLM would
        nonce = secrets.token_hex(4) if self.random_copy else "fixed"
        return Creative(
            channel=decision.channel or "email",
            content={"subject": f"For {profile.customer_id}", "body_text": f"Hi {nonce}"},
            conformance_score=self.conformance,
            source="llm",
        )

    def check(
        self,
        session: Session,
        action: PlannedAction,
        profile: ProfileView,
        now: datetime,
        stage: str,
    ) -> GuardrailReport:
        outcome = self.plan_outcome if stage == "plan" else self.send_outcome
        verdict = Verdict(
            check="fake", outcome=outcome, reasons=[] if outcome == "allow" else ["x"]
        )
        timed = outcome == Outcome.hold and self.hold_release
        hold_until = now + timedelta(hours=8) if timed else None
        # the kill switch is the real engine's, so pauses behave as in production
        return with_kill_switch(
            session, action, GuardrailReport.of([verdict], hold_until=hold_until)
        )

    def create_review(
        self,
        session: Session,
        action: PlannedAction,
        report: GuardrailReport,
        thread_id: str,
        *,
        expires_at: datetime | None,
    ) -> Review:
        # the real review queue, so expiry and the audit entry are production's
        return create_review(
            session,
            action=action,
            report=report,
            thread_id=thread_id,
            actor="agent:journey",
            expires_at=expires_at,
        )

    def record_outcome(
        self, session: Session, *, decision_id: str, reward: float, kind: str
    ) -> None:
        self.outcomes.append({"decision_id": decision_id, "reward": reward, "kind": kind})


def enqueue(
    session: Session,
    *,
    channel: str,
    key: str,
    payload: dict[str, Any],
    customer_id: str,
    journey_slug: str | None,
    run_id: str | None,
    decision_id: str | None,
    action_id: str | None,
    not_before: datetime | None,
) -> tuple[OutboxMessage, bool]:
    """The minimal outbox write: one row per idempotency key (the column is unique)."""
    existing = session.exec(
        select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
    ).first()
    if existing is not None:
        return existing, False
    row = OutboxMessage(
        idempotency_key=key,
        channel=channel,
        customer_id=customer_id,
        journey_slug=journey_slug,
        run_id=run_id,
        decision_id=decision_id,
        action_id=action_id,
        payload=payload,
    )
    if not_before is not None:
        row.next_attempt_at = not_before
    session.add(row)
    session.flush()
    return row, True


def make_context(engine: Engine, fakes: Fakes, clock: Clock | None = None) -> JourneyContext:
    return JourneyContext(
        engine=engine,
        load_profile=fakes.load_profile,
        decide=fakes.decide,
        write_creative=fakes.write_creative,
        check=fakes.check,
        create_review=fakes.create_review,
        enqueue=enqueue,
        record_outcome=fakes.record_outcome,
        now=(clock or Clock()).now,
    )


def add_journey(engine: Engine, text: str, status: str = "active") -> None:
    with session_scope(engine) as session:
        save_journey(session, text, actor="test", status=status)


def add_example(engine: Engine, name: str) -> None:
    add_journey(engine, (EXAMPLES / f"{name}.yaml").read_text())


def fire(engine: Engine, slug: str, customer_id: str, *, at: datetime, occasion: str = "1") -> str:
    with session_scope(engine) as session:
        firing = TriggerFiring(
            trigger="test",
            journey_slug=slug,
            customer_id=customer_id,
            dedup_key=f"{slug}:{customer_id}:{occasion}",
            fired_at=at,
        )
        session.add(firing)
    return firing.id


def track(
    engine: Engine,
    customer_id: str,
    name: str,
    *,
    at: datetime,
    processed_at: datetime | None = None,
    **props: Any,
) -> None:
    """An event the CDP worker has processed (its customer resolved), at `processed_at`
    (default `at`)."""
    with session_scope(engine) as session:
        session.add(
            Event(
                message_id=uuid.uuid4().hex,
                type="track",
                event=name,
                customer_id=customer_id,
                timestamp=at,
                received_at=at,
                processed_at=processed_at or at,
                properties=props,
            )
        )


def outbox(engine: Engine) -> list[OutboxMessage]:
    with session_scope(engine) as session:
        return list(session.exec(select(OutboxMessage)).all())


def mark_sent(engine: Engine, message_id: str, *, at: datetime, status: str = "sent") -> None:
    """What the dispatcher records (tests that need a delivered message without a provider):
    `status` at `at`; `sent_at` only when it was sent."""
    with session_scope(engine) as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        row.status = status
        row.sent_at = at if status == "sent" else None
        session.add(row)
