"""Build the production JourneyContext from the real packages (lead: finish after merging).

UNTESTED IN THIS BRANCH: cdp/, decisioning/, brand/, guardrails/ and tools/ are built on other
branches. Each adapter imports its module lazily by the agreed name and adapts the call to the
JourneyContext signature; adjust the adapters where a real signature differs.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.journey.context import JourneyContext, Stage
from core.clock import utcnow
from core.domain import (
    Creative,
    DecisionContext,
    DecisionOutcome,
    GuardrailReport,
    PlannedAction,
    ProfileView,
)
from core.settings import Settings
from core.tables import OutboxMessage, Review

__all__ = ["build_context"]


def _fn(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def build_context(engine: Engine, settings: Settings) -> JourneyContext:
    """The context `cjo run` / `cjo serve` hand the JourneyRunner."""

    def load_profile(session: Session, customer_id: str) -> ProfileView | None:
        return _fn("cdp.profiles", "get_profile_view")(session, customer_id)

    def decide(
        session: Session, profile: ProfileView, ctx: DecisionContext, now: datetime
    ) -> DecisionOutcome:
        return _fn("decisioning.engine", "decide")(session, profile, ctx, now)

    def write_creative(
        session: Session, profile: ProfileView, decision: DecisionOutcome
    ) -> Creative:
        return _fn("brand.creative", "write_creative")(session, profile, decision)

    def check(
        session: Session, action: PlannedAction, profile: ProfileView, now: datetime, stage: Stage
    ) -> GuardrailReport:
        return _fn("guardrails.engine", "check_action")(session, action, profile, now, stage=stage)

    def lock_customer(session: Session, customer_id: str) -> None:
        _fn("guardrails.frequency", "lock_customer")(session, customer_id)

    def create_review(
        session: Session, action: PlannedAction, report: GuardrailReport, thread_id: str
    ) -> Review:
        return _fn("guardrails.review", "create_review")(
            session, action, report, thread_id=thread_id
        )

    def enqueue(session: Session, **kw: Any) -> tuple[OutboxMessage, bool]:
        return _fn("tools.outbox", "enqueue")(session, **kw)

    def record_outcome(session: Session, *, decision_id: str, reward: float, kind: str) -> None:
        _fn("decisioning.learning", "record_outcome")(
            session, decision_id=decision_id, reward=reward, kind=kind
        )

    return JourneyContext(
        engine=engine,
        load_profile=load_profile,
        decide=decide,
        write_creative=write_creative,
        check=check,
        create_review=create_review,
        enqueue=enqueue,
        record_outcome=record_outcome,
        lock_customer=lock_customer,
        now=utcnow,
    )
