"""Off-policy evaluation on cjo's own decisions: would the model have done better?

Each stored decision keeps the context vector it saw, every candidate that passed, and the
probability with which the logging policy picked what it picked (`exploration.propensity`).
That is all IPS/SNIPS/DR need: the target policy here is epsilon-greedy on a bandit, re-scored
over the same passed candidates, and the rewards are the outcomes recorded since.

Only **model-arm** decisions are evaluated. The rules arm is deterministic (the marketer's top
priority, propensity 1, every other action 0), so its rows give the target policy no support:
an IPS term there is either its full reward or nothing, whatever the target would really do.
Which arm decides is a sticky hash of the customer, not a per-decision coin, so the rules rows
cannot be folded in as a mixture either. The hash is independent of the profile, so the
model-arm customers are a random sample of all customers and the estimate speaks for them; the
output says so (`arm`, `n_logged`, and how many rows were left out and why).

`cross_fitted` is the honest evaluation of "the model cjo learns": decisions are split in time
order into two halves, a bandit is replayed from one half's outcomes and evaluated on the other
half, then the halves swap, so no row is judged by a model that learned from its own reward
(as `decisioning.obd` does for the Open Bandit Dataset). `from_decisions` evaluates one given
bandit (e.g. the current one) on the logs, which is optimistic if it learned from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from core.tables import Decision
from decisioning.arbitration import NOTHING
from decisioning.bandit import BanditModel
from decisioning.features import FEATURE_NAMES
from decisioning.ope import OffPolicyData
from decisioning.tables import DecisionReward

__all__ = ["EVALUATED_ARM", "LoggedDecision", "OwnLogEvaluation", "cross_fitted", "from_decisions"]

EVALUATED_ARM = "model"


@dataclass(frozen=True)
class LoggedDecision:
    """What OPE needs from one stored, non-holdout decision."""

    decision_id: str
    arm: str
    action_id: str  # NOTHING when the decision chose nothing
    x: np.ndarray
    pscore: float
    candidates: list[dict[str, Any]]  # the passed candidates, as stored
    rewards: list[float]  # one per recorded outcome (decision, kind), in recorded order

    @property
    def reward(self) -> float:
        return float(sum(self.rewards))

    def prior(self) -> float:
        """The chosen action's catalog prior at decision time (what the bandit learns around)."""
        for cand in self.candidates:
            if cand["action_id"] == self.action_id:
                return float(cand.get("prior", 0.0))
        return 0.0


@dataclass
class OwnLogEvaluation:
    """OPE arrays for the evaluated rows, and what was evaluated."""

    data: OffPolicyData
    decision_ids: list[str]
    arm: str = EVALUATED_ARM
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> rows left out
    cross_fitted: bool = False

    @property
    def n_logged(self) -> int:
        return len(self.decision_ids)

    def describe(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "n_logged": self.n_logged,
            "excluded": dict(self.excluded),
            "cross_fitted": self.cross_fitted,
        }


def load_logged(session: Session, *, since: datetime | None = None) -> list[LoggedDecision]:
    """Every non-holdout decision in time order, with its recorded outcomes."""
    rewards: dict[str, list[float]] = {}
    for decision_id, reward in session.exec(
        select(DecisionReward.decision_id, DecisionReward.reward).order_by(
            col(DecisionReward.created_at), col(DecisionReward.id)
        )
    ):
        rewards.setdefault(decision_id, []).append(float(reward))
    query = select(Decision).where(Decision.holdout == False)  # noqa: E712
    if since is not None:
        query = query.where(col(Decision.created_at) >= since)
    out: list[LoggedDecision] = []
    for decision in session.exec(query.order_by(col(Decision.created_at), col(Decision.id))):
        explanation = decision.explanation or {}
        features = explanation.get("features", {})
        out.append(
            LoggedDecision(
                decision_id=decision.id,
                arm=decision.policy_arm,
                action_id=decision.action_id or NOTHING,
                x=np.array([float(features.get(n, 0.0)) for n in FEATURE_NAMES]),
                pscore=float(explanation.get("exploration", {}).get("propensity", 0.0)),
                candidates=[
                    c
                    for c in explanation.get("candidates", [])
                    if c.get("passed") and c.get("action_id") != NOTHING
                ],
                rewards=rewards.get(decision.id, []),
            )
        )
    return out


