"""The `make run` demo: CDNOW history plus live signals start every demo journey, once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cdp.pipeline import drain, run_scheduler
from cdp.traits import set_churn_scorer
from cli.demo import respond_to_emails, seed_demo
from core.clock import utcnow
from core.db import session_scope
from core.tables import Event, Identity, OutboxMessage, TriggerFiring
from decisioning.churn import load_or_train

pytestmark = pytest.mark.slow


def test_demo_fires_each_journey_and_replays_idempotently(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    set_churn_scorer(load_or_train(tmp_path).score)
    try:
        now = utcnow()
        first = seed_demo(sqlite_engine, now)
        drain(sqlite_engine)
        run_scheduler(sqlite_engine)
        again = seed_demo(sqlite_engine, now)
    finally:
        set_churn_scorer(None)
    assert first["history_accepted"] > 3000 and first["live_accepted"] > 0
    assert again == {"history_accepted": 0, "live_accepted": 0}
    with Session(sqlite_engine) as session:
        journeys = {f.journey_slug for f in session.exec(select(TriggerFiring)).all()}
    assert {"winback", "cart-abandonment", "onboarding", "trial-to-paid"} <= journeys


def test_responses_come_from_the_shop_known_user_id(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as session:
        session.add(Identity(kind="user_id", value="cdnow-7", customer_id="canon-7"))
        for n in range(40):  # some of them answer (a fixed share, by hash of the customer id)
            session.add(Identity(kind="user_id", value=f"cdnow-{100 + n}", customer_id=f"c{n}"))
            session.add(
                OutboxMessage(
                    idempotency_key=f"k{n}",
                    channel="email",
                    status="sent",
                    customer_id=f"c{n}",
                    decision_id=f"d{n}",
                    sent_at=utcnow().replace(year=2025),
                )
            )
    answered = respond_to_emails(sqlite_engine)
    with Session(sqlite_engine) as session:
        users = {e.user_id for e in session.exec(select(Event)).all()}
    assert 0 < answered < 40
    assert users and all(u is not None and u.startswith("cdnow-") for u in users)
