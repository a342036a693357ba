"""`decide`: one next-best-action decision, persisted with its explanation and audited.

The database part of the pipeline: load the customer's recent decisions (cooldowns, offer budget)
and the learned bandit state, run `arbitration.arbitrate`, store a `core.tables.Decision` row and
a `decision.made` audit entry in the caller's transaction, and hand back a `DecisionOutcome`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from core import audit
from core.clock import as_utc
from core.customers import lock_customer, same_person
from core.domain import DecisionContext, DecisionOutcome, ProfileView
from core.tables import Decision, new_id
from decisioning.arbitration import NOTHING, Arbitration, PolicyConfig, arbitrate
from decisioning.bandit import MODEL_NAME, ArmState, BanditModel
from decisioning.catalog import Catalog, load_catalog
from decisioning.holdout import get_decisioning_settings
from decisioning.suitability import PastDecision, SuitabilityCheck
from decisioning.tables import BanditArm
from decisioning.timing import send_time

if TYPE_CHECKING:
    from decisioning.churn import ChurnModel

__all__ = [
    "SuitabilityCheck",
    "decide",
    "default_catalog",
    "load_bandit",
    "recent_decisions",
    "record_holdout",
]

ACTOR = "decisioning"
HISTORY_DAYS = 30  # the offer budget looks back this far; cooldowns may look further
_TIMED_CHANNELS = {"email", "sms", "push"}


@lru_cache(maxsize=4)
def _cached_catalog(path: Path | None, mtime: float) -> Catalog:
    return load_catalog(path)


def default_catalog(path: Path | None = None) -> Catalog:
    """The catalog at `path` (default examples/catalog.yaml), reloaded when the file changes."""
    from decisioning.catalog import DEFAULT_CATALOG_PATH

    target = path or DEFAULT_CATALOG_PATH
    return _cached_catalog(path, target.stat().st_mtime if target.exists() else 0.0)


def load_bandit(session: Session) -> BanditModel:
    """The persisted LinUCB state of every action (fresh arms for actions never rewarded)."""
    rows = session.exec(select(BanditArm).where(BanditArm.model == MODEL_NAME)).all()
    arms = {row.action_id: ArmState.from_json(row.state) for row in rows}
    return BanditModel(arms, alpha=get_decisioning_settings().ucb_alpha)


def recent_decisions(
    session: Session, customer_id: str, catalog: Catalog, now: datetime
) -> list[PastDecision]:
    """Actions actually chosen for this person (not held out) within the longest lookback,
    under any id merged into theirs: decisions keep the id they were made for."""
    days = max([HISTORY_DAYS, *(a.cooldown_days for a in catalog.actions)])
    rows = session.exec(
        select(Decision.action_id, Decision.created_at)
        .where(
            col(Decision.customer_id).in_(same_person(customer_id)),
            col(Decision.action_id).is_not(None),
            Decision.holdout == False,  # noqa: E712
            col(Decision.created_at) >= now - timedelta(days=days),
        )
        .order_by(col(Decision.created_at))
    ).all()
    known = {a.id: a for a in catalog.actions}
    return [
        PastDecision(
            action_id=action_id,
            at=as_utc(at),
            discount_pct=known[action_id].discount_pct if action_id in known else 0.0,
        )
        for action_id, at in rows
        if action_id is not None
    ]


def _churn_explanation(
    profile: ProfileView, churn_model: ChurnModel | None
) -> dict[str, Any] | None:
    if churn_model is not None and profile.computed.get("churn_risk") is None:
        return churn_model.explain(profile.computed)
    risk = profile.computed.get("churn_risk")
    if isinstance(risk, int | float) and math.isfinite(risk):  # NaN would void every score
        out: dict[str, Any] = {"score": float(risk), "source": "profile.computed.churn_risk"}
        if churn_model is not None:
            out["contributions"] = churn_model.explain(profile.computed)["contributions"]
            out["model_version"] = churn_model.version
        return out
    return None


def decide(
    session: Session,
    profile: ProfileView,
    ctx: DecisionContext,
    *,
    now: datetime,
    catalog: Catalog | None = None,
    suitability: Sequence[SuitabilityCheck] = (),
    churn_model: ChurnModel | None = None,
    policy: PolicyConfig | None = None,
    actor: str = ACTOR,
) -> DecisionOutcome:
    """Choose the next best action (or none) for `profile` in `ctx`, persist and audit it.

    Runs in the caller's transaction: the Decision row and its `decision.made` audit entry
    commit or roll back together with whatever the caller does. The customer is locked first,
    so two decisions for one person at once cannot both pass a cooldown or the offer budget.
    """
    now = as_utc(now)
    catalog = catalog or default_catalog()
    lock_customer(session, profile.customer_id)
    result = _arbitrate(session, profile, ctx, now, catalog, suitability, churn_model, policy)
    return _store(session, profile, ctx, now, catalog, result, actor)


def record_holdout(
    session: Session,
    profile: ProfileView,
    ctx: DecisionContext,
    *,
    now: datetime,
    control: str,
    catalog: Catalog | None = None,
    suitability: Sequence[SuitabilityCheck] = (),
    churn_model: ChurnModel | None = None,
    policy: PolicyConfig | None = None,
    actor: str = ACTOR,
) -> DecisionOutcome:
    """Record that a caller's own control group kept `profile` from any action here.

    A journey assigns its holdout arm itself and then does not ask for a decision; without a
    row those customers vanish from lift measurement. This runs the same arbitration (so the
    row says what treatment would have chosen), then stores it held out: `holdout=true`, no
    action, `chosen.reason` "journey_holdout" (or "holdout" outside a journey),
    `holdout.control` = `control` (e.g. "journey:cart-recovery"). Like every holdout it never
    counts for cooldowns or budgets, teaches the bandit nothing and is left out of OPE.
    """
    control = control.strip()
    if not control:
        raise ValueError("control: name the control group, e.g. 'journey:<slug>'")
    now = as_utc(now)
    catalog = catalog or default_catalog()
    result = _arbitrate(session, profile, ctx, now, catalog, suitability, churn_model, policy)
    return _store(session, profile, ctx, now, catalog, _held_out(result, ctx, control), actor)


def _arbitrate(
    session: Session,
    profile: ProfileView,
    ctx: DecisionContext,
    now: datetime,
    catalog: Catalog,
    suitability: Sequence[SuitabilityCheck],
    churn_model: ChurnModel | None,
    policy: PolicyConfig | None,
) -> Arbitration:
    return arbitrate(
        profile,
        ctx,
        now=now,
        catalog=catalog,
        bandit=load_bandit(session),
        history=recent_decisions(session, profile.customer_id, catalog, now),
        suitability=suitability,
        policy=policy,
        churn_explanation=_churn_explanation(profile, churn_model),
    )


def _held_out(result: Arbitration, ctx: DecisionContext, control: str) -> Arbitration:
    """`result` as a holdout of `control`: nothing chosen, the would-be choice kept."""
    explanation = dict(result.explanation)
    chosen = explanation["chosen"]
    would_have = result.action.id if result.action else chosen.get("would_have_chosen")
    explanation["holdout"] = {
        **explanation["holdout"],
        "journey_holdout": bool(ctx.journey_slug) or explanation["holdout"]["journey_holdout"],
        "control": control,
    }
    explanation["chosen"] = {
        "action_id": NOTHING,
        "reason": "journey_holdout" if ctx.journey_slug else "holdout",
        "would_have_chosen": would_have,
    }
    return Arbitration(
        action=None,
        score=None,
        policy_arm=result.policy_arm,
        holdout=True,
        needs_review=False,
        explanation=explanation,
    )


def _store(
    session: Session,
    profile: ProfileView,
    ctx: DecisionContext,
    now: datetime,
    catalog: Catalog,
    result: Arbitration,
    actor: str,
) -> DecisionOutcome:
    """Persist the Decision row and its `decision.made` audit entry; the outcome to return."""
    action = result.action
    send_at: datetime | None = None
    send_reason: str | None = None
    if action is not None and action.channel in _TIMED_CHANNELS:
        send_at, send_reason = send_time(profile, now)
    elif action is not None and not action.inbound:
        send_at, send_reason = now, f"{action.channel} is not timed: now"
    elif action is not None:
        send_reason = "inbound: shown when the page asks"
    decision_id = new_id()
    explanation = {
        "decision_id": decision_id,
        "decided_at": now.isoformat(),
        **result.explanation,
        "send_at": send_at.isoformat() if send_at else None,
        "send_at_reason": send_reason,
        "needs_review": result.needs_review,
    }
    churn_version = (result.explanation.get("churn") or {}).get("model_version")
    model_version = result.explanation["model_version"]
    if churn_version:
        model_version = f"{model_version}+{churn_version}"[:64]
    row = Decision(
        id=decision_id,
        customer_id=profile.customer_id,
        journey_slug=ctx.journey_slug,
        run_id=ctx.run_id,
        trigger=ctx.trigger,
        placement=ctx.placement,
        action_id=action.id if action else None,
        channel=action.channel if action else None,
        policy_arm=result.policy_arm,
        holdout=result.holdout,
        catalog_version=catalog.version,
        model_version=model_version,
        explanation=explanation,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor,
        kind="decision.made",
        subject_type="decision",
        subject_id=decision_id,
        customer_id=profile.customer_id,
        journey_id=ctx.journey_slug,
        payload=explanation,
    )
    return DecisionOutcome(
        decision_id=decision_id,
        customer_id=profile.customer_id,
        action_id=row.action_id,
        channel=row.channel,
        offer=dict(action.offer) if action else {},
        needs_review=result.needs_review,
        policy_arm=result.policy_arm,
        holdout=result.holdout,
        send_at=send_at,
        score=result.score,
        explanation=explanation,
    )