def target_policy(
    row: LoggedDecision, bandit: BanditModel, epsilon: float
) -> tuple[dict[str, float], dict[str, float]]:
    """(pi(a|x), q(x, a)) over this decision's passed candidates, do-nothing included.

    The same ranking as `arbitration._choose` on the model arm: expected net value plus the
    UCB bonus, greedy only when it beats doing nothing, epsilon spread over every option.
    """
    ranks: dict[str, float] = {}
    q: dict[str, float] = {NOTHING: 0.0}
    for cand in row.candidates:
        est = bandit.estimate(cand["action_id"], row.x, float(cand.get("prior", 0.0)))
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


def _split(rows: Sequence[LoggedDecision]) -> tuple[list[LoggedDecision], dict[str, int]]:
    """The rows OPE can use (model arm, stored propensity) and a count of the others."""
    kept: list[LoggedDecision] = []
    excluded = {"rules_arm": 0, "no_propensity": 0}
    for row in rows:
        if row.arm != EVALUATED_ARM:
            excluded["rules_arm"] += 1
        elif row.pscore <= 0:
            excluded["no_propensity"] += 1
        else:
            kept.append(row)
    return kept, excluded


def _arrays(rows: Sequence[LoggedDecision], bandit: BanditModel, epsilon: float) -> np.ndarray:
    out = np.zeros((len(rows), 5))
    for i, row in enumerate(rows):
        pi, q = target_policy(row, bandit, epsilon)
        direct = sum(pi[a] * q.get(a, 0.0) for a in pi)
        logged = row.action_id
        out[i] = (row.reward, row.pscore, pi.get(logged, 0.0), direct, q.get(logged, 0.0))
    return out


def _data(arr: np.ndarray) -> OffPolicyData:
    arr = arr.reshape(-1, 5)
    return OffPolicyData(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4])


def from_decisions(
    session: Session,
    bandit: BanditModel,
    *,
    epsilon: float = 0.1,
    since: datetime | None = None,
) -> OwnLogEvaluation:
    """OPE of `bandit` (epsilon-greedy) on the model-arm decisions (see module docstring)."""
    rows, excluded = _split(load_logged(session, since=since))
    return OwnLogEvaluation(
        _data(_arrays(rows, bandit, epsilon)), [r.decision_id for r in rows], excluded=excluded
    )


def replay_bandit(rows: Sequence[LoggedDecision], *, alpha: float) -> BanditModel:
    """The bandit `learning.record_outcome` would have built from exactly these outcomes."""
    model = BanditModel(alpha=alpha)
    for row in rows:
        if row.action_id == NOTHING:
            continue
        prior = row.prior()
        for reward in row.rewards:
            model.update(row.action_id, row.x, reward, prior)
    return model


def cross_fitted(
    session: Session,
    *,
    epsilon: float = 0.1,
    alpha: float = 0.05,
    since: datetime | None = None,
) -> OwnLogEvaluation:
    """Two-fold cross-fitting in time order: a model learned on one half judges the other.

    Both arms' outcomes train the fold models (the live bandit learns from both); only the
    model arm's rows are evaluated.
    """
    logged = load_logged(session, since=since)
    half = len(logged) // 2
    folds = (logged[:half], logged[half:])
    parts: list[np.ndarray] = []
    ids: list[str] = []
    excluded = {"rules_arm": 0, "no_propensity": 0}
    for evaluated, trained_on in ((folds[0], folds[1]), (folds[1], folds[0])):
        rows, left_out = _split(evaluated)
        for reason, count in left_out.items():
            excluded[reason] += count
        parts.append(_arrays(rows, replay_bandit(trained_on, alpha=alpha), epsilon))
        ids += [r.decision_id for r in rows]
    return OwnLogEvaluation(_data(np.concatenate(parts)), ids, excluded=excluded, cross_fitted=True)
