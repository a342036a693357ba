"""The closed loop: an outcome credited to a decision updates that action's bandit state.

Rewards are recorded once per (decision, kind), so a replayed outcome event changes nothing.
The context vector is the one stored in the decision's explanation: the model learns from
exactly what it saw when it chose.
"""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from core import audit
from core.clock import utcnow
from core.tables import Decision
from decisioning.bandit import MODEL_NAME, ArmState
from decisioning.features import FEATURE_NAMES
from decisioning.tables import BanditArm, DecisionReward

__all__ = ["UnknownDecisionError", "record_outcome"]


class UnknownDecisionError(LookupError):
    """No decision with this id exists."""


def _context(decision: Decision) -> tuple[np.ndarray, float]:
    features = decision.explanation.get("features", {})
    x = np.array([float(features.get(name, 0.0)) for name in FEATURE_NAMES])
    prior = 0.0
    for cand in decision.explanation.get("candidates", []):
        if cand.get("action_id") == decision.action_id:
            prior = float(cand.get("prior", 0.0))
    return x, prior


def _locked_arm(session: Session, action_id: str) -> BanditArm:
    """The action's arm row, created if absent, locked for this transaction.

    Insert-if-missing then SELECT ... FOR UPDATE: two workers crediting the same new action
    at once neither fail on the unique key nor lose an update (SQLite has one writer anyway).
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(BanditArm)
        .values(model=MODEL_NAME, action_id=action_id, state={}, n_updates=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["model", "action_id"])
    )
    return session.exec(
        select(BanditArm)
        .where(BanditArm.model == MODEL_NAME, BanditArm.action_id == action_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def record_outcome(
    session: Session, *, decision_id: str, reward: float, kind: str, actor: str = "decisioning"
) -> None:
    """Credit `reward` (e.g. 1.0 for a click or purchase, 0.0 for none) to a decision.

    Raises UnknownDecisionError for an unknown id and ValueError for a non-finite reward or an
    empty kind. A decision that chose nothing (or was held out) keeps its reward for evaluation
    but teaches the bandit nothing.
    """
    if not isinstance(reward, int | float) or not math.isfinite(reward):
        raise ValueError(f"reward: must be a finite number, got {reward!r}")
    if not kind or len(kind) > 32:
        raise ValueError("kind: must be 1-32 characters, e.g. 'click' or 'purchase'")
    decision = session.get(Decision, decision_id)
    if decision is None:
        raise UnknownDecisionError(f"decision_id: no decision {decision_id!r}")
    seen = session.exec(
        select(DecisionReward).where(
            DecisionReward.decision_id == decision_id, DecisionReward.kind == kind
        )
    ).first()
    if seen is not None:
        return
    session.add(
        DecisionReward(
            decision_id=decision_id, action_id=decision.action_id, kind=kind, reward=reward
        )
    )
    learned = decision.action_id is not None and not decision.holdout
    n_updates = None
    if learned:
        row = _locked_arm(session, decision.action_id or "")
        state = ArmState.from_json(row.state) if row.state else ArmState()
        x, prior = _context(decision)
        state.update(x, float(reward), prior)
        row.state = state.to_json()
        row.n_updates = state.n_updates
        row.updated_at = utcnow()
        session.add(row)
        n_updates = state.n_updates
    session.flush()
    audit.append(
        session,
        actor=actor,
        kind="decision.outcome_recorded",
        subject_type="decision",
        subject_id=decision_id,
        customer_id=decision.customer_id,
        journey_id=decision.journey_slug,
        payload={
            "decision_id": decision_id,
            "action_id": decision.action_id,
            "kind": kind,
            "reward": reward,
            "bandit_updated": learned,
            "arm_updates": n_updates,
        },
    )
