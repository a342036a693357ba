"""decide() and record_outcome() against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core import audit
from core.db import session_scope
from core.domain import DecisionContext
from core.tables import AuditEntry, Customer, Decision
from decisioning.bandit import MODEL_NAME
from decisioning.catalog import load_catalog
from decisioning.engine import decide
from decisioning.holdout import in_global_control, in_journey_holdout
from decisioning.learning import UnknownDecisionError, record_outcome
from decisioning.tables import BanditArm, DecisionReward
from tests.decisioning.factories import NOW, SUBSCRIBED, cart_ctx, policy, profile

EMAIL_ONLY = {"email": SUBSCRIBED}


def test_decision_is_persisted_with_its_explanation_and_audited(engine: Engine) -> None:
    with session_scope(engine) as session:
        outcome = decide(
            session, profile(consent=EMAIL_ONLY), cart_ctx(run_id="run-1"), now=NOW, policy=policy()
        )
    assert outcome.action_id == "cart_reminder_email"
    assert outcome.send_at is not None and outcome.send_at >= NOW
    with Session(engine) as session:
        row = session.get(Decision, outcome.decision_id)
        assert row is not None
        assert (row.action_id, row.channel, row.run_id) == ("cart_reminder_email", "email", "run-1")
        assert row.catalog_version == load_catalog().version
        assert row.model_version.startswith(MODEL_NAME)
        assert row.explanation["chosen"]["action_id"] == row.action_id
        assert row.explanation == outcome.explanation
        entry = session.exec(select(AuditEntry).where(AuditEntry.kind == "decision.made")).one()
        assert entry.subject_id == outcome.decision_id
        assert entry.payload["chosen"]["action_id"] == "cart_reminder_email"
        assert audit.verify_chain(session).ok


def test_cooldown_uses_the_customers_stored_decisions(engine: Engine) -> None:
    with session_scope(engine) as session:
        first = decide(session, profile(consent=EMAIL_ONLY), cart_ctx(), now=NOW, policy=policy())
    with session_scope(engine) as session:
        later = NOW + timedelta(hours=1)
        second = decide(
            session, profile(consent=EMAIL_ONLY), cart_ctx(), now=later, policy=policy()
        )
    assert first.action_id == "cart_reminder_email"
    assert second.action_id != "cart_reminder_email"
    cand = next(
        c for c in second.explanation["candidates"] if c["action_id"] == "cart_reminder_email"
    )
    assert [f["check"] for f in cand["filters"] if not f["passed"]] == ["cooldown"]


def test_cooldown_counts_decisions_made_under_a_merged_id(engine: Engine) -> None:
    """Decisions keep the id they were made for; after an identity merge they still count."""
    with session_scope(engine) as session:
        session.add(Customer(id="old-id"))
        session.add(Customer(id="cust-1"))
    with session_scope(engine) as session:
        first = decide(
            session, profile("old-id", consent=EMAIL_ONLY), cart_ctx(), now=NOW, policy=policy()
        )
    with session_scope(engine) as session:
        merged = session.get(Customer, "old-id")
        assert merged is not None
        merged.merged_into = "cust-1"
        session.add(merged)
    with session_scope(engine) as session:
        later = decide(
            session,
            profile("cust-1", consent=EMAIL_ONLY),
            cart_ctx(),
            now=NOW + timedelta(hours=1),
            policy=policy(),
        )
    assert first.action_id == "cart_reminder_email"
    assert later.action_id != "cart_reminder_email"


def test_a_nan_churn_risk_is_ignored_not_spread_into_every_score(engine: Engine) -> None:
    with session_scope(engine) as session:
        outcome = decide(
            session,
            profile(consent=EMAIL_ONLY, churn_risk=float("nan")),
            cart_ctx(),
            now=NOW,
            policy=policy(),
        )
    assert outcome.action_id == "cart_reminder_email"


def test_holdout_customers_never_receive_the_held_out_actions(sqlite_engine: Engine) -> None:
    mix = policy(global_control_rate=0.2, journey_holdout_rate=0.3)
    seen = {"control": 0, "journey": 0, "treated": 0}
    with session_scope(sqlite_engine) as session:
        for i in range(60):
            cid = f"hold-{i}"
            control = in_global_control(cid, rate=0.2)
            held = in_journey_holdout(cid, "cart-recovery", rate=0.3)
            for ctx in (cart_ctx(), DecisionContext(trigger="churn_risk_high")):
                out = decide(
                    session, profile(cid, churn_risk=0.9, monetary=900.0), ctx, now=NOW, policy=mix
                )
                in_holdout = control or (held and ctx.journey_slug == "cart-recovery")
                if in_holdout:
                    assert out.action_id is None and out.holdout, cid
                    assert out.explanation["chosen"]["would_have_chosen"] is not None
                else:
                    assert out.action_id is not None and not out.holdout, cid
            seen["control" if control else "journey" if held else "treated"] += 1
    assert all(seen.values()), seen  # each group really occurred
    with Session(sqlite_engine) as session:
        leaked = session.exec(
            select(Decision).where(Decision.holdout == True, Decision.action_id != None)  # noqa: E711,E712
        ).all()
    assert leaked == []


def test_outcome_updates_the_bandit_once_and_is_audited(engine: Engine) -> None:
    with session_scope(engine) as session:
        outcome = decide(session, profile(), cart_ctx(), now=NOW, policy=policy())
    before = outcome.explanation["candidates"]
    p_before = next(c for c in before if c["action_id"] == outcome.action_id)["p_response"]
    for _ in range(2):  # a replayed outcome counts once
        with session_scope(engine) as session:
            record_outcome(session, decision_id=outcome.decision_id, reward=1.0, kind="click")
    with Session(engine) as session:
        arm = session.exec(select(BanditArm).where(BanditArm.action_id == outcome.action_id)).one()
        assert arm.n_updates == 1
        assert len(session.exec(select(DecisionReward)).all()) == 1
        kinds = [e.kind for e in session.exec(select(AuditEntry)).all()]
        assert kinds.count("decision.outcome_recorded") == 1
    with session_scope(engine) as session:
        again = decide(session, profile("cust-2"), cart_ctx(), now=NOW, policy=policy())
    cand = next(c for c in again.explanation["candidates"] if c["action_id"] == outcome.action_id)
    assert cand["p_response"] > p_before  # learned from the click
    assert again.explanation["model_version"] == f"{MODEL_NAME}@1"


def test_outcome_for_unknown_decision_or_bad_reward_is_refused(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as session:
        with pytest.raises(UnknownDecisionError, match="decision_id"):
            record_outcome(session, decision_id="nope", reward=1.0, kind="click")
        with pytest.raises(ValueError, match="reward"):
            record_outcome(session, decision_id="nope", reward=float("nan"), kind="click")


@pytest.mark.postgres
def test_concurrent_outcomes_on_a_new_action_lose_no_update(pg_engine: Engine) -> None:
    import threading

    ids = []
    with session_scope(pg_engine) as session:
        for i in range(4):
            p = profile(f"conc-{i}", consent=EMAIL_ONLY)
            ids.append(decide(session, p, cart_ctx(), now=NOW, policy=policy()).decision_id)
    barrier = threading.Barrier(len(ids))
    errors: list[BaseException] = []

    def credit(decision_id: str) -> None:
        try:
            barrier.wait()
            with session_scope(pg_engine) as session:
                record_outcome(session, decision_id=decision_id, reward=1.0, kind="click")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=credit, args=(d,)) for d in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(pg_engine) as session:
        arm = session.exec(select(BanditArm)).one()
        assert arm.n_updates == len(ids)
        assert arm.state["n_updates"] == len(ids)
