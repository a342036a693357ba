"""Off-policy evaluation on cjo's own decisions: would the current model have done better?

Each stored decision keeps the context vector it saw, every candidate that passed, and the
probability with which the logging policy picked what it picked (`exploration.propensity`).
That is all IPS/SNIPS/DR need: the target policy here is epsilon-greedy on the current bandit,
re-scored over the same passed candidates, and the rewards are the outcomes recorded since.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import Session, col, func, select

from core.tables import Decision
from decisioning.arbitration import NOTHING
from decisioning.bandit import BanditModel
from decisioning.features import FEATURE_NAMES
from decisioning.ope import OffPolicyData
from decisioning.tables import DecisionReward

__all__ = ["from_decisions"]


def _target(
    explanation: dict[str, Any], bandit: BanditModel, epsilon: float
) -> tuple[dict[str, float], dict[str, float]]:
    """(pi(a|x), q(x, a)) over this decision's passed candidates, do-nothing included."""
    features = explanation.get("features", {})
    x = np.array([float(features.get(n, 0.0)) for n in FEATURE_NAMES])
    ranks: dict[str, float] = {}
    q: dict[str, float] = {NOTHING: 0.0}
    for cand in explanation.get("candidates", []):
        if not cand.get("passed") or cand["action_id"] == NOTHING:
            continue
        est = bandit.estimate(cand["action_id"], x, float(cand.get("prior", 0.0)))
        levers = cand.get("levers", {})
        gain = est.p_response * cand["value"] * levers.get("priority", 1.0)
        gain *= levers.get("channel_preference", 1.0)
        ranks[cand["action_id"]] = gain - cand["cost"] + cand["value"] * est.bonus
        q[cand["action_id"]] = est.p_response
    options = [*ranks, NOTHING]
    best = max(ranks, key=lambda a: ranks[a], default=None)
    greedy = best if best is not None and ranks[best] > 0 else NOTHING
    k = len(options)
    eps = epsilon if ranks else 0.0
    pi = {a: eps / k + ((1 - eps) if a == greedy else 0.0) for a in options}
    return pi, q


def from_decisions(
    session: Session,
    bandit: BanditModel,
    *,
    epsilon: float = 0.1,
    since: datetime | None = None,
) -> OffPolicyData:
    """OPE arrays for every non-holdout decision (reward = sum of its recorded outcomes)."""
    rewards = dict(
        session.exec(
            select(DecisionReward.decision_id, func.sum(DecisionReward.reward)).group_by(
                col(DecisionReward.decision_id)
            )
        ).all()
    )
    query = select(Decision).where(Decision.holdout == False)  # noqa: E712
    if since is not None:
        query = query.where(col(Decision.created_at) >= since)
    rows: list[tuple[float, float, float, float, float]] = []
    for decision in session.exec(query.order_by(col(Decision.created_at))):
        explanation = decision.explanation
        pscore = float(explanation.get("exploration", {}).get("propensity", 0.0))
        if pscore <= 0:
            continue
        pi, q = _target(explanation, bandit, epsilon)
        logged = decision.action_id or NOTHING
        direct = sum(pi[a] * q.get(a, 0.0) for a in pi)
        reward = float(rewards.get(decision.id, 0.0) or 0.0)
        rows.append((reward, pscore, pi.get(logged, 0.0), direct, q.get(logged, 0.0)))
    arr = np.array(rows, dtype=float).reshape(-1, 5)
    return OffPolicyData(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4])
