"""Run-time dependencies of the journey graph, injected per invoke (`context=`).

The graph never imports cdp/, decisioning/, brand/, guardrails/ or tools/ itself: it calls the
functions held here. `agents.journey.wiring.build_context` fills them with the real modules;
tests and the benchmark fill them with small fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.clock import utcnow
from core.domain import (
    Creative,
    DecisionContext,
    DecisionOutcome,
    GuardrailReport,
    PlannedAction,
    ProfileView,
)
from core.tables import OutboxMessage, Review

__all__ = ["CreateReview", "Enqueue", "JourneyContext", "RecordOutcome", "Stage"]

Stage = Literal["plan", "send"]


class Enqueue(Protocol):
    def __call__(
        self,
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
    ) -> tuple[OutboxMessage, bool]: ...


class CreateReview(Protocol):
    """Open a review; `expires_at` None means the guardrail policy's SLA."""

    def __call__(
        self,
        session: Session,
        action: PlannedAction,
        report: GuardrailReport,
        thread_id: str,
        *,
        expires_at: datetime | None,
    ) -> Review: ...


class RecordOutcome(Protocol):
    def __call__(self, session: Session, *, decision_id: str, reward: float, kind: str) -> None: ...


def _no_lock(session: Session, customer_id: str) -> None:
    return None


def _no_holdout_record(
    session: Session, profile: ProfileView, ctx: DecisionContext, now: datetime
) -> DecisionOutcome | None:
    return None


@dataclass(frozen=True, kw_only=True)
class JourneyContext:
    """Everything a journey node may touch besides its state."""

    engine: Engine
    load_profile: Callable[[Session, str], ProfileView | None]
    decide: Callable[[Session, ProfileView, DecisionContext, datetime], DecisionOutcome]
    write_creative: Callable[[Session, ProfileView, DecisionOutcome], Creative]
    check: Callable[[Session, PlannedAction, ProfileView, datetime, Stage], GuardrailReport]
    create_review: CreateReview
    enqueue: Enqueue
    record_outcome: RecordOutcome
    lock_customer: Callable[[Session, str], None] = _no_lock
    # A customer in the journey's own control arm gets no decision, but is recorded as held
    # out (what treatment would have chosen) so lift can be measured on every decision row.
    record_holdout: Callable[
        [Session, ProfileView, DecisionContext, datetime], DecisionOutcome | None
    ] = _no_holdout_record
    now: Callable[[], datetime] = field(default=utcnow)
    actor: str = "agent:journey"
