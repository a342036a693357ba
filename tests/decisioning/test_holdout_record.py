"""A journey's own control group still leaves a Decision row: held out, and what it would have
been, so lift is measured against every customer the journey saw."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.db import session_scope
from core.tables import AuditEntry, Decision
from decisioning.engine import decide, record_holdout
from decisioning.learning import record_outcome
from decisioning.tables import BanditArm
from tests.decisioning.factories import NOW, SUBSCRIBED, cart_ctx, policy, profile

EMAIL_ONLY = {"email": SUBSCRIBED}


def test_holdout_decision_names_the_control_and_what_would_have_been_chosen(
    engine: Engine,
) -> None:
    customer = profile(consent=EMAIL_ONLY)
    ctx = cart_ctx(run_id="run-7", step="remind")
    with session_scope(engine) as session:
        held = record_holdout(
            session, customer, ctx, now=NOW, control="journey:cart-recovery", policy=policy()
        )
    assert held.holdout and held.action_id is None and held.channel is None
    assert held.send_at is None
    with Session(engine) as session:
        row = session.get(Decision, held.decision_id)
        assert row is not None
        assert (row.holdout, row.action_id, row.journey_slug, row.run_id) == (
            True,
            None,
            "cart-recovery",
            "run-7",
        )
        chosen = row.explanation["chosen"]
        assert chosen["action_id"] == "do_nothing" and chosen["reason"] == "journey_holdout"
        assert chosen["would_have_chosen"] == "cart_reminder_email"
        assert row.explanation["holdout"]["control"] == "journey:cart-recovery"
        assert row.explanation["holdout"]["journey_holdout"] is True
        entry = session.exec(select(AuditEntry).where(AuditEntry.kind == "decision.made")).one()
        assert entry.subject_id == held.decision_id and entry.payload["holdout"]["control"]


def test_a_holdout_record_teaches_nothing_and_blocks_no_cooldown(sqlite_engine: Engine) -> None:
    customer = profile(consent=EMAIL_ONLY)
    with session_scope(sqlite_engine) as session:
        held = record_holdout(
            session, customer, cart_ctx(), now=NOW, control="journey:cart-recovery"
        )
        record_outcome(session, decision_id=held.decision_id, reward=1.0, kind="purchase")
    with session_scope(sqlite_engine) as session:
        later = decide(session, customer, cart_ctx(), now=NOW + timedelta(hours=1), policy=policy())
    assert later.action_id == "cart_reminder_email"  # the held-out "send" never happened
    with Session(sqlite_engine) as session:
        assert session.exec(select(BanditArm)).all() == []


def test_the_control_must_be_named(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as session, pytest.raises(ValueError, match="control"):
        record_holdout(session, profile(), cart_ctx(), now=NOW, control=" ")
